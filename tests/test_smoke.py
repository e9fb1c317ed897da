"""The main job as a new user runs it: `kedro run` plans the sample inbox."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.cli import run_kedro


def test_kedro_run_plans_the_sample_inbox(project_copy: Path) -> None:
    result = run_kedro(project_copy, "run")
    assert result.returncode == 0, result.stderr + result.stdout
    plans = list((project_copy / "data/08_reporting/plans").rglob("*.sql"))
    rejects = list((project_copy / "data/08_reporting/rejects").rglob("*.csv"))
    reports = list((project_copy / "data/08_reporting/run_reports").glob("*.json"))
    assert plans and rejects and len(reports) == 1
    report = json.loads(reports[0].read_text(encoding="utf-8"))
    domain = report["domains"]["trustee_performance"]
    assert report["status"] == "succeeded"
    assert [f["period"] for f in domain["files"]["selected"]] == ["2024-11"]
    assert domain["files"]["superseded"][0]["path"].startswith("2024/11/V1/")
