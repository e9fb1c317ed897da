"""Execute writes the plan and applies it in one pass: what holds whatever stops it.

The server runs exactly the plan file's statements and gets exactly its rows' bytes; the
transaction commits only once the file is whole and verified. A load killed, interrupted or
cut off from its server at any point leaves the table, its history and the ledger as they were,
and never half a plan file: either none, or the whole plan (for review).
"""

from __future__ import annotations

import errno
import io
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import polars as pl
import psycopg2
import psycopg2.extensions
import pytest
from sqlalchemy.engine import URL

from tests.reliability.conftest import HISTORY, Baseline
from tests.reliability.support import TABLE, stopping_before, trustee_domain
from tests.support.database import con, table_digest
from tests.support.paths import PROJECT_ROOT
from work_data_hub.datasets import owner_only
from work_data_hub.datasets.postgres_load_dataset import LoadFailedError, PostgresLoadDataset
from work_data_hub.load.checksum import PLACEHOLDER
from work_data_hub.load.plan import LoadPlan, build_load_plan
from work_data_hub.load.plan_file import read_saved_plan
from work_data_hub.load.rows_digest import ROWS_DIGEST_PLACEHOLDER
from work_data_hub.load.steps import Step
from work_data_hub.warehouse.client import WarehouseClient

# Rows of a few mebibytes: the COPY reads them in several pieces.
ROWS = 40_000


def november_plan(rows: int = ROWS, run_id: str = "one-pass") -> LoadPlan:
    """A November delivery of ``rows`` trustee rows, as cleaning hands them over."""
    frame = pl.DataFrame(
        {
            "report_date": ["2024-11-01"] * rows,
            "plan_code": [f"P{number:07d}" for number in range(rows)],
            "company_code": ["TC001"] * rows,
            "return_rate": [f"0.0{number % 1000}" for number in range(rows)],
            "net_asset_value": ["1.2345"] * rows,
            "fund_scale": [f"{1000 + number}.50" for number in range(rows)],
            "_source_file": ["2024_11_受托业绩.xlsx"] * rows,
            "_source_row": list(range(2, rows + 2)),
        }
    )
    return build_load_plan(
        frame, trustee_domain(), run_id=run_id, rows_read=rows, rows_rejected=0, max_reject_ratio=0
    )


def executing(url: URL, folder: Path) -> PostgresLoadDataset:
    return PostgresLoadDataset(
        filepath=str(folder / "trustee_performance.sql"),
        execute=True,
        credentials={"con": con(url)},
    )


def ledger(connection: Any) -> list[tuple[str, str]]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT run_id, plan_sha256 FROM wdh_loads ORDER BY committed_at")
        return [tuple(row) for row in cursor.fetchall()]


def assert_unchanged(baseline: Baseline, ledger_before: list[tuple[str, str]]) -> None:
    assert baseline.unchanged()
    assert ledger(baseline.connection) == ledger_before


