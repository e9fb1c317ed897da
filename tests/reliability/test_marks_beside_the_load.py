"""The marked rejects workbooks are written in the background, beside the plan and the load.

The load of a domain commits only once the domain's marked workbooks are whole; one that cannot
be written rolls the load back, with an error naming the workbook, and leaves no file of it.
Every other save of the plan (plan only, refused, no server) returns only once they are whole,
or raises: its own error first, theirs logged.
"""

from __future__ import annotations

import errno
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from tests.reliability.conftest import Baseline
from tests.reliability.support import (
    run_domain,
    stopping_before,
    trustee_rows,
    write_workbook,
)
from work_data_hub.datasets import background_writes
from work_data_hub.datasets import rejects_workbook_dataset as marking
from work_data_hub.datasets.postgres_load_dataset import LoadFailedError, RejectedRowsError
from work_data_hub.datasets.rejects_workbook_dataset import RejectsWorkbookError
from work_data_hub.load.plan_file import read_saved_plan
from work_data_hub.load.steps import Step
from work_data_hub.warehouse.client import WarehouseClient

NOVEMBER = "2024_11_受托业绩.xlsx"
RUN_ID = "marks-beside-the-load"
DOMAIN = "trustee_performance"


def _inbox(tmp_path: Path) -> Path:
    """November: six rows, one rejected (收益率 "abc", Excel row 4, column E)."""
    rows = trustee_rows(6)
    rows[2][4] = "abc"
    inbox = tmp_path / "inbox"
    write_workbook(inbox / NOVEMBER, rows)
    return inbox


def _marked_folder(reporting: Path) -> Path:
    return reporting / "rejects" / f"{DOMAIN}_marked"


def _marked_file(reporting: Path) -> Path:
    name = f"{DOMAIN}_marked"
    return _marked_folder(reporting) / RUN_ID / name / "2024_11_受托业绩.rejects.xlsx"


def _filled_cells(path: Path) -> list[str]:
    """The marked cells of the delivered sheet, read back whole by openpyxl."""
    sheet = openpyxl.load_workbook(path)["受托业绩"]
    return [cell.coordinate for line in sheet.iter_rows() for cell in line if cell.comment]


def _loads(baseline: Baseline) -> int:
    with baseline.connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM wdh_loads")
        count: int = cursor.fetchone()[0]
        return count


def _marking_after(
    monkeypatch: pytest.MonkeyPatch, ready: threading.Event, before: Callable[[Path], None]
) -> None:
    """The marker starts only once ``ready`` is set, and calls ``before(source)`` first."""
    real = marking.mark_rejects

    def mark(source: Path, *args: Any, **kwargs: Any) -> Any:
        assert ready.wait(60), "the marker was never let start"
        before(source)
        return real(source, *args, **kwargs)

    monkeypatch.setattr(marking, "mark_rejects", mark)


@pytest.fixture
def copying(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Set once the load's COPY is under way, inside its transaction."""
    started = threading.Event()

    def sent_rows(rows: Any) -> Any:
        started.set()
        return rows

    monkeypatch.setattr(WarehouseClient, "_sent_rows", staticmethod(sent_rows))
    return started


def _removed(source: Path) -> None:
    source.unlink()  # the delivered workbook, moved away after cleaning read it


def _disk_full(source: Path) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.fixture
def workbook_gone(monkeypatch: pytest.MonkeyPatch) -> None:
    """The delivered workbook is gone by the time its marked copy starts (at once)."""
    now = threading.Event()
    now.set()
    _marking_after(monkeypatch, now, _removed)


# --- execute: the commit waits for them ----------------------------------------------------


def test_the_load_commits_only_once_its_marked_workbook_is_whole(
    baseline: Baseline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, copying: threading.Event
) -> None:
    reporting = tmp_path / "reporting"
    # The marker starts only inside the transaction: the load cannot find it already written.
    _marking_after(monkeypatch, copying, lambda source: time.sleep(0.2))
    at_commit: list[list[str]] = []
    stopping_before(
        Step.COMMIT,
        lambda cursor: at_commit.append(_filled_cells(_marked_file(reporting))),
        monkeypatch,
    )
    outcome = run_domain(
        _inbox(tmp_path),
        reporting,
        database_url=baseline.url,
        execute=True,
        max_reject_ratio=0.5,
        run_id=RUN_ID,
        mark_rejects=True,
    )
    assert outcome.load is not None and outcome.load.executed
    assert outcome.load.rows_inserted == 5
    assert at_commit == [["E4"]]
    (written,) = background_writes.wait_all()
    assert (written.domain, written.error) == (DOMAIN, None)
    assert written.waited > 0 and written.seconds >= written.waited


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        (_removed, "the workbook cannot be read again to mark its rejects"),
        (_disk_full, "its marked copy cannot be written to"),
    ],
)
def test_a_marked_workbook_that_fails_rolls_the_load_back_and_leaves_no_file(
    baseline: Baseline,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    copying: threading.Event,
    fault: Callable[[Path], None],
    reason: str,
) -> None:
    reporting = tmp_path / "reporting"
    loads = _loads(baseline)
    _marking_after(monkeypatch, copying, fault)
    with pytest.raises(RejectsWorkbookError) as raised:
        run_domain(
            _inbox(tmp_path),
            reporting,
            database_url=baseline.url,
            execute=True,
            max_reject_ratio=0.5,
            run_id=RUN_ID,
            mark_rejects=True,
        )
    message = str(raised.value)
    assert message.startswith(f"{NOVEMBER}: {reason}") and message.endswith("nothing was loaded")
    assert raised.value.fields == {"domain": DOMAIN, "file": NOVEMBER}
    assert baseline.unchanged() and _loads(baseline) == loads
    assert not [path.name for path in _marked_folder(reporting).rglob("*") if path.is_file()]
    # The plan was whole before COMMIT: it stays, for review, as after any failed load.
    plan = reporting / "plans" / f"{DOMAIN}.sql" / RUN_ID / f"{DOMAIN}.sql"
    assert read_saved_plan(plan).intact


