"""A run ends only once its marked rejects workbooks, written in the background, are whole or
have failed: the run report is written after them, names them and their seconds, and a run
whose load never waited for them (``kedro run --nodes``) fails on them. A failed run keeps its
own error. No worker thread outlives the run."""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from tests.reliability.support import trustee_rows, write_workbook
from work_data_hub.datasets import rejects_workbook_dataset as marking
from work_data_hub.datasets.rejects_workbook_dataset import RejectsWorkbookError
from work_data_hub.hooks.json_lines import JsonLinesFileHandler
from work_data_hub.pipelines.ingest import names, nodes

DOMAIN = "trustee_performance"
NOVEMBER = "2024_11_受托业绩.xlsx"
MARKED = "2024_11_受托业绩.rejects.xlsx"


def _run(
    project: Path, monkeypatch: pytest.MonkeyPatch, *, node_names: list[str] | None = None
) -> tuple[dict[str, Any], BaseException | None]:
    """``kedro run --pipelines trustee_performance`` in this process, plan only, of an inbox
    whose November workbook has one reject (收益率 "abc", cell E4); the run report, and the
    error the run ended with."""
    rows = trustee_rows(6)
    rows[2][4] = "abc"
    inbox = project / "inbox"
    write_workbook(inbox / NOVEMBER, rows)
    monkeypatch.chdir(project)
    for name in ("URI", "HOST", "PORT", "USER", "PASSWORD", "DB"):
        monkeypatch.delenv(f"WDH_DATABASE__{name}", raising=False)
    bootstrap_project(project)
    error: BaseException | None = None
    with KedroSession.create(project_path=project, runtime_params={"inbox": str(inbox)}) as session:
        try:
            session.run(pipeline_names=[DOMAIN], node_names=node_names)
        except Exception as exc:
            error = exc
    (report,) = (project / "data/08_reporting/run_reports").glob("*.json")
    return json.loads(report.read_text(encoding="utf-8")), error


def _marking(monkeypatch: pytest.MonkeyPatch, before: Any) -> None:
    """The marker calls ``before(source)`` first (slow, or the workbook gone)."""
    real = marking.mark_rejects

    def mark(source: Path, *args: Any, **kwargs: Any) -> Any:
        before(source)
        return real(source, *args, **kwargs)

    monkeypatch.setattr(marking, "mark_rejects", mark)


def _slowly(source: Path) -> None:
    time.sleep(0.3)


def _removed(source: Path) -> None:
    source.unlink()


def _no_thread_left() -> bool:
    return not [t for t in threading.enumerate() if t.name.startswith("background_writes")]


def _filled_cells(path: Path) -> list[str]:
    sheet = openpyxl.load_workbook(path)["受托业绩"]
    return [cell.coordinate for line in sheet.iter_rows() for cell in line if cell.comment]


def test_the_run_report_names_the_marked_workbooks_once_they_are_whole(
    project_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _marking(monkeypatch, _slowly)
    report, error = _run(project_copy, monkeypatch)
    assert error is None and report["status"] == "succeeded"
    domain = report["domains"][DOMAIN]
    assert domain["status"] == "planned"
    (marked,) = Path(domain["rejects_workbooks"]).iterdir()
    assert marked.name == MARKED and _filled_cells(marked) == ["E4"]
    seconds = domain["seconds"]
    # The save hands them over; their own seconds, and the plan's save waiting for them.
    assert seconds["rejects_workbooks_written"] >= 0.3 > seconds["save_rejects_workbooks"]
    assert 0 < seconds["rejects_workbooks_waited"] <= seconds["rejects_workbooks_written"]
    assert _no_thread_left()


def test_a_run_whose_load_never_waited_fails_on_a_marked_workbook(
    project_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _marking(monkeypatch, _removed)
    up_to_clean = [f"{DOMAIN}.{step}" for step in (names.SELECT_STEP, names.SKIP_STEP)]
    report, error = _run(
        project_copy, monkeypatch, node_names=[*up_to_clean, f"{DOMAIN}.{names.CLEAN_STEP}"]
    )
    assert isinstance(error, RejectsWorkbookError)
    assert str(error).startswith(f"{NOVEMBER}: the workbook cannot be read again")
    assert report["status"] == "failed" and report["error"] == str(error)
    domain = report["domains"][DOMAIN]
    assert (domain["status"], domain["failed_step"]) == ("failed", "rejects_workbooks_written")
    assert domain["error_fields"] == {"domain": DOMAIN, "file": NOVEMBER}
    assert "rejects_workbooks" not in domain
    marked = project_copy / "data/08_reporting/rejects" / f"{DOMAIN}_marked"
    assert not [path for path in marked.rglob("*") if path.is_file()]
    # The run's JSON log is closed although a hook raised.
    assert not [h for h in logging.getLogger().handlers if isinstance(h, JsonLinesFileHandler)]
    assert _no_thread_left()


def test_a_failed_run_keeps_its_error_and_reports_once_the_marked_workbooks_are_whole(
    project_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _marking(monkeypatch, _slowly)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("planning broke (test)")

    monkeypatch.setattr(nodes, "build_load_plan", broken)
    report, error = _run(project_copy, monkeypatch)
    assert isinstance(error, RuntimeError) and "planning broke" in str(error)
    assert report["status"] == "failed" and "planning broke" in report["error"]
    domain = report["domains"][DOMAIN]
    assert (domain["status"], domain["failed_step"]) == ("failed", names.PLAN_STEP)
    (marked,) = Path(domain["rejects_workbooks"]).iterdir()
    assert _filled_cells(marked) == ["E4"]
    assert domain["seconds"]["rejects_workbooks_written"] >= 0.3
    (written,) = (project_copy / "data/08_reporting/run_reports").glob("*.json")
    assert written.stat().st_mtime_ns >= marked.stat().st_mtime_ns
    assert _no_thread_left()
