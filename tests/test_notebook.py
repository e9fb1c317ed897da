"""The exploration notebook runs top to bottom on a scratch copy of the project, offline.

It plans one domain, then loads it into the local warehouse (nothing is configured here) and
reads the table and the ledger back through the catalog.
"""

from __future__ import annotations

import json
import re
import shutil
import stat
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from tests.conftest import PROJECT_ROOT
from work_data_hub.config.warehouse import ENVIRONMENT_VARIABLES
from work_data_hub.warehouse.embedded import running_server, warehouse_dir

NOTEBOOK = "notebooks/explore_work_data_hub.ipynb"
ANSI_CODES = re.compile(r"\x1b\[[0-9;]*m")


def _text(cell: nbformat.NotebookNode) -> str:
    parts = []
    for output in cell.get("outputs", []):
        parts.append(output.get("text", ""))
        parts.append(output.get("data", {}).get("text/plain", ""))
        parts.extend(
            [output.get("ename", ""), output.get("evalue", ""), *output.get("traceback", [])]
        )
    # Kedro's RichHandler installs rich's pretty printer, which colours the plain-text reprs.
    return ANSI_CODES.sub("", "\n".join(parts))


def test_the_exploration_notebook_plans_loads_and_reads_the_warehouse_back(
    project_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The kernel inherits this environment: no configured warehouse, so the local one is used.
    for name in ENVIRONMENT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("KEDRO_ENV", raising=False)
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
    try:
        try:
            client.execute()
        except CellExecutionError as error:
            # Kedro's IPython extension prints tracebacks itself: the cell's output holds them.
            failed = [cell for cell in code_cells(notebook) if cell.source in str(error)]
            said = "\n".join(_text(cell)[-4000:] for cell in failed)
            raise AssertionError(f"{error}\n{said}") from error
        left_running = running_server(warehouse_dir(project_copy)) is not None
    finally:
        _stop_a_warehouse_left_running(project_copy)

    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    everything = "\n".join(_text(cell) for cell in code)
    assert "selected" in everything and "superseded" in everything
    assert "2024-11" in everything and "not a number" in everything  # files; a reject
    assert "'status': 'planned'" in everything and "'executed': False" in everything
    figure = project_copy / "data/08_reporting/notebooks/trustee_performance_fund_scale.png"
    assert figure.stat().st_size > 0
    assert stat.S_IMODE(figure.stat().st_mode) == 0o600, "the chart shows data: owner-only"
    reports = sorted((project_copy / "data/08_reporting/run_reports").glob("run_*.json"))
    assert len(reports) == 2
    planned, loaded = (
        json.loads(path.read_text(encoding="utf-8"))["domains"]["trustee_performance"]
        for path in reports
    )
    assert planned["status"] == "planned" and planned["executed"] is False
    assert loaded["status"] == "loaded" and loaded["warehouse"] == "embedded, data/warehouse"
    assert list((project_copy / "data/08_reporting/plans").rglob("trustee_performance.sql"))
    # The table read back through the catalog holds what the load inserted.
    assert f"warehouse.trustee_performance: {loaded['rows_inserted']} rows" in everything
    assert "plan_code" in everything
    # The ledger read back through the catalog: the load the notebook ran is in it.
    ledger = re.search(r"ledger: (\d+) loads", everything)
    assert ledger is not None, everything[-2000:]
    assert int(ledger.group(1)) >= 1
    assert not left_running, "the local warehouse stops when the kernel exits"


def code_cells(notebook: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def _stop_a_warehouse_left_running(project: Path) -> None:
    server = running_server(warehouse_dir(project))
    if server is not None:
        server.stop()