def wait_until_gone(connection: Any, application: str = "work_data_hub") -> None:
    """Until no backend of the load is left (a wait, not a timed assertion)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND application_name = %s",
                (application,),
            )
            if cursor.fetchone()[0] == 0:
                return
        time.sleep(0.05)
    pytest.fail("the killed load's backend never ended")


# --- the order that makes one pass possible -----------------------------------------------


def test_no_statement_before_the_rows_names_the_checksum_or_the_rows_digest() -> None:
    plan = november_plan(10)
    purposes = [statement.purpose for statement in plan.statements]
    copy = purposes.index(Step.COPY)
    for statement in plan.statements[:copy]:
        assert PLACEHOLDER not in statement.sql and ROWS_DIGEST_PLACEHOLDER not in statement.sql
    # The guard (whose "already applied" names the checksum) comes after the staged rows' check.
    assert purposes[copy - 1 : copy + 3] == [
        Step.CREATE_STAGE,
        Step.COPY,
        Step.CHECK_ROWS,
        Step.GUARD,
    ]


# --- the server gets exactly the file ------------------------------------------------------


class _RecordingCursor(psycopg2.extensions.cursor):
    """A real cursor that also notes, on its connection, each statement and the bytes COPY
    reads."""

    def execute(self, query: Any, vars: Any = None) -> None:
        self.connection.recorded.append((str(query), None))
        super().execute(query, vars)

    def copy_expert(self, sql: Any, file: Any, size: int = 8192) -> None:
        received = io.BytesIO()

        class Tee:
            def read(self, wanted: int = -1) -> bytes:
                data: bytes = file.read(wanted)
                received.write(data)
                return data

        super().copy_expert(sql, Tee(), size)
        self.connection.recorded.append((str(sql), received.getvalue()))


class _RecordingConnection(psycopg2.extensions.connection):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.recorded: list[tuple[str, bytes | None]] = []
        self.cursor_factory = _RecordingCursor


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> list[_RecordingConnection]:
    """Every connection opened from now on, recording what it runs."""
    real_connect = psycopg2.connect
    opened: list[_RecordingConnection] = []

    def recording_connect(*args: Any, **kwargs: Any) -> Any:
        connection = real_connect(*args, **kwargs, connection_factory=_RecordingConnection)
        opened.append(connection)
        return connection

    monkeypatch.setattr(psycopg2, "connect", recording_connect)
    return opened


def test_the_server_runs_exactly_the_plan_files_statements_and_gets_its_rows(
    baseline: Baseline, tmp_path: Path, connections: list[_RecordingConnection]
) -> None:
    dataset = executing(baseline.url, tmp_path)
    dataset.save(november_plan())
    assert dataset.last_result is not None and dataset.last_result.rows_inserted == ROWS
    saved = read_saved_plan(tmp_path / "trustee_performance.sql")
    assert saved.intact and dataset.last_result.plan_sha256 == saved.plan_sha256

    (load,) = [c for c in connections if ("COMMIT", None) in c.recorded]
    sent = load.recorded
    # After the session's own settings, from BEGIN on: the file's statements, in its order.
    begin = [sql for sql, _ in sent].index("BEGIN")
    assert [sql for sql, _ in sent[begin:]] == [step.sql for step in saved.steps]
    (copied,) = [rows for _, rows in sent if rows is not None]
    assert copied == saved.copy_payload and len(copied) > 1 << 20
    steps = dataset.last_result.step_seconds or {}
    assert {"copy", "copy_render", "copy_digest", "copy_waited", "verify_plan"} <= set(steps)


@pytest.mark.parametrize(
    ("edit", "refused_by"),
    [
        # Another value: the server's digest of the staged rows tells, right after the COPY.
        ((b"\tP0000001\t", b"\tP0000009\t"), "failed at step 'check_rows'"),
        # The same value written otherwise: the comparison with the file tells, before COMMIT.
        (
            (b"\t1001.50\t", b"\t01001.5\t"),
            "failed at step 'copy' (host 127.0.0.1",
        ),
    ],
)
def test_rows_sent_other_than_the_files_roll_back_and_leave_the_whole_plan(
    baseline: Baseline,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    edit: tuple[bytes, bytes],
    refused_by: str,
) -> None:
    before = ledger(baseline.connection)

    class Edited:
        def __init__(self, rows: Any) -> None:
            self._rows = rows

        def read(self, size: int = -1) -> bytes:
            data: bytes = self._rows.read(size)
            return data.replace(*edit)

    monkeypatch.setattr(WarehouseClient, "_sent_rows", staticmethod(Edited))
    with pytest.raises(LoadFailedError) as caught:
        executing(baseline.url, tmp_path).save(november_plan())
    message = str(caught.value)
    assert refused_by in message and "rolled back" in message
    if "copy" in refused_by:
        assert "the server was sent other rows than the plan file holds" in message
    else:
        assert "modified rows" in message
    assert_unchanged(baseline, before)
    assert read_saved_plan(tmp_path / "trustee_performance.sql").intact


# --- interrupted, killed, cut off ----------------------------------------------------------


class _InterruptedMidCopy:
    """The COPY rows; Ctrl-C arrives once some of them have gone (as the signal handler
    raises it in the main thread)."""

    def __init__(self, rows: Any) -> None:
        self._rows = rows
        self._reads = 0

    def read(self, size: int = -1) -> bytes:
        self._reads += 1
        if self._reads == 3:
            raise KeyboardInterrupt
        data: bytes = self._rows.read(size)
        return data


def test_an_interrupt_during_the_copy_changes_nothing_and_leaves_no_plan(
    baseline: Baseline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = ledger(baseline.connection)
    monkeypatch.setattr(WarehouseClient, "_sent_rows", staticmethod(_InterruptedMidCopy))
    folder = tmp_path / "plans"
    with pytest.raises(KeyboardInterrupt):
        executing(baseline.url, folder).save(november_plan())
    wait_until_gone(baseline.connection)
    assert_unchanged(baseline, before)
    assert list(folder.iterdir()) == []


def test_an_interrupt_just_before_commit_changes_nothing_and_leaves_the_whole_plan(
    baseline: Baseline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = ledger(baseline.connection)

    def interrupt(cursor: Any) -> None:
        raise KeyboardInterrupt

    stopping_before(Step.COMMIT, interrupt, monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        executing(baseline.url, tmp_path).save(november_plan())
    wait_until_gone(baseline.connection)
    assert_unchanged(baseline, before)
    # The plan was whole and named before COMMIT: it stays, for review.
    assert read_saved_plan(tmp_path / "trustee_performance.sql").intact


def test_a_backend_terminated_just_before_commit_changes_nothing(
    baseline: Baseline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = ledger(baseline.connection)

    def terminate(cursor: Any) -> None:
        with baseline.connection.cursor() as killer:
            killer.execute(
                "SELECT pg_terminate_backend(%s, 10000)", (cursor.connection.info.backend_pid,)
            )

    stopping_before(Step.COMMIT, terminate, monkeypatch)
    with pytest.raises(LoadFailedError) as caught:
        executing(baseline.url, tmp_path).save(november_plan())
    message = str(caught.value)
    assert "failed at step 'commit'" in message and "connection to the server was lost" in message
    # The client cannot know whether a COMMIT it sent arrived; here it never did.
    assert "check the table's _run_id (one-pass)" in message
    assert_unchanged(baseline, before)
    assert read_saved_plan(tmp_path / "trustee_performance.sql").intact


_KILLED_CHILD = """
import sys, time
from pathlib import Path
from tests.reliability.test_one_pass import executing, november_plan
from work_data_hub.load.steps import Step
from work_data_hub.warehouse import client
from sqlalchemy.engine import make_url

