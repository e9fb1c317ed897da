"""The exploration notebook runs top to bottom on a scratch copy of the project, offline."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from tests.conftest import PROJECT_ROOT

NOTEBOOK = "notebooks/explore_work_data_hub.ipynb"
ANSI_CODES = re.compile(r"\x1b\[[0-9;]*m")


def _text(cell: nbformat.NotebookNode) -> str:
    parts = []
    for output in cell.get("outputs", []):
        parts.append(output.get("text", ""))
        parts.append(output.get("data", {}).get("text/plain", ""))
    # Kedro's RichHandler installs rich's pretty printer, which colours the plain-text reprs.
    return ANSI_CODES.sub("", "\n".join(parts))


def test_the_exploration_notebook_runs_and_plans_one_domain(project_copy: Path) -> None:
    (project_copy / "notebooks").mkdir()
    shutil.copy2(PROJECT_ROOT / NOTEBOOK, project_copy / NOTEBOOK)
    notebook = nbformat.read(project_copy / NOTEBOOK, as_version=4)
    # The kernel is the `python3` spec ipykernel installs into this virtual environment:
    # jupyter_client starts it with the running interpreter, so nothing is fetched.
    client = NotebookClient(
        notebook,
        timeout=240,
        kernel_name="python3",
        resources={"metadata": {"path": str(project_copy / "notebooks")}},
    )
    client.execute()

    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    everything = "\n".join(_text(cell) for cell in code)
    assert "selected" in everything and "superseded" in everything
    assert "2024-11" in everything and "not a number" in everything  # files; a reject
    assert "'status': 'planned'" in everything and "'executed': False" in everything
    assert (
        project_copy / "data/08_reporting/notebooks/trustee_performance_fund_scale.png"
    ).stat().st_size > 0
    reports = list((project_copy / "data/08_reporting/run_reports").glob("run_*.json"))
    assert len(reports) == 1
    domain = json.loads(reports[0].read_text(encoding="utf-8"))["domains"]["trustee_performance"]
    assert domain["status"] == "planned" and domain["executed"] is False
    assert list((project_copy / "data/08_reporting/plans").rglob("trustee_performance.sql"))
