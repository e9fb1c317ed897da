"""History and undo on a real PostgreSQL: what a load replaces is kept, and any load can be undone.

Plans are applied as ``execute=true`` applies them (the dataset) or by ``psql``; both must give
the same table, byte for byte, ``_run_id`` included.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from sqlalchemy.engine import URL

from tests.conftest import fresh_database
from tests.support.database import TableDigest, columns_of, con, table_digest
from tests.support.history import (
    amounts_domain,
    apply,
    history_rows,
    ledger_rows,
    load_plan,
    table_rows,
    undo_plan,
    write,
)
from work_data_hub.datasets.postgres_load_dataset import LoadFailedError

pytestmark = pytest.mark.database

V1 = {"A": "1.2300", "B": "2.0000", "C": "3.1415"}
V2 = {"A": "9.9900", "C": "3.1415", "D": "4.0000"}  # B no longer delivered, A corrected


def _state(connection: Any, table: str) -> TableDigest | None:
    return table_digest(connection, table)


def test_a_correction_keeps_what_it_replaced_exactly_and_its_undo_gives_the_first_table(
    tmp_path: Path, database_url: URL, db_connection: Any
) -> None:
    domain = amounts_domain()
    apply(write(load_plan(domain, "v1", V1), tmp_path), database_url)
    after_v1 = _state(db_connection, domain.table)
    v1_rows = table_rows(db_connection, domain.table)
    apply(write(load_plan(domain, "v2", V2), tmp_path), database_url)

    # "What did load v2 remove?": every row of v1, every column and digit, lineage included.
    assert history_rows(db_connection, domain.table, "v2") == v1_rows
    assert history_rows(db_connection, domain.table, "v1") == []

    result = apply(write(undo_plan(db_connection, "v2", domain, "undo-v2"), tmp_path), database_url)
    assert result is not None and (result.rows_deleted, result.rows_inserted) == (3, 3)
    assert _state(db_connection, domain.table) == after_v1
    ledger = ledger_rows(db_connection)
    assert [(row["run_id"], row["mode"], row["undoes_run"]) for row in ledger] == [
        ("v1", "delete_insert", None),
        ("v2", "delete_insert", None),
        ("undo-v2", "undo", "v2"),
    ]
    # The undo names the files whose rows are back, and those it took out ("undone").
    assert sorted((file["path"], file.get("undone", False)) for file in ledger[-1]["files"]) == [
        ("2024-11/v1/amounts.xlsx", False),
        ("2024-11/v2/amounts.xlsx", True),
    ]


def test_the_undo_plan_applied_by_psql_gives_the_table_execute_gives(
    tmp_path: Path, postgres_server: URL
) -> None:
    domain = amounts_domain()
    loads = [
        write(load_plan(domain, run, rows), tmp_path) for run, rows in (("v1", V1), ("v2", V2))
    ]
    states = []
    undo: Path | None = None
    with fresh_database(postgres_server) as first, fresh_database(postgres_server) as second:
        for url in (first, second):
            for plan in loads:
                apply(plan, url, force=True)  # made before the first was applied
        for url, by in ((first, "execute"), (second, "psql")):
            connection = psycopg2.connect(con(url))
            try:
                if undo is None:
                    undo = write(undo_plan(connection, "v2", domain, "undo-v2"), tmp_path)
                apply(undo, url, by=by)
                states.append((_state(connection, domain.table), len(ledger_rows(connection))))
            finally:
                connection.close()
    assert states[0] == states[1]
    assert states[0][1] == 3


def test_an_undo_made_stale_by_a_later_load_is_refused_naming_it_and_force_applies(
    tmp_path: Path, database_url: URL, db_connection: Any
) -> None:
    domain = amounts_domain()
    for run, rows in (("v1", V1), ("v2", V2), ("v3", {"E": "5.0000"})):
        apply(write(load_plan(domain, run, rows), tmp_path), database_url)
    after_v3 = _state(db_connection, domain.table)
    undo = write(undo_plan(db_connection, "v2", domain, "undo-v2"), tmp_path)

    with pytest.raises(LoadFailedError) as caught:
        apply(undo, database_url)
    message = str(caught.value)
    assert "undo stale: run v3" in message and "replaced 3 row(s) that run v2 wrote" in message
    assert "force=true" in message
    assert _state(db_connection, domain.table) == after_v3

    apply(undo, database_url, force=True)
    # v2's rows were gone already; what v2 replaced (v1's rows) is back beside v3's.
    assert {(row[1], row[-1]) for row in table_rows(db_connection, domain.table)} == {
        ("A", "v1"),
        ("B", "v1"),
        ("C", "v1"),
        ("E", "v3"),
    }


def test_undoing_an_append_load_deletes_exactly_its_rows(
    tmp_path: Path, database_url: URL, db_connection: Any
) -> None:
    domain = amounts_domain("append")
    apply(write(load_plan(domain, "a1", V1), tmp_path), database_url)
    apply(write(load_plan(domain, "a2", V2), tmp_path), database_url)
    a2_rows = [row for row in table_rows(db_connection, domain.table) if row[-1] == "a2"]

    apply(write(undo_plan(db_connection, "a1", domain, "undo-a1"), tmp_path), database_url)
    assert table_rows(db_connection, domain.table) == a2_rows
    assert ledger_rows(db_connection)[-1]["rows_deleted"] == 3


def test_undoing_an_upsert_restores_the_values_it_overwrote(
    tmp_path: Path, database_url: URL, db_connection: Any
) -> None:
    domain = amounts_domain("upsert")
    apply(write(load_plan(domain, "u1", V1), tmp_path), database_url)
    after_u1 = _state(db_connection, domain.table)
    apply(write(load_plan(domain, "u2", V2), tmp_path), database_url)
    # Overwritten (A and C) are in the history as they were; B was not touched.
    assert [row[1] for row in history_rows(db_connection, domain.table, "u2")] == ["A", "C"]

    apply(
        write(undo_plan(db_connection, "u2", domain, "undo-u2"), tmp_path), database_url, by="psql"
    )
    assert _state(db_connection, domain.table) == after_u1


def test_a_load_is_undone_once_and_its_undo_can_be_undone(
    tmp_path: Path, database_url: URL, db_connection: Any
) -> None:
    domain = amounts_domain()
    apply(write(load_plan(domain, "v1", V1), tmp_path), database_url)
    apply(write(load_plan(domain, "v2", V2), tmp_path), database_url)
    after_v2 = _state(db_connection, domain.table)
    apply(write(undo_plan(db_connection, "v2", domain, "undo-v2"), tmp_path), database_url)
    after_undo = _state(db_connection, domain.table)

    again = write(undo_plan(db_connection, "v2", domain, "undo-v2-again"), tmp_path)
    with pytest.raises(LoadFailedError) as caught:
        apply(again, database_url, force=True)  # force lifts staleness only
    assert "undone already: run undo-v2 undid run v2" in str(caught.value)
    assert "run=undo-v2" in str(caught.value)
    assert _state(db_connection, domain.table) == after_undo

    apply(write(undo_plan(db_connection, "undo-v2", domain, "redo-v2"), tmp_path), database_url)
    assert _state(db_connection, domain.table) == after_v2
    # And undone in turn: the table after v1 again.
    apply(write(undo_plan(db_connection, "redo-v2", domain, "undo-redo"), tmp_path), database_url)
    assert _state(db_connection, domain.table) == after_undo


def test_a_refused_or_failed_load_leaves_no_history_rows(
    tmp_path: Path, database_url: URL, db_connection: Any
) -> None:
    domain = amounts_domain()
    first = write(load_plan(domain, "v1", V1), tmp_path)
    apply(first, database_url)
    with pytest.raises(LoadFailedError, match="already applied"):
        apply(first, database_url)
    # The correction fails on its INSERT, after its history copy and its DELETE ran.
    with db_connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE \"{domain.table}\" ADD CONSTRAINT no_d CHECK (code <> 'D')")
    before = _state(db_connection, domain.table)
    with pytest.raises(LoadFailedError, match="failed at step 'insert'"):
        apply(write(load_plan(domain, "v2", V2), tmp_path), database_url)
    assert _state(db_connection, domain.table) == before
    history = table_digest(db_connection, f"{domain.table}__history")
    assert history is not None and history.rows == 0


def test_a_newly_declared_column_is_added_by_the_next_load_and_old_rows_hold_null(
    tmp_path: Path, postgres_server: URL
) -> None:
    before, after = amounts_domain(), amounts_domain(remark="text")
    first = write(load_plan(before, "v1", V1, month="2024-10-01"), tmp_path)
    second = write(load_plan(after, "v2", V2), tmp_path)
    outcomes = []
    with fresh_database(postgres_server) as executed, fresh_database(postgres_server) as by_psql:
        for url, by in ((executed, "execute"), (by_psql, "psql")):
            apply(first, url, by=by)
            apply(second, url, by=by, force=True)  # made before the first was applied
            connection = psycopg2.connect(con(url))
            try:
                assert ("remark", "text") in columns_of(connection, after.table)
                assert ("remark", "text") in columns_of(connection, f"{after.table}__history")
                with connection.cursor() as cursor:
                    cursor.execute(f'SELECT _run_id, remark FROM "{after.table}" ORDER BY 1, 2')
                    remarks = cursor.fetchall()
                assert remarks == [("v1", None)] * 3 + [("v2", f"remark {c}") for c in "ACD"]
                changes = ledger_rows(connection)[-1]["table_changes"]
                outcomes.append((_state(connection, after.table), changes))
            finally:
                connection.close()
    assert outcomes[0] == outcomes[1]
    assert [(change["column"], change["type"]) for change in outcomes[0][1]] == [
        ("remark", "text"),
        ("remark", "text"),
    ]
    assert (
        outcomes[0][1][0]["sql"]
        == 'ALTER TABLE public."amounts delete_insert" ADD COLUMN remark text'
    )


def test_a_column_the_declaration_dropped_is_refused_with_the_sql_to_run(
    tmp_path: Path, database_url: URL, db_connection: Any
) -> None:
    domain = amounts_domain(remark="text")
    apply(write(load_plan(domain, "v1", V1), tmp_path), database_url)
    before = _state(db_connection, domain.table)
    with pytest.raises(LoadFailedError) as caught:
        apply(write(load_plan(amounts_domain(), "v2", V2), tmp_path), database_url)
    message = str(caught.value)
    assert "column remark (text) is in the table and no longer declared" in message
    assert 'ALTER TABLE public."amounts delete_insert" DROP COLUMN remark;' in message
    assert _state(db_connection, domain.table) == before


def test_a_backend_terminated_during_the_history_copy_leaves_table_and_history_as_before(
    tmp_path: Path, database_url: URL, db_connection: Any
) -> None:
    domain = amounts_domain()
    history = f"{domain.table}__history"
    apply(write(load_plan(domain, "v1", V1), tmp_path), database_url)
    apply(write(load_plan(domain, "v2", V2), tmp_path), database_url)
    before = (_state(db_connection, domain.table), _state(db_connection, history))
    correction = write(load_plan(domain, "v3", {"A": "7.0000"}), tmp_path)
    # Another session holds the history: the correction waits in its history step, is
    # terminated there, and its server rolls it back.
    holder = psycopg2.connect(con(database_url))
    failures: list[BaseException] = []

    def load() -> None:
        try:
            apply(correction, database_url)
        except BaseException as exc:
            failures.append(exc)

    try:
        with holder.cursor() as cursor:
            cursor.execute(f'LOCK TABLE "{history}" IN ACCESS EXCLUSIVE MODE')
        loading = threading.Thread(target=load)
        loading.start()
        terminated = _terminate_when_waiting(db_connection, f'INSERT INTO "{history}"%')
    finally:
        holder.rollback()
        holder.close()
    loading.join(timeout=60)
    assert terminated
    assert len(failures) == 1 and "failed at step 'history'" in str(failures[0])
    assert "the table is unchanged" in str(failures[0])
    assert (_state(db_connection, domain.table), _state(db_connection, history)) == before


def _terminate_when_waiting(connection: Any, query: str) -> bool:
    for _ in range(600):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock' "
                "AND query LIKE %s",
                (query,),
            )
            if cursor.fetchall():
                return True
        time.sleep(0.05)
    return False
