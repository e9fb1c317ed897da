"""Execute mode against the real PostgreSQL: one transaction, same statements as the plan.

These tests call the dataset in-process (fast); tests/pipelines/test_execute_cli.py runs `kedro run`.
"""

from __future__ import annotations

import io
import logging
import threading
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import pandas as pd
import polars as pl
import psycopg2
import pytest
from sqlalchemy.engine import URL

from tests.conftest import fresh_database
from tests.support.database import (
    closed_port,
    columns_of,
    con,
    physical_rows,
    psql_apply,
    table_digest,
)
from work_data_hub.config import DomainConfig
from work_data_hub.config.warehouse import ENVIRONMENT_VARIABLES
from work_data_hub.datasets.postgres_load_dataset import (
    LoadFailedError,
    LoadResult,
    PostgresLoadDataset,
    RejectedRowsError,
)
from work_data_hub.load.plan import LoadPlan, build_load_plan, lock_key
from work_data_hub.load.plan_file import (
    PlanFileError,
    SavedPlan,
    read_plan_file,
    read_saved_plan,
)
from work_data_hub.load.psql import seal
from work_data_hub.warehouse.client import WarehouseClient

PASSWORD = "Pw-9f3kQz-not-for-logs"
COLUMNS = ["period", "account", "amount", "note", "units"]

# A domain of its own: a table name that needs quoting, a text column for COPY escaping and a
# delete scope (period, account) that repeats, as annuity_performance's does.
LEDGER = DomainConfig.model_validate(
    {
        "name": "ledger",
        "pattern": r"(?P<year>\d{4})(?P<month>\d{2})",
        "table": "Ledger 账本",
        "refresh_scope": ["period", "account"],
        "mode": "delete_insert",
        "columns": {
            "period": {"type": "date"},
            "account": {"type": "text"},
            "amount": {"type": "numeric(18,4)"},
            "note": {"type": "text"},
            "units": {"type": "integer"},
        },
    }
)
APPEND = LEDGER.model_copy(
    update={
        "name": "ledger_append",
        "table": "ledger_append",
        "mode": "append",
        "refresh_scope": [],
    }
)
UPSERT = LEDGER.model_copy(
    update={
        "name": "ledger_upsert",
        "table": "ledger_upsert",
        "mode": "upsert",
        "unique_key": ["period", "account"],
        "refresh_scope": [],
    }
)
AWKWARD_NOTES = [
    "tab\there",
    "line\nbreak",
    "carriage\rreturn",
    "back\\slash",
    "\\N",
    "quote ' and \" and $$",
    "受托业绩 规模明细",
    "",
    None,
]


@pytest.fixture(autouse=True)
def _no_database_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tests name their database through credentials; stray variables must not win."""
    for name in ENVIRONMENT_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def opened_connections(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Every connection the dataset opens, to check that each is closed on every path."""
    opened: list[Any] = []
    real_connect = psycopg2.connect

    def recording_connect(*args: Any, **kwargs: Any) -> Any:
        connection = real_connect(*args, **kwargs)
        opened.append(connection)
        return connection

    monkeypatch.setattr(psycopg2, "connect", recording_connect)
    yield opened
    assert all(connection.closed for connection in opened), "a connection was left open"


def frame(rows: list[tuple[Any, ...]], source_file: str = "2024_11 ledger.xlsx") -> pd.DataFrame:
    data = pd.DataFrame(rows, columns=COLUMNS, dtype=object)
    data["_source_file"] = source_file
    data["_source_row"] = range(2, len(data) + 2)
    return data


def ledger_rows(period: str, accounts: list[str], seed: int, per_account: int = 2) -> pd.DataFrame:
    rows = []
    for index, account in enumerate(accounts):
        for repeat in range(per_account):
            position = index * per_account + repeat
            rows.append(
                (
                    period,
                    account,
                    f"{seed * 1000 + position}.{seed:04d}",
                    AWKWARD_NOTES[position % len(AWKWARD_NOTES)],
                    None if position % 4 == 3 else position,
                )
            )
    return frame(rows)


