"""The guards inside a plan: psql applies a plan once, and never after a newer load of its domain."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import URL

from tests.support.database import physical_rows, run_psql
from tests.support.plans import notes_plan

pytestmark = pytest.mark.database


def test_psql_applies_a_plan_once(tmp_path: Path, database_url: URL, db_connection: Any) -> None:
    plan = notes_plan(tmp_path, "run-1", dt.datetime.now(dt.UTC), ["A", "B"])
    assert run_psql(plan, database_url).returncode == 0
    before = physical_rows(db_connection, "notes")

    again = run_psql(plan, database_url)
    assert again.returncode != 0
    assert "already applied" in again.stderr
    assert physical_rows(db_connection, "notes") == before


def test_psql_refuses_a_stale_plan_unless_the_session_forces_it(
    tmp_path: Path, database_url: URL, db_connection: Any
) -> None:
    older = notes_plan(tmp_path, "older", dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5), ["A"])
    newer = notes_plan(tmp_path, "newer", dt.datetime.now(dt.UTC), ["A", "B"])
    assert run_psql(newer, database_url).returncode == 0
    before = physical_rows(db_connection, "notes")

    stale = run_psql(older, database_url)
    assert stale.returncode != 0
    assert "stale" in stale.stderr and "run newer committed a newer load" in stale.stderr
    assert physical_rows(db_connection, "notes") == before

    forced = run_psql(older, database_url, env={"PGOPTIONS": "-c wdh.force_stale=on"})
    assert forced.returncode == 0, forced.stderr
    with db_connection.cursor() as cursor:
        cursor.execute("SELECT code, note FROM notes ORDER BY code")
        assert cursor.fetchall() == [("A", "from older")]