url, folder, where, marker = make_url(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4]

def wait_to_be_killed(what):
    Path(marker).write_text(what)
    time.sleep(600)

class Rows:
    def __init__(self, rows):
        self._rows = rows
        self._reads = 0
    def read(self, size=-1):
        self._reads += 1
        if self._reads == 3:
            wait_to_be_killed("copying")
        return self._rows.read(size)

if where == "copy":
    client.WarehouseClient._sent_rows = staticmethod(Rows)
else:
    real_execute = client._Transaction.execute
    def execute(self, statement):
        if statement.purpose == Step.COMMIT:
            wait_to_be_killed("committing")
        real_execute(self, statement)
    client._Transaction.execute = execute
executing(url, folder).save(november_plan())
"""


def _killed_at(where: str, baseline: Baseline, tmp_path: Path, folder: Path) -> None:
    """Run a load in a child process and kill it (SIGKILL) at ``where``: "copy" or "commit"."""
    marker, output = tmp_path / "marker", tmp_path / "child.log"
    with output.open("wb") as log:
        child = subprocess.Popen(
            [
                sys.executable,
                "-c",
                textwrap.dedent(_KILLED_CHILD),
                con(baseline.url),
                str(folder),
                where,
                str(marker),
            ],
            cwd=PROJECT_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        # Until the child says where it is (a wait for it, not a timed assertion).
        deadline = time.monotonic() + 120
        while not marker.exists() and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        said = marker.read_text() if marker.exists() else output.read_text(errors="replace")
        assert said == {"copy": "copying", "commit": "committing"}[where], said
        with baseline.connection.cursor() as cursor:
            cursor.execute(
                "SELECT state, query FROM pg_stat_activity WHERE datname = current_database() "
                "AND application_name = 'work_data_hub'"
            )
            ((state, query),) = cursor.fetchall()
        if where == "copy":
            assert state == "active" and query.startswith("COPY "), (state, query)
        else:
            assert state == "idle in transaction", (state, query)
    finally:
        child.kill()
        child.wait()
    wait_until_gone(baseline.connection)


def test_a_load_killed_during_the_copy_changes_nothing_and_leaves_no_plan(
    baseline: Baseline, tmp_path: Path
) -> None:
    before = ledger(baseline.connection)
    folder = tmp_path / "plans"
    _killed_at("copy", baseline, tmp_path, folder)
    assert_unchanged(baseline, before)
    # The plan was being written unnamed: nothing of it is left.
    assert list(folder.iterdir()) == []


def test_a_load_killed_just_before_commit_changes_nothing_and_leaves_the_whole_plan(
    baseline: Baseline, tmp_path: Path
) -> None:
    before = ledger(baseline.connection)
    folder = tmp_path / "plans"
    _killed_at("commit", baseline, tmp_path, folder)
    assert_unchanged(baseline, before)
    assert [path.name for path in folder.iterdir()] == ["trustee_performance.sql"]
    assert read_saved_plan(folder / "trustee_performance.sql").intact


# --- refused after the COPY; a plan that cannot be finished --------------------------------


def test_a_guard_refusing_after_the_copy_changes_nothing_and_leaves_the_whole_plan(
    baseline: Baseline, tmp_path: Path
) -> None:
    plan = november_plan()
    executing(baseline.url, tmp_path / "first").save(plan)
    loaded = baseline.connection
    before = ledger(loaded), table_digest(loaded, TABLE), table_digest(loaded, HISTORY)
    # The very same plan again: the same file, the same checksum, already in the ledger.
    with pytest.raises(LoadFailedError) as caught:
        executing(baseline.url, tmp_path / "again").save(plan)
    message = str(caught.value)
    assert "failed at step 'guard'" in message and "already applied" in message
    assert (ledger(loaded), table_digest(loaded, TABLE), table_digest(loaded, HISTORY)) == before
    again = read_saved_plan(tmp_path / "again" / "trustee_performance.sql")
    assert again.intact and again.plan_sha256 == before[0][-1][1]


class _DiskFull(io.BytesIO):
    """A plan file whose disk fills up once ``room`` bytes are written."""

    def __init__(self, room: int) -> None:
        super().__init__()
        self._room = room

    def write(self, data: Any) -> int:
        if self.tell() + len(data) > self._room:
            raise OSError(errno.ENOSPC, "No space left on device")
        return super().write(data)


def test_a_plan_file_that_cannot_be_finished_is_neither_named_nor_committed(
    baseline: Baseline, tmp_path: Path
) -> None:
    before = ledger(baseline.connection)
    published: list[bool] = []
    client = WarehouseClient({"con": con(baseline.url)})
    with pytest.raises(OSError, match="No space left"):
        client.execute_plan(
            november_plan(),
            _DiskFull(room=1 << 20),  # in the middle of the rows
            tmp_path / "plan.sql",
            publish=lambda: published.append(True),
        )
    assert published == []
    wait_until_gone(baseline.connection)
    assert_unchanged(baseline, before)


# --- a plan file is named only when whole ---------------------------------------------------


@pytest.mark.parametrize("unnamed", [True, False], ids=["unnamed file", "hidden temporary name"])
def test_a_pending_file_appears_only_when_published_and_owner_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, unnamed: bool
) -> None:
    if not unnamed:  # a file system without unnamed files
        monkeypatch.setattr(owner_only, "_unnamed_file", lambda folder: None)
    target = tmp_path / "plans" / "plan.sql"
    target.parent.mkdir()
    target.write_bytes(b"an older plan")
    with owner_only.PendingFile(target) as file:
        file.handle.write(b"the whole plan")
        assert target.read_bytes() == b"an older plan"
        file.publish()
        assert target.read_bytes() == b"the whole plan"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [path.name for path in target.parent.iterdir()] == ["plan.sql"]
    with pytest.raises(OSError), owner_only.PendingFile(tmp_path / "other.sql") as file:
        file.handle.write(b"half a plan")
        raise OSError(errno.ENOSPC, "No space left on device")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["plans"]