def plan_for(
    rows: pd.DataFrame,
    domain: DomainConfig = LEDGER,
    run_id: str = "run-1",
    rows_rejected: int = 0,
    max_reject_ratio: float = 0.0,
) -> LoadPlan:
    # The plan takes clean rows as the engine gives them: polars text columns.
    text = rows.astype({name: "string" for name in rows.columns if name != "_source_row"})
    return build_load_plan(
        pl.from_pandas(text),
        domain,
        run_id=run_id,
        rows_read=len(rows) + rows_rejected,
        rows_rejected=rows_rejected,
        max_reject_ratio=max_reject_ratio,
    )


def execute(plan: LoadPlan, url: URL, tmp_path: Path) -> LoadResult:
    dataset = PostgresLoadDataset(
        filepath=str(tmp_path / f"{plan.domain}-{plan.run_id}.sql"),
        execute=True,
        credentials={"con": con(url)},
    )
    dataset.save(plan)
    assert dataset.last_result is not None
    return dataset.last_result


# --- the same table from execute and from the psql-applied plan ---------------------------


def test_execute_and_the_psql_applied_plan_leave_identical_tables(
    database_url: URL, db_connection: Any, tmp_path: Path, opened_connections: list[Any]
) -> None:
    before = plan_for(ledger_rows("2024-10-01", ["A1", "B2", "C3"], seed=1), run_id="before")
    after = plan_for(ledger_rows("2024-10-01", ["B2", "D4"], seed=2, per_account=3), run_id="after")

    execute(before, database_url, tmp_path)
    result = execute(after, database_url, tmp_path)
    executed = table_digest(db_connection, LEDGER.table, ignoring_run_id=True)
    assert result.rows_deleted == 2 and result.rows_inserted == 6

    with db_connection.cursor() as cursor:
        # A fresh warehouse (a plan is applied once: the ledger would refuse it again).
        cursor.execute(f'DROP TABLE "{LEDGER.table}", wdh_loads')
    execute(before, database_url, tmp_path)
    # `after` was made before `before` was loaded again, so its guard calls it stale: forced.
    psql_apply(result.plan_path, database_url, env={"PGOPTIONS": "-c wdh.force_stale=on"})
    assert table_digest(db_connection, LEDGER.table, ignoring_run_id=True) == executed
    assert executed.rows == 4 + 6  # A1 and C3 kept (2 rows each), B2 replaced, D4 added
    with db_connection.cursor() as cursor:
        cursor.execute(f'SELECT note FROM "{LEDGER.table}" WHERE note IS NOT NULL')
        assert {row[0] for row in cursor.fetchall()} <= {n for n in AWKWARD_NOTES if n is not None}


def test_the_plan_file_is_the_executed_statement_list(database_url: URL, tmp_path: Path) -> None:
    plan = plan_for(ledger_rows("2024-10-01", ["A1"], seed=1))
    result = execute(plan, database_url, tmp_path)
    script = Path(result.plan_path).read_text(encoding="utf-8")
    # The statements as executed: sealed with the plan's own checksum (in the ledger row).
    executed = seal(plan).statements
    assert executed[-2].purpose == "record_load" and result.plan_sha256 in executed[-2].sql
    positions = [script.index(statement.sql + ";\n") for statement in executed]
    assert positions == sorted(positions)
    assert [s.purpose for s in plan.statements][:5] == [
        "begin",
        "lock",
        "pin_schema",
        "create_table",
        "table_changes",
    ]
    assert f"pg_advisory_xact_lock({lock_key(LEDGER.table)})" in script


# --- delete scope, idempotence, append, upsert ---------------------------------------------


def test_a_second_identical_run_leaves_the_table_unchanged(
    database_url: URL, db_connection: Any, tmp_path: Path
) -> None:
    rows = ledger_rows("2024-11-01", ["A1", "B2"], seed=3)
    first = execute(plan_for(rows, run_id="first"), database_url, tmp_path)
    once = table_digest(db_connection, LEDGER.table, ignoring_run_id=True)
    second = execute(plan_for(rows, run_id="second"), database_url, tmp_path)
    assert table_digest(db_connection, LEDGER.table, ignoring_run_id=True) == once
    assert (first.rows_deleted, first.rows_inserted) == (0, 4)
    assert (second.rows_deleted, second.rows_inserted) == (4, 4)
    with db_connection.cursor() as cursor:
        cursor.execute(f'SELECT DISTINCT _run_id FROM "{LEDGER.table}"')
        assert cursor.fetchall() == [("second",)]


