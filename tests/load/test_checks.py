"""The check registry: one declaration yields the plan's guard and the verdict apply_plan prints."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import URL

from tests.support.database import psql_apply
from tests.support.plans import notes_plan
from work_data_hub.config.checks import (
    CHECKS,
    FORCE_STALE,
    STALE,
    CheckDeclaration,
    declare_check,
)
from work_data_hub.load import checks
from work_data_hub.load.checks import (
    CheckSubject,
    check_queries,
    force_settings,
    guard_sql,
    register_check,
    sql_checks,
)
from work_data_hub.load.plan_file import read_saved_plan
from work_data_hub.warehouse.checks import run_checks

SUBJECT = CheckSubject("notes", "notes", "delete_insert", "2024-11-05T10:00:00+00:00", "r1")


@pytest.fixture
def scratch_check() -> Iterator[str]:
    """A check declared for one test only, removed again afterwards."""
    name = "scratch"
    declare_check(CheckDeclaration(name=name, reads="warehouse", hint="fix it"))
    yield name
    CHECKS.pop(name, None)
    checks._IMPLEMENTATIONS.pop(name, None)


def test_registering_sql_for_an_undeclared_check_fails() -> None:
    with pytest.raises(ValueError, match="not declared"):
        register_check("no such check")


def test_a_check_cannot_be_declared_or_registered_twice() -> None:
    with pytest.raises(ValueError, match="declared twice"):
        declare_check(CheckDeclaration(name=STALE.name, reads="warehouse", hint="x"))
    with pytest.raises(ValueError, match="registered twice"):
        register_check(STALE.name)


def test_a_declared_check_without_sql_fails_loudly(scratch_check: str) -> None:
    with pytest.raises(RuntimeError, match=r"without SQL.*scratch"):
        sql_checks()


def test_every_sql_check_of_the_guard_step_is_in_the_plans_guard_block() -> None:
    guard = guard_sql(SUBJECT)
    for query in check_queries(SUBJECT, step="guard"):
        assert query.sql in guard
        assert f"'{query.check.name}'" in guard
    # An override is read from the session: the plan's text is the same with or without it.
    assert f"current_setting('{FORCE_STALE.setting}', true)" in guard


def test_one_declaration_is_both_a_guard_and_a_verdict(scratch_check: str) -> None:
    @register_check(scratch_check)
    def _scratch(subject: CheckSubject, options: object) -> checks.CheckQuery:
        sql = "SELECT 'always' AS message, NULL::text AS hint"
        return checks.CheckQuery(CHECKS[scratch_check], sql)

    assert "SELECT 'always' AS message" in guard_sql(SUBJECT)
    assert [query.check.name for query in check_queries(SUBJECT)][-1] == scratch_check


@pytest.mark.database
def test_the_verdict_reads_the_ledger_of_the_tables_schema(
    tmp_path: Path, database_url: URL, db_connection: Any
) -> None:
    # The table and its ledger live in schema "other"; public has a ledger of its own. The
    # plan pins "other", so the verdict must read other.wdh_loads, not the search_path's first.
    database = database_url.database
    with db_connection.cursor() as cursor:
        cursor.execute("CREATE SCHEMA other")
        cursor.execute(f'ALTER DATABASE "{database}" SET search_path = other')
    older = notes_plan(tmp_path, "older", dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5), ["A"])
    newer = notes_plan(tmp_path, "newer", dt.datetime.now(dt.UTC), ["A", "B"])
    psql_apply(str(newer), database_url)
    with db_connection.cursor() as cursor:
        cursor.execute(f'ALTER DATABASE "{database}" SET search_path = public, other')
        cursor.execute("CREATE TABLE public.wdh_loads (LIKE other.wdh_loads)")
        cursor.execute("SET search_path = public, other")

    def verdict(plan: Path, force: bool) -> list[str]:
        subject = CheckSubject.of(read_saved_plan(plan).summary)
        with db_connection.cursor() as cursor:
            cursor.execute("BEGIN READ ONLY")
            found = run_checks(cursor, "notes", check_queries(subject), force_settings(force))
            cursor.execute("ROLLBACK")
        return [f"{result.refuses}: {result.text}" for result in found]

    (applied,) = verdict(newer, force=False)
    assert applied.startswith("True: already applied: run newer applied this plan")
    (stale,) = verdict(older, force=False)
    assert stale.startswith("True: stale: the plan was made at") and "run newer" in stale
    (lifted,) = verdict(older, force=True)
    assert lifted.startswith("False: stale:")
