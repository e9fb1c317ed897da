"""Database faults and guarantees this suite owns: a statement timeout, a table altered since
the last run, refresh scopes, the load ledger and skipping, a hardened server, interrupts.

(Wrong passwords, a connection killed during COPY and concurrent runs are tested with execute
mode in tests/datasets/test_execute_load.py.)
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import URL

import work_data_hub
from tests.conftest import _connect
from tests.reliability.conftest import Baseline
from tests.reliability.support import (
    PROJECT_ROOT,
    TABLE,
    run_domain,
    trustee_rows,
    write_workbook,
)
from tests.support.database import psql_apply, table_digest
from work_data_hub.datasets.postgres_load_dataset import LoadFailedError
from work_data_hub.load.plan import lock_key
from work_data_hub.warehouse.connection import WarehouseConnectionError

pytestmark = pytest.mark.database


def _november_inbox(tmp_path: Path) -> Path:
    inbox = tmp_path / "inbox"
    write_workbook(inbox / "2024_11_受托业绩.xlsx", trustee_rows(4))
    return inbox


def test_a_statement_timeout_rolls_back_and_names_the_step_and_table(
    baseline: Baseline, tmp_path: Path
) -> None:
    inbox = _november_inbox(tmp_path)
    # Another session holds the table (a long report, a VACUUM FULL): the load's DELETE waits
    # for it until the statement timeout cancels it.
    holder = _connect(baseline.url)
    try:
        with holder.cursor() as cursor:
            cursor.execute(f'LOCK TABLE "{TABLE}" IN ACCESS EXCLUSIVE MODE')
        with pytest.raises(LoadFailedError) as caught:
            run_domain(
                inbox,
                tmp_path / "out",
                database_url=baseline.url,
                execute=True,
                statement_timeout_ms=300,
            )
    finally:
        holder.rollback()
        holder.close()
    message = str(caught.value)
    assert "statement timeout" in message
    assert "'trustee_performance'" in message and "failed at step" in message
    assert "rolled back" in message
    assert baseline.unchanged()
    assert _ledger_runs(baseline.connection) == ["baseline"]  # no ledger row either


ALTERATIONS = [
    pytest.param(
        "ALTER TABLE trustee_performance ADD COLUMN legacy text", "legacy", id="column undeclared"
    ),
    pytest.param(
        "ALTER TABLE trustee_performance ALTER COLUMN fund_scale TYPE integer",
        "fund_scale",
        id="type changed",
    ),
    pytest.param(
        "ALTER TABLE trustee_performance RENAME COLUMN net_asset_value TO nav",
        "net_asset_value",
        id="column renamed",
    ),
]


@pytest.mark.parametrize(("alteration", "column"), ALTERATIONS)
def test_a_table_altered_since_the_last_run_fails_naming_the_column(
    alteration: str, column: str, baseline: Baseline, tmp_path: Path
) -> None:
    with baseline.connection.cursor() as cursor:
        cursor.execute(alteration)
    altered = table_digest(baseline.connection, TABLE)
    with pytest.raises(LoadFailedError) as caught:
        run_domain(
            _november_inbox(tmp_path), tmp_path / "out", database_url=baseline.url, execute=True
        )
    message = str(caught.value)
    assert column in message and "public.trustee_performance" in message
    assert "rolled back" in message
    assert table_digest(baseline.connection, TABLE) == altered
    assert _ledger_runs(baseline.connection) == ["baseline"]


def _rows_but_run_id(connection: Any) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT report_date, plan_code, company_code, return_rate, net_asset_value, "
            f"fund_scale, _source_file, _source_row FROM {TABLE} ORDER BY 1, 2, 3"
        )
        return cursor.fetchall()


def test_loading_the_same_inputs_twice_leaves_the_same_rows(
    baseline: Baseline, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    write_workbook(inbox / "2024_10_受托业绩.xlsx", trustee_rows(5, month=10))
    write_workbook(inbox / "2024_11_受托业绩.xlsx", trustee_rows(4))
    first = run_domain(
        inbox,
        tmp_path / "first",
        database_url=baseline.url,
        execute=True,
        max_files=2,
        run_id="first",
    )
    after_first = _rows_but_run_id(baseline.connection)
    second = run_domain(
        inbox,
        tmp_path / "second",
        database_url=baseline.url,
        execute=True,
        max_files=2,
        run_id="second",
        reload=True,  # without it the ledger skips both files (see the ledger tests below)
    )
    assert first.load is not None and second.load is not None
    assert (second.load.rows_deleted, second.load.rows_inserted) == (9, 9)
    assert _rows_but_run_id(baseline.connection) == after_first
    assert len(after_first) == 9  # the baseline's October rows were replaced, not doubled


# --- refresh scopes, the ledger and skipping ----------------------------------------------

V1 = "2024/11/V1/2024-11 受托业绩.xlsx"
V2 = "2024/11/V2/2024-11 受托业绩.xlsx"


def _november(plans: range, scale: str = "1000.50") -> list[list[Any]]:
    return [[2024, 11, f"P{n:04d}", "TC001", "5.5%", "1.2345", scale] for n in plans]


def _ledger(connection: Any) -> list[dict[str, Any]]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('wdh_loads')")
        if cursor.fetchone()[0] is None:
            return []
        cursor.execute("SELECT * FROM wdh_loads ORDER BY committed_at")
        names = [column.name for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _ledger_runs(connection: Any) -> list[str]:
    return [row["run_id"] for row in _ledger(connection)]


def _month(connection: Any, month: str) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT plan_code, _source_file, _run_id FROM {TABLE} "
            "WHERE report_date = %s ORDER BY plan_code",
            (month,),
        )
        return cursor.fetchall()


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_corrected_delivery_replaces_its_whole_month_and_nothing_else(
    baseline: Baseline, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    october = _month(baseline.connection, "2024-10-01")
    write_workbook(inbox / V1, _november(range(11, 15)))  # P0011..P0014
    run_domain(inbox, tmp_path / "v1", database_url=baseline.url, execute=True, run_id="v1")
    write_workbook(inbox / V2, _november(range(21, 23)))  # P0021, P0022: disjoint plans
    second = run_domain(
        inbox, tmp_path / "v2", database_url=baseline.url, execute=True, run_id="v2"
    )
    assert second.load is not None and second.load.rows_deleted == 4
    assert _month(baseline.connection, "2024-11-01") == [
        ("P0021", V2, "v2"),
        ("P0022", V2, "v2"),
    ]
    assert _month(baseline.connection, "2024-10-01") == october  # _run_id included


def test_each_load_leaves_a_ledger_row_naming_its_files_and_checksums(
    baseline: Baseline, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    write_workbook(inbox / V1, _november(range(1, 4)))
    first = run_domain(inbox, tmp_path / "a", database_url=baseline.url, execute=True, run_id="a")
    write_workbook(inbox / V2, _november(range(1, 3)))
    second = run_domain(inbox, tmp_path / "b", database_url=baseline.url, execute=True, run_id="b")
    rows = _ledger(baseline.connection)
    assert [row["run_id"] for row in rows] == ["baseline", "a", "b"]
    assert [row["files"] for row in rows[1:]] == [
        [{"path": V1, "sha256": _sha256(inbox / V1), "period": "2024-11", "rows": 3}],
        [{"path": V2, "sha256": _sha256(inbox / V2), "period": "2024-11", "rows": 2}],
    ]
    assert (rows[2]["rows_deleted"], rows[2]["rows_inserted"]) == (3, 2)
    assert first.load is not None and second.load is not None
    assert [row["plan_sha256"] for row in rows[1:]] == [
        first.load.plan_sha256,
        second.load.plan_sha256,
    ]
    assert {row["loaded_by"] for row in rows} == {baseline.url.username}
    assert {(row["domain"], row["table_name"], row["mode"]) for row in rows} == {
        ("trustee_performance", TABLE, "delete_insert")
    }
    assert len({row["config_sha256"] for row in rows}) == 1
    assert {row["tool_version"] for row in rows} == {work_data_hub.__version__}


def test_a_psql_applied_plan_leaves_the_ledger_row_execute_leaves(
    baseline: Baseline, tmp_path: Path
) -> None:
    with baseline.connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE {TABLE}, wdh_loads")  # both start from an empty warehouse
    inbox = tmp_path / "inbox"
    write_workbook(inbox / V1, _november(range(1, 4)))
    executed = run_domain(inbox, tmp_path / "x", database_url=baseline.url, execute=True)
    by_execute = _ledger(baseline.connection)[-1]
    table = table_digest(baseline.connection, TABLE)
    with baseline.connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE {TABLE}, wdh_loads")
    psql_apply(str(executed.plan_path), baseline.url)
    (by_psql,) = _ledger(baseline.connection)
    assert table_digest(baseline.connection, TABLE) == table
    ignore = {"committed_at", "run_id"}
    assert {k: v for k, v in by_psql.items() if k not in ignore} == {
        k: v for k, v in by_execute.items() if k not in ignore
    }
    assert executed.load is not None and by_psql["plan_sha256"] == executed.load.plan_sha256


def test_an_identical_second_run_loads_nothing_and_reload_loads_again(
    baseline: Baseline, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    inbox = tmp_path / "inbox"
    write_workbook(inbox / V1, _november(range(1, 4)))
    run_domain(inbox, tmp_path / "a", database_url=baseline.url, execute=True, run_id="a")
    loaded = table_digest(baseline.connection, TABLE)  # _run_id included

    caplog.set_level("INFO", logger="work_data_hub")
    again = run_domain(inbox, tmp_path / "b", database_url=baseline.url, execute=True, run_id="b")
    assert again.load is not None and again.load.nothing_to_load and not again.load.executed
    assert table_digest(baseline.connection, TABLE) == loaded
    assert _ledger_runs(baseline.connection) == ["baseline", "a"]
    assert f"already loaded {V1} (period 2024-11) by run a" in caplog.text
    assert "nothing to load" in again.plan_text

    reloaded = run_domain(
        inbox, tmp_path / "c", database_url=baseline.url, execute=True, run_id="c", reload=True
    )
    assert reloaded.load is not None and reloaded.load.rows_inserted == 3
    assert _ledger_runs(baseline.connection) == ["baseline", "a", "c"]
    assert {row[2] for row in _month(baseline.connection, "2024-11-01")} == {"c"}


def test_a_changed_file_for_a_loaded_period_is_loaded(baseline: Baseline, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    path = write_workbook(inbox / "2024_11_受托业绩.xlsx", _november(range(1, 4)))
    run_domain(inbox, tmp_path / "a", database_url=baseline.url, execute=True, run_id="a")
    write_workbook(path, _november(range(1, 4), scale="2000.25"))  # same name, new content
    changed = run_domain(inbox, tmp_path / "b", database_url=baseline.url, execute=True, run_id="b")
    assert changed.load is not None and changed.load.rows_inserted == 3
    assert _ledger_runs(baseline.connection) == ["baseline", "a", "b"]
    assert _ledger(baseline.connection)[-1]["files"][0]["sha256"] == _sha256(path)


def test_an_unreachable_database_fails_before_any_workbook_is_read(tmp_path: Path) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    # Not a workbook: reading it would fail with a workbook error, not the connection's.
    (inbox / "2024_11_受托业绩.xlsx").write_bytes(b"not a workbook")
    url = URL.create("postgresql", "loader", "pw", "127.0.0.1", port, "warehouse")
    with pytest.raises(WarehouseConnectionError, match="Cannot connect to the warehouse"):
        run_domain(inbox, tmp_path / "out", database_url=url, execute=True)
    assert not (tmp_path / "out").exists()


# --- a hardened server -------------------------------------------------------------------


def _with_options(url: URL, search_path: str) -> URL:
    return url.update_query_dict({"options": f"-csearch_path={search_path}"})


def test_a_public_table_named_like_the_stage_never_stands_in_for_it(
    baseline: Baseline, tmp_path: Path
) -> None:
    with baseline.connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS public.wdh_stage_trustee_performance")
        cursor.execute(f"CREATE TABLE public.wdh_stage_trustee_performance (LIKE {TABLE})")
        cursor.execute(
            "INSERT INTO public.wdh_stage_trustee_performance "
            f"SELECT report_date, 'PLANTED', company_code, return_rate, net_asset_value, "
            f"fund_scale, _source_file, _source_row, _run_id FROM {TABLE}"
        )
    try:
        inbox = tmp_path / "inbox"
        write_workbook(inbox / "2024_10_受托业绩.xlsx", trustee_rows(3, month=10))
        run_domain(
            inbox,
            tmp_path / "out",
            database_url=_with_options(baseline.url, "public,pg_temp"),
            execute=True,
            run_id="hardened",
        )
        october = _month(baseline.connection, "2024-10-01")
        assert [row[0] for row in october] == ["P0001", "P0002", "P0003"]
        with baseline.connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*), count(*) FILTER (WHERE plan_code = 'PLANTED') "
                "FROM public.wdh_stage_trustee_performance"
            )
            assert cursor.fetchone() == (5, 5)  # untouched: no delivery row was copied into it
    finally:
        with baseline.connection.cursor() as cursor:
            cursor.execute("DROP TABLE public.wdh_stage_trustee_performance")


def test_with_another_schema_first_the_message_names_the_schema_qualified_table(
    baseline: Baseline, tmp_path: Path
) -> None:
    with baseline.connection.cursor() as cursor:
        cursor.execute("CREATE SCHEMA IF NOT EXISTS scratch")
        cursor.execute(f"ALTER TABLE {TABLE} ALTER COLUMN fund_scale TYPE integer")
    try:
        with pytest.raises(LoadFailedError) as caught:
            run_domain(
                _november_inbox(tmp_path),
                tmp_path / "out",
                database_url=_with_options(baseline.url, "scratch,public"),
                execute=True,
            )
        assert "table public.trustee_performance does not match" in str(caught.value)
    finally:
        with baseline.connection.cursor() as cursor:
            cursor.execute("DROP SCHEMA scratch CASCADE")


def test_a_least_privilege_loader_can_load_into_existing_objects(
    baseline: Baseline, loader_role: str, tmp_path: Path
) -> None:
    outcome = run_domain(
        _november_inbox(tmp_path),
        tmp_path / "out",
        database_url=baseline.url.set(username=loader_role),
        execute=True,
        run_id="least",
    )
    assert outcome.load is not None and outcome.load.rows_inserted == 4
    assert _ledger(baseline.connection)[-1]["loaded_by"] == loader_role


def test_a_missing_privilege_is_a_message_naming_the_grant(
    baseline: Baseline, loader_role: str, tmp_path: Path
) -> None:
    with baseline.connection.cursor() as cursor:
        cursor.execute(f"REVOKE DELETE ON {TABLE} FROM {loader_role}")
    with pytest.raises(LoadFailedError) as caught:
        run_domain(
            _november_inbox(tmp_path),
            tmp_path / "out",
            database_url=baseline.url.set(username=loader_role),
            execute=True,
        )
    message = str(caught.value)
    assert f"GRANT DELETE ON public.trustee_performance TO {loader_role}" in message
    assert baseline.unchanged()


def test_a_missing_table_the_loader_may_not_create_names_the_grant(
    baseline: Baseline, loader_role: str, tmp_path: Path
) -> None:
    with baseline.connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE {TABLE}")
    with pytest.raises(LoadFailedError) as caught:
        run_domain(
            _november_inbox(tmp_path),
            tmp_path / "out",
            database_url=baseline.url.set(username=loader_role),
            execute=True,
        )
    assert f"GRANT CREATE ON SCHEMA public TO {loader_role}" in str(caught.value)


# --- interrupts -------------------------------------------------------------------------


def _wait_until_it_says_it_waits(child: subprocess.Popen[str], log: Path) -> None:
    for _ in range(600):
        if "waiting for the lock on table trustee_performance" in log.read_text("utf-8"):
            return
        if child.poll() is not None:
            pytest.fail(f"the load ended before it queued: {log.read_text('utf-8')}")
        time.sleep(0.1)
    pytest.fail(f"the load never said it waits for the lock: {log.read_text('utf-8')}")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupt_stops_a_queued_load_which_says_what_it_waits_for(
    signum: int, baseline: Baseline, tmp_path: Path
) -> None:
    inbox = _november_inbox(tmp_path)
    url = baseline.url.render_as_string(hide_password=False)
    script = textwrap.dedent(
        f"""
        import logging, sys
        from pathlib import Path
        from sqlalchemy.engine import make_url
        from tests.reliability.support import run_domain
        logging.basicConfig(level=logging.INFO, stream=sys.stderr, force=True)
        run_domain(Path({str(inbox)!r}), Path({str(tmp_path / "out")!r}),
                   database_url=make_url({url!r}), execute=True)
        """
    )
    holder = _connect(baseline.url)
    try:
        with holder.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key(TABLE),))
        log = tmp_path / "stderr.txt"
        with log.open("w", encoding="utf-8") as stderr_file:
            child = subprocess.Popen(
                [sys.executable, "-c", script],
                cwd=PROJECT_ROOT,
                stdout=subprocess.DEVNULL,
                stderr=stderr_file,
                text=True,
            )
            # Said while it waits, not after: the run's log names the holder meanwhile.
            _wait_until_it_says_it_waits(child, log)
            child.send_signal(signum)
            # Without the fix the load waits for the holder, which never commits: this times out.
            child.wait(timeout=60)
        stderr = log.read_text(encoding="utf-8")
    finally:
        holder.rollback()
        holder.close()
    assert child.returncode != 0
    assert "waiting for the lock on table trustee_performance" in stderr
    assert "another load holds it (pid" in stderr
    assert "canceling statement due to user request" in stderr
    assert "rolled back" in stderr
    assert baseline.unchanged()
    assert _ledger_runs(baseline.connection) == ["baseline"]


def _documented_queries() -> list[str]:
    page = (PROJECT_ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    block = page.split("## The ledger queries", 1)[1].split("```sql\n", 1)[1].split("```", 1)[0]
    return [query.strip() for query in block.split(";") if query.strip()]


def test_the_documented_ledger_queries_answer_their_questions(
    baseline: Baseline, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    write_workbook(inbox / V1, _november(range(11, 15)))
    run_domain(inbox, tmp_path / "v1", database_url=baseline.url, execute=True, run_id="v1")
    which_row, last_month, *_ = _documented_queries()
    with baseline.connection.cursor() as cursor:
        cursor.execute(which_row)
        (found,) = cursor.fetchall()
        assert (found[0], found[2], found[5]) == (V1, "v1", _sha256(inbox / V1))
        # "last month" relative to now: move this test's loads there, then ask.
        cursor.execute("UPDATE wdh_loads SET committed_at = committed_at - interval '1 month'")
        cursor.execute(last_month)
        assert [(row[2], row[3]) for row in cursor.fetchall()] == [
            ("baseline", "2024_10_受托业绩.xlsx"),
            ("v1", V1),
        ]


def test_several_files_load_a_file_at_a_time_and_a_cross_file_duplicate_rejects_both(
    baseline: Baseline, tmp_path: Path
) -> None:
    """Three periods in one run: the rows are kept per file (spooled), the duplicate check and
    the reject ratio still see all files before anything is written."""
    inbox = tmp_path / "inbox"
    october = trustee_rows(4, month=10)
    # The October file also carries a November row whose key the November file has too.
    write_workbook(
        inbox / "2024_10_受托业绩.xlsx", [*october, [2024, 11, "P0002", "TC001", 1, 1, 1]]
    )
    write_workbook(inbox / "2024_11_受托业绩.xlsx", trustee_rows(3, month=11))
    write_workbook(inbox / "2024_12_受托业绩.xlsx", trustee_rows(5, month=12))
    outcome = run_domain(
        inbox,
        tmp_path / "out",
        database_url=baseline.url,
        execute=True,
        max_files=3,
        max_reject_ratio=0.2,
        run_id="three-files",
    )
    duplicates = outcome.rejects[outcome.rejects["column"].str.contains("plan_code")]
    assert duplicates[["file", "row"]].values.tolist() == [
        ["2024_10_受托业绩.xlsx", 6],
        ["2024_11_受托业绩.xlsx", 3],
    ]
    assert set(duplicates["reason"]) == {
        "duplicate key; rows with this key: 2024_10_受托业绩.xlsx row 6; 2024_11_受托业绩.xlsx row 3"
    }
    assert outcome.load is not None and outcome.load.rows_inserted == 4 + 2 + 5
    assert outcome.summary["rows_rejected"] == 2
    with baseline.connection.cursor() as cursor:
        cursor.execute(f"SELECT _source_file, count(*) FROM {TABLE} GROUP BY 1 ORDER BY 1")
        assert cursor.fetchall() == [
            ("2024_10_受托业绩.xlsx", 4),
            ("2024_11_受托业绩.xlsx", 2),
            ("2024_12_受托业绩.xlsx", 5),
        ]
    assert "--   2024_11_受托业绩.xlsx  period 2024-11  rows 2  " in outcome.plan_text