def test_rows_outside_the_delete_scope_are_never_touched(
    database_url: URL, db_connection: Any, tmp_path: Path
) -> None:
    old = pd.concat(
        [
            ledger_rows("2024-10-01", ["A1", "B2"], seed=1, per_account=3),
            ledger_rows("2024-11-01", ["A1", "B2"], seed=1, per_account=3),
        ]
    )
    execute(plan_for(old, run_id="old"), database_url, tmp_path)
    outside = "period <> '2024-11-01' OR account <> 'A1'"
    untouched = physical_rows(db_connection, LEDGER.table, outside)

    # The scope (2024-11, A1) shrinks from 3 rows to 1.
    new = ledger_rows("2024-11-01", ["A1"], seed=2, per_account=1)
    result = execute(plan_for(new, run_id="new"), database_url, tmp_path)

    assert physical_rows(db_connection, LEDGER.table, outside) == untouched
    assert (result.rows_deleted, result.rows_inserted) == (3, 1)
    with db_connection.cursor() as cursor:
        cursor.execute(
            f'SELECT amount::text, _run_id FROM "{LEDGER.table}" '
            "WHERE period = '2024-11-01' AND account = 'A1'"
        )
        assert cursor.fetchall() == [("2000.0002", "new")]


def test_a_delete_scope_of_many_keys_is_set_based(
    database_url: URL, db_connection: Any, tmp_path: Path
) -> None:
    """30k distinct keys: far past the ~6,000 tuples an IN list survives."""
    accounts = [f"K{number:05d}" for number in range(30_000)]
    rows = ledger_rows("2024-11-01", accounts, seed=1, per_account=1)
    execute(plan_for(rows, run_id="first"), database_url, tmp_path)
    result = execute(plan_for(rows, run_id="second"), database_url, tmp_path)
    assert (result.rows_deleted, result.rows_inserted) == (30_000, 30_000)


def test_append_only_inserts(database_url: URL, db_connection: Any, tmp_path: Path) -> None:
    rows = ledger_rows("2024-11-01", ["A1", "B2"], seed=1)
    execute(plan_for(rows, APPEND, run_id="first"), database_url, tmp_path)
    first_rows = physical_rows(db_connection, APPEND.table)
    result = execute(plan_for(rows, APPEND, run_id="second"), database_url, tmp_path)
    assert (result.rows_deleted, result.rows_inserted) == (0, 4)  # as the ledger row records
    assert physical_rows(db_connection, APPEND.table, "_run_id = 'first'") == first_rows
    assert table_digest(db_connection, APPEND.table, ignoring_run_id=True).rows == 8


def test_upsert_updates_matching_keys_and_inserts_new_ones(
    database_url: URL, db_connection: Any, tmp_path: Path
) -> None:
    first = frame(
        [("2024-11-01", "A1", "1.5", "a", 1), ("2024-11-01", "B2", "2.5", "b", 2)],
    )
    execute(plan_for(first, UPSERT, run_id="first"), database_url, tmp_path)
    with db_connection.cursor() as cursor:
        cursor.execute(
            "SELECT contype, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = to_regclass('ledger_upsert') AND contype <> 'n'"  # PG 18: NOT NULL
        )
        assert cursor.fetchall() == [("p", "PRIMARY KEY (period, account)")]
    untouched = physical_rows(db_connection, UPSERT.table, "account = 'A1'")

    second = frame(
        [("2024-11-01", "B2", "20.5", "b2", None), ("2024-11-01", "C3", "3.5", "c", 3)],
        source_file="2024_11 ledger v2.xlsx",
    )
    result = execute(plan_for(second, UPSERT, run_id="second"), database_url, tmp_path)
    assert (result.rows_deleted, result.rows_inserted) == (0, 2)  # PostgreSQL counts both
    assert physical_rows(db_connection, UPSERT.table, "account = 'A1'") == untouched
    with db_connection.cursor() as cursor:
        cursor.execute(
            "SELECT account, amount::text, note, units, _source_file, _source_row, _run_id "
            "FROM ledger_upsert ORDER BY account"
        )
        assert cursor.fetchall() == [
            ("A1", "1.5000", "a", 1, "2024_11 ledger.xlsx", 2, "first"),
            ("B2", "20.5000", "b2", None, "2024_11 ledger v2.xlsx", 2, "second"),
            ("C3", "3.5000", "c", 3, "2024_11 ledger v2.xlsx", 3, "second"),
        ]