# --- every other path: the save returns once they are whole, or raises -----------------------


def test_a_plan_only_save_returns_once_the_marked_workbook_is_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reporting = tmp_path / "reporting"
    slow = threading.Event()
    slow.set()
    _marking_after(monkeypatch, slow, lambda source: time.sleep(0.3))
    outcome = run_domain(_inbox(tmp_path), reporting, run_id=RUN_ID, mark_rejects=True)
    assert outcome.load is not None and not outcome.load.executed
    assert _filled_cells(_marked_file(reporting)) == ["E4"]
    (written,) = background_writes.wait_all()
    assert written.error is None and written.waited > 0


@pytest.mark.usefixtures("workbook_gone")
def test_a_plan_only_save_raises_the_marked_workbooks_failure(tmp_path: Path) -> None:
    reporting = tmp_path / "reporting"
    with pytest.raises(RejectsWorkbookError, match=f"^{NOVEMBER}: the workbook cannot be read"):
        run_domain(_inbox(tmp_path), reporting, run_id=RUN_ID, mark_rejects=True)
    assert not [path for path in _marked_folder(reporting).rglob("*") if path.is_file()]


@pytest.mark.usefixtures("workbook_gone")
def test_a_refused_load_keeps_its_own_error_and_logs_the_marked_workbooks(
    baseline: Baseline, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    reporting = tmp_path / "reporting"
    # One reject in six, above max_reject_ratio 0: the load is refused before connecting.
    with caplog.at_level(logging.ERROR), pytest.raises(RejectedRowsError):
        run_domain(
            _inbox(tmp_path),
            reporting,
            database_url=baseline.url,
            execute=True,
            run_id=RUN_ID,
            mark_rejects=True,
        )
    (logged,) = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert logged.startswith(f"{DOMAIN}: {NOVEMBER}: the workbook cannot be read again")
    # Waited for by the save already: nothing is left for the run's end.
    assert [written.domain for written in background_writes.wait_all()] == [DOMAIN]


@pytest.mark.usefixtures("workbook_gone")
def test_a_load_that_cannot_connect_keeps_its_own_error(
    baseline: Baseline,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    reporting = tmp_path / "reporting"
    real_connection = WarehouseClient.connection

    def connection(self: WarehouseClient, address: Any, purpose: str) -> Any:
        if purpose.startswith("load "):  # the ledger and the checks are read; the load is not
            raise LoadFailedError("the server went away (test)")
        return real_connection(self, address, purpose)

    monkeypatch.setattr(WarehouseClient, "connection", connection)
    with caplog.at_level(logging.ERROR), pytest.raises(LoadFailedError, match="went away"):
        run_domain(
            _inbox(tmp_path),
            reporting,
            database_url=baseline.url,
            execute=True,
            max_reject_ratio=0.5,
            run_id=RUN_ID,
            mark_rejects=True,
        )
    assert any(NOVEMBER in r.getMessage() for r in caplog.records if r.levelno == logging.ERROR)