def _create_by_hand(connection: Any, table: str, columns: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE TABLE "{table}" ({columns})')
        cursor.execute(f"""INSERT INTO "{table}" (period, account) VALUES ('2024-01-01', 'X')""")


def test_upsert_into_a_table_without_a_unique_key_fails_clearly(
    database_url: URL, db_connection: Any, tmp_path: Path
) -> None:
    _create_by_hand(
        db_connection,
        UPSERT.table,
        "period date, account text, amount numeric(18,4), note text, units integer, "
        "_source_file text, _source_row integer, _run_id text",
    )
    before = physical_rows(db_connection, UPSERT.table)
    with pytest.raises(LoadFailedError) as caught:
        execute(plan_for(ledger_rows("2024-11-01", ["A1"], 1, 1), UPSERT), database_url, tmp_path)
    message = str(caught.value)
    assert "ledger_upsert has no unique constraint on its unique_key (period, account)" in message
    assert "upsert" in message and "rolled back" in message
    assert physical_rows(db_connection, UPSERT.table) == before


def test_a_retyped_column_is_refused_with_the_sql_to_run_and_nothing_is_altered(
    database_url: URL, db_connection: Any, tmp_path: Path
) -> None:
    _create_by_hand(
        db_connection,
        LEDGER.table,
        "period date, account text, amount numeric(10,2), units integer, "
        "_source_file text, _source_row integer, _run_id text",
    )
    columns_before = columns_of(db_connection, LEDGER.table)
    rows_before = physical_rows(db_connection, LEDGER.table)
    with pytest.raises(LoadFailedError) as caught:
        execute(plan_for(ledger_rows("2024-11-01", ["A1"], 1)), database_url, tmp_path)
    message = str(caught.value)
    assert "column amount is numeric(10,2), declared numeric(18,4)" in message
    assert (
        'ALTER TABLE public."Ledger 账本" ALTER COLUMN amount TYPE numeric(18,4) '
        "USING amount::numeric(18,4);" in message
    )
    assert "alters nothing else" in message
    # Not even the missing column `note`, which the plan would add: the refusal comes first.
    assert columns_of(db_connection, LEDGER.table) == columns_before
    assert physical_rows(db_connection, LEDGER.table) == rows_before


# --- failures in the middle of a load ------------------------------------------------------


def test_a_row_violating_a_constraint_leaves_the_table_exactly_as_before(
    database_url: URL, db_connection: Any, tmp_path: Path, opened_connections: list[Any]
) -> None:
    execute(
        plan_for(ledger_rows("2024-10-01", ["A1", "B2"], seed=1), run_id="old"),
        database_url,
        tmp_path,
    )
    with db_connection.cursor() as cursor:
        cursor.execute(
            f'ALTER TABLE "{LEDGER.table}" ADD CONSTRAINT amount_below_5000 CHECK (amount < 5000)'
        )
    before = physical_rows(db_connection, LEDGER.table)
    # Same scope (the delete runs first), then the insert meets a row with amount 5000+.
    rows = ledger_rows("2024-10-01", ["A1", "B2"], seed=5)
    with pytest.raises(LoadFailedError) as caught:
        execute(plan_for(rows, run_id="new"), database_url, tmp_path)
    message = str(caught.value)
    assert "failed at step 'insert'" in message
    assert 'violates check constraint "amount_below_5000"' in message
    assert "rolled back" in message and "unchanged" in message
    assert physical_rows(db_connection, LEDGER.table) == before
    # The first load and the refused one, each reading its checks and the table's columns
    # first; all closed.
    assert len(opened_connections) == 4


def test_a_null_key_that_slipped_past_cleaning_is_refused_not_duplicated(
    database_url: URL, db_connection: Any, tmp_path: Path
) -> None:
    execute(
        plan_for(ledger_rows("2024-10-01", ["A1"], seed=1), run_id="old"), database_url, tmp_path
    )
    before = physical_rows(db_connection, LEDGER.table)
    rows = frame([("2024-10-01", None, "1", "no account", 1)])
    with pytest.raises(LoadFailedError) as caught:
        execute(plan_for(rows, run_id="new"), database_url, tmp_path)
    assert "failed at step 'copy'" in str(caught.value)
    assert 'null value in column "account"' in str(caught.value)
    assert physical_rows(db_connection, LEDGER.table) == before


class _TerminatedMidCopy:
    """The COPY rows; before handing over their first piece it terminates the loading backend.

    By then PostgreSQL is in COPY FROM STDIN for this very statement (checked below), so the
    termination lands during the COPY, deterministically and without timing.
    """

    def __init__(self, rows: Any, url: URL, seen: list[str]) -> None:
        self._rows = rows
        self._url = url
        self._seen = seen

    def read(self, size: int = -1) -> bytes:
        if not self._seen:
            killer = psycopg2.connect(con(self._url))
            killer.autocommit = True
            try:
                with killer.cursor() as cursor:
                    cursor.execute(
                        "SELECT query, pg_terminate_backend(pid, 10000) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND application_name = 'work_data_hub'"
                    )
                    self._seen.extend(f"{query} -> {killed}" for query, killed in cursor.fetchall())
            finally:
                killer.close()
        data: bytes = self._rows.read(size)
        return data


def test_a_connection_terminated_during_the_copy_leaves_the_table_as_before(
    database_url: URL,
    db_connection: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    opened_connections: list[Any],
) -> None:
    execute(
        plan_for(ledger_rows("2024-10-01", ["A1", "B2"], seed=1), run_id="old"),
        database_url,
        tmp_path,
    )
    before = physical_rows(db_connection, LEDGER.table)
    seen: list[str] = []
    monkeypatch.setattr(
        WarehouseClient,
        "_sent_rows",
        staticmethod(lambda rows: _TerminatedMidCopy(rows, database_url, seen)),
    )
    accounts = [f"N{number:04d}" for number in range(2000)]
    rows = pd.concat([ledger_rows("2024-10-01", ["A1"], 7), ledger_rows("2024-10-01", accounts, 7)])
    plan = plan_for(rows, run_id="new")
    with pytest.raises(LoadFailedError) as caught:
        execute(plan, database_url, tmp_path)

    assert len(seen) == 1 and seen[0].startswith("COPY ") and seen[0].endswith("-> True"), seen
    message = str(caught.value)
    assert "failed at step 'copy'" in message
    assert "the connection to the server was lost" in message
    assert "The server rolled the transaction back: the table is unchanged" in message
    assert physical_rows(db_connection, LEDGER.table) == before
    assert opened_connections[-1].closed
    # The plan file is still written whole, without the server, for review.
    saved = read_saved_plan(tmp_path / "ledger-new.sql")
    assert saved.intact and len(saved.steps) == len(plan.statements)
    assert saved.copy_payload == read_plan_file(seal(plan).script, "sealed").copy_payload


# --- the rows streamed from the plan file ------------------------------------------------


def _large_plan_file(tmp_path: Path, accounts: int = 15_000) -> tuple[Path, LoadPlan]:
    """A plan of a few mebibytes (several read blocks), written without executing."""
    plan = plan_for(
        ledger_rows("2024-10-01", [f"N{n:05d}" for n in range(accounts)], seed=3), run_id="big"
    )
    dataset = PostgresLoadDataset(filepath=str(tmp_path / "big.sql"))
    dataset.save(plan)
    assert dataset.last_result is not None
    path = Path(dataset.last_result.plan_path)
    assert path.stat().st_size > 2 * (1 << 20)
    return path, plan


def test_a_changed_byte_in_the_rows_of_a_large_plan_is_refused_before_connecting(
    tmp_path: Path, opened_connections: list[Any]
) -> None:
    path, _ = _large_plan_file(tmp_path)
    text = path.read_bytes()
    position = text.index(b"N10000\t")  # well past the first read block
    path.write_bytes(text[:position] + b"M" + text[position + 1 :])
    unreachable = f"postgresql://nobody:{PASSWORD}@127.0.0.1:{closed_port()}/nowhere"
    dataset = PostgresLoadDataset(filepath=str(path), credentials={"con": unreachable})
    with pytest.raises(PlanFileError, match="was modified after it was made"):
        dataset.apply_plan_file(path)
    assert opened_connections == []


def test_a_plan_that_cannot_be_written_whole_leaves_no_file(
    tmp_path: Path, opened_connections: list[Any]
) -> None:
    """The rows are written after the header: a failure midway must not leave half a plan."""
    rows = frame([("2024-11-01", "A1", "1", "a NUL \x00 here", 1)])
    # Unreachable: the checks cannot be read, so the plan is written for review, and fails.
    unreachable = f"postgresql://nobody:{PASSWORD}@127.0.0.1:{closed_port()}/nowhere"
    dataset = PostgresLoadDataset(
        filepath=str(tmp_path / "plan.sql"), execute=True, credentials={"con": unreachable}
    )
    # Cleaning rejects such a cell; this is the COPY format's own guard (Kedro wraps it).
    with pytest.raises(Exception, match="holds a NUL character"):
        dataset.save(plan_for(rows))
    assert list(tmp_path.iterdir()) == []
    assert opened_connections == []


def test_apply_plan_streams_the_rows_from_the_plan_file_in_mebibyte_reads(
    database_url: URL, db_connection: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[int] = []
    real_stream = WarehouseClient._payload_stream

    class Recorded:
        def __init__(self, stream: BinaryIO) -> None:
            self._stream = stream

        def __enter__(self) -> Recorded:
            return self

        def __exit__(self, *exc: object) -> None:
            self._stream.close()

        def read(self, size: int = -1) -> bytes:
            reads.append(size)
            return self._stream.read(size)

    monkeypatch.setattr(
        WarehouseClient,
        "_payload_stream",
        staticmethod(lambda plan: Recorded(real_stream(plan))),
    )
    path, _ = _large_plan_file(tmp_path)
    result = _applier(database_url, tmp_path).apply_plan_file(path)
    assert result.rows_inserted == 30_000
    assert len(physical_rows(db_connection, LEDGER.table)) == 30_000
    # The rows went out a mebibyte at a time, never read whole.
    assert set(reads) == {1 << 20} and len(reads) > 2


def _applier(url: URL, tmp_path: Path) -> PostgresLoadDataset:
    """A dataset that applies saved plans (apply_plan), to the test database."""
    return PostgresLoadDataset(filepath=str(tmp_path / "unused.sql"), credentials={"con": con(url)})


def test_rows_changed_after_the_check_roll_back_and_load_nothing(
    database_url: URL, db_connection: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """apply_plan: the bytes sent must be the bytes verified, a file edited after its check
    never commits."""
    execute(
        plan_for(ledger_rows("2024-10-01", ["A1", "B2"], seed=1), run_id="old"),
        database_url,
        tmp_path,
    )
    before = physical_rows(db_connection, LEDGER.table)

    def edited_rows(plan: SavedPlan) -> BinaryIO:
        # Same length, still valid COPY text: only the comparison with the check can tell.
        return io.BytesIO(plan.copy_payload.replace(b"7000.", b"7999.", 1))

    monkeypatch.setattr(WarehouseClient, "_payload_stream", staticmethod(edited_rows))
    dataset = PostgresLoadDataset(filepath=str(tmp_path / "new.sql"))
    dataset.save(plan_for(ledger_rows("2024-10-01", ["A1", "C3"], seed=7), run_id="new"))
    with pytest.raises(LoadFailedError) as caught:
        _applier(database_url, tmp_path).apply_plan_file(tmp_path / "new.sql")
    message = str(caught.value)
    assert "failed at step 'copy'" in message
    assert "its rows are not the bytes its checksum was verified over" in message
    assert "rolled back" in message
    assert physical_rows(db_connection, LEDGER.table) == before


# --- two runs of one domain at once --------------------------------------------------------


def test_two_runs_of_one_domain_at_once_serialize_and_both_finish(
    database_url: URL, db_connection: Any, tmp_path: Path
) -> None:
    """Both runs are held at the advisory lock, then released together: they must not interleave.

    The table does not exist yet, so both also race to create it. Without the lock the two
    deletes would run before either insert and the scope would hold both runs' rows.
    """
    plans = {
        "run-a": plan_for(
            ledger_rows("2024-11-01", ["A1", "B2"], seed=1, per_account=2), run_id="run-a"
        ),
        "run-b": plan_for(
            ledger_rows("2024-11-01", ["A1", "B2"], seed=2, per_account=3), run_id="run-b"
        ),
    }
    holder = psycopg2.connect(con(database_url))
    errors: list[BaseException] = []
    results: dict[str, LoadResult] = {}

    def run(run_id: str) -> None:
        try:
            results[run_id] = execute(plans[run_id], database_url, tmp_path)
        except BaseException as exc:
            errors.append(exc)

    try:
        with holder.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key(LEDGER.table),))
        threads = [threading.Thread(target=run, args=(run_id,)) for run_id in plans]
        for thread in threads:
            thread.start()
        _wait_for_lock_waiters(db_connection, 2)
        holder.commit()
    finally:
        holder.close()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, "\n".join(str(e) for e in errors)
    assert sorted(results) == ["run-a", "run-b"]

    with db_connection.cursor() as cursor:
        cursor.execute(f'SELECT DISTINCT _run_id FROM "{LEDGER.table}"')
        (winner,) = (row[0] for row in cursor.fetchall())
    loser = "run-b" if winner == "run-a" else "run-a"
    assert results[winner].rows_deleted == plans[loser].rows_to_insert
    assert (
        table_digest(db_connection, LEDGER.table, ignoring_run_id=True).rows
        == plans[winner].rows_to_insert
    )


def _wait_for_lock_waiters(connection: Any, expected: int) -> None:
    """Until ``expected`` sessions wait on an advisory lock (a wait, not a timed assertion)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
                "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            )
            if cursor.fetchone()[0] == expected:
                return
        time.sleep(0.05)
    pytest.fail(f"{expected} runs never queued on the advisory lock")


# --- rejects policy ------------------------------------------------------------------------


def test_any_rejected_row_makes_execute_load_nothing_but_the_plan_is_written(
    tmp_path: Path,
) -> None:
    # The address is unreachable: a run that tried to connect would fail differently.
    unreachable = f"postgresql://nobody:{PASSWORD}@127.0.0.1:{closed_port()}/nowhere"
    dataset = PostgresLoadDataset(
        filepath=str(tmp_path / "plan.sql"), execute=True, credentials={"con": unreachable}
    )
    rows = ledger_rows("2024-11-01", ["A1"], seed=1)
    with pytest.raises(RejectedRowsError) as caught:
        dataset.save(plan_for(rows, rows_rejected=1))
    assert "1 of 3 rows were rejected" in str(caught.value)
    assert "nothing was loaded" in str(caught.value)
    assert (tmp_path / "plan.sql").is_file()
    assert dataset.last_result is not None and not dataset.last_result.executed


def test_max_reject_ratio_lets_a_share_of_rejects_through(
    database_url: URL, db_connection: Any, tmp_path: Path
) -> None:
    rows = ledger_rows("2024-11-01", ["A1"], seed=1)
    with pytest.raises(RejectedRowsError):
        execute(plan_for(rows, rows_rejected=1, max_reject_ratio=0.3), database_url, tmp_path)
    result = execute(plan_for(rows, rows_rejected=1, max_reject_ratio=0.34), database_url, tmp_path)
    assert result.rows_inserted == 2
    assert table_digest(db_connection, LEDGER.table, ignoring_run_id=True).rows == 2


# --- connection failures: clear message, no password anywhere ------------------------------


def _assert_password_nowhere(
    error: BaseException, caplog: pytest.LogCaptureFixture, *files: Path
) -> None:
    assert PASSWORD not in "".join(traceback.format_exception(error))
    assert PASSWORD not in repr(error.args)
    assert PASSWORD not in caplog.text
    for file in files:
        assert PASSWORD not in file.read_text(encoding="utf-8")


def test_an_unreachable_database_gives_the_clear_message(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    port = closed_port()
    dataset = PostgresLoadDataset(
        filepath=str(tmp_path / "plan.sql"),
        execute=True,
        credentials={"con": f"postgresql://loader:{PASSWORD}@127.0.0.1:{port}/warehouse"},
        connect_timeout=5,
    )
    with caplog.at_level(logging.DEBUG), pytest.raises(LoadFailedError) as caught:
        dataset.save(plan_for(ledger_rows("2024-11-01", ["A1"], seed=1)))
    message = str(caught.value)
    assert (
        f"Cannot connect to the warehouse (host 127.0.0.1, port {port}, database warehouse"
        in message
    )
    for variable in ENVIRONMENT_VARIABLES:
        assert variable in message
    assert "credentials.yml" in message and "Nothing was loaded" in message
    _assert_password_nowhere(caught.value, caplog, tmp_path / "plan.sql")


def test_a_wrong_password_gives_the_clear_message_without_the_password(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The local test server trusts 127.0.0.1, so the server's refusal is simulated here, as
    libpq words it (tests/reliability/test_secrets_by_construction.py has a real refusal)."""

    def refusing_connect(**kwargs: Any) -> Any:
        raise psycopg2.OperationalError(
            f'connection to server at "{kwargs["host"]}", port {kwargs["port"]} failed: FATAL:  '
            f'password authentication failed for user "{kwargs["user"]}"\n'
        )

    monkeypatch.setattr(psycopg2, "connect", refusing_connect)
    monkeypatch.setenv("WDH_DATABASE__HOST", "db.example")
    monkeypatch.setenv("WDH_DATABASE__PORT", "6543")
    monkeypatch.setenv("WDH_DATABASE__USER", "loader")
    monkeypatch.setenv("WDH_DATABASE__PASSWORD", PASSWORD)
    monkeypatch.setenv("WDH_DATABASE__DB", "warehouse")
    dataset = PostgresLoadDataset(filepath=str(tmp_path / "plan.sql"), execute=True)
    with caplog.at_level(logging.DEBUG), pytest.raises(LoadFailedError) as caught:
        dataset.save(plan_for(ledger_rows("2024-11-01", ["A1"], seed=1)))
    message = str(caught.value)
    assert "host db.example, port 6543, database warehouse" in message
    assert 'password authentication failed for user "loader"' in message
    assert "***" not in message
    assert "WDH_DATABASE__PASSWORD" in message
    _assert_password_nowhere(caught.value, caplog, tmp_path / "plan.sql")


def test_a_wrong_password_against_a_server_that_checks_passwords(
    scram_server: URL, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with fresh_database(scram_server) as database_url:
        wrong = database_url.set(password=PASSWORD)
        with pytest.raises(psycopg2.OperationalError):
            psycopg2.connect(con(wrong), connect_timeout=5).close()
        dataset = PostgresLoadDataset(
            filepath=str(tmp_path / "plan.sql"), execute=True, credentials={"con": con(wrong)}
        )
        with caplog.at_level(logging.DEBUG), pytest.raises(LoadFailedError) as caught:
            dataset.save(plan_for(ledger_rows("2024-11-01", ["A1"], seed=1)))
        assert "password authentication failed" in str(caught.value)
        assert f"database {database_url.database}" in str(caught.value)
        _assert_password_nowhere(caught.value, caplog, tmp_path / "plan.sql")


def test_the_host_group_variables_reach_the_real_server(
    database_url: URL, db_connection: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every WDH_DATABASE__HOST group variable is used for the connection, over the credentials."""
    monkeypatch.setenv("WDH_DATABASE__HOST", str(database_url.host))
    monkeypatch.setenv("WDH_DATABASE__PORT", str(database_url.port or 5432))
    monkeypatch.setenv("WDH_DATABASE__USER", str(database_url.username))
    if database_url.password:
        monkeypatch.setenv("WDH_DATABASE__PASSWORD", str(database_url.password))
    monkeypatch.setenv("WDH_DATABASE__DB", str(database_url.database))
    dataset = PostgresLoadDataset(
        filepath=str(tmp_path / "plan.sql"),
        execute=True,
        credentials={"con": f"postgresql://nobody@127.0.0.1:{closed_port()}/nowhere"},
    )
    dataset.save(plan_for(ledger_rows("2024-11-01", ["A1"], seed=1)))
    assert dataset.last_result is not None and dataset.last_result.rows_inserted == 2
    assert table_digest(db_connection, LEDGER.table, ignoring_run_id=True).rows == 2


def test_no_database_settings_at_all_is_a_clear_error_in_prod(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Outside prod, nothing configured means the local warehouse (test_embedded_warehouse.py).
    monkeypatch.setenv("KEDRO_ENV", "prod")
    dataset = PostgresLoadDataset(filepath=str(tmp_path / "plan.sql"), execute=True)
    with pytest.raises(
        LoadFailedError, match="configured warehouse, and none is: set WDH_DATABASE__URI"
    ):
        dataset.save(plan_for(ledger_rows("2024-11-01", ["A1"], seed=1)))
    assert (tmp_path / "plan.sql").is_file()
