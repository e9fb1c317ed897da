"""Undo and table changes as a user runs them: `kedro run --pipelines undo`, apply_plan, diff."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import URL

from tests.support.cli import run_kedro, run_trustee
from tests.support.database import columns_of, table_digest
from tests.support.history import ledger_rows
from tests.support.workbooks import TRUSTEE_HEADERS, write_workbook

pytestmark = pytest.mark.database

TABLE = "trustee_performance"


def _output(result: subprocess.CompletedProcess[str]) -> str:
    return " ".join((result.stdout + result.stderr).split())


def _november(inbox: Path, folder: str, codes: list[str], scale: str) -> None:
    rows: list[list[Any]] = [TRUSTEE_HEADERS]
    rows += [[2024, 11, code, "C1", "5%", "1.5", scale] for code in codes]
    write_workbook(inbox / folder / "2024_11_受托业绩.xlsx", rows)


def _undo(project: Path, url: URL, params: str) -> subprocess.CompletedProcess[str]:
    return run_kedro(project, "run", "--pipelines", "undo", "--params", params, database_url=url)


def test_undo_writes_a_reviewed_plan_that_apply_plan_applies_once(
    project_copy: Path, tmp_path: Path, database_url: URL, db_connection: Any
) -> None:
    inbox = tmp_path / "inbox"
    _november(inbox, "V1", ["P1", "P2", "P3"], "100")
    loaded = run_trustee(project_copy, f"inbox={inbox},execute=true", database_url=database_url)
    assert loaded.returncode == 0, _output(loaded)
    after_v1 = table_digest(db_connection, TABLE)
    _november(inbox, "V2", ["P1", "P2"], "200")  # the corrected delivery wins (V2 folder)
    loaded = run_trustee(project_copy, f"inbox={inbox},execute=true", database_url=database_url)
    assert loaded.returncode == 0, _output(loaded)
    after_v2 = table_digest(db_connection, TABLE)
    v2_run = ledger_rows(db_connection)[-1]["run_id"]

    planned = _undo(project_copy, database_url, f"run={v2_run}")
    assert planned.returncode == 0, _output(planned)
    assert f"undoes run {v2_run}" in _output(planned)
    assert "rows to delete: 2" in _output(planned) and "rows to insert: 3" in _output(planned)
    assert table_digest(db_connection, TABLE) == after_v2  # a plan only
    plans = [p for p in (project_copy / "data/08_reporting/plans/undo.sql").rglob("*.sql")]
    assert len(plans) == 1

    applied = run_kedro(
        project_copy,
        "run",
        "--pipelines",
        "apply_plan",
        "--params",
        f"plan={plans[0]},execute=true",
        database_url=database_url,
    )
    assert applied.returncode == 0, _output(applied)
    assert table_digest(db_connection, TABLE) == after_v1
    ledger = ledger_rows(db_connection)
    assert [(row["mode"], row["undoes_run"]) for row in ledger][-1] == ("undo", v2_run)
    assert len(ledger) == 3

    again = _undo(project_copy, database_url, f"run={v2_run},execute=true,force=true")
    assert again.returncode != 0
    assert "undone already" in _output(again) and "Nothing was written" in _output(again)
    assert table_digest(db_connection, TABLE) == after_v1


def test_a_newly_declared_column_is_listed_by_diff_and_an_unknown_header_warns(
    project_copy: Path, tmp_path: Path, database_url: URL, db_connection: Any
) -> None:
    inbox = tmp_path / "inbox"
    rows: list[list[Any]] = [
        [*TRUSTEE_HEADERS, "备注"],
        [2024, 11, "P1", "C1", "5%", "1.5", "9", "x"],
    ]
    write_workbook(inbox / "2024_11_受托业绩.xlsx", rows)
    loaded = run_trustee(project_copy, f"inbox={inbox},execute=true", database_url=database_url)
    assert loaded.returncode == 0, _output(loaded)
    assert "WARNING" in loaded.stdout + loaded.stderr
    assert "header(s) ['备注'] of a delivery are declared by no column" in _output(loaded)

    sources = project_copy / "conf/base/data_sources.yml"
    declared = yaml.safe_load(sources.read_text(encoding="utf-8"))
    declared["domains"]["trustee_performance"]["columns"]["remark"] = {
        "type": "text",
        "source": "备注",
        "optional": True,
    }
    sources.write_text(yaml.safe_dump(declared, allow_unicode=True, sort_keys=False), "utf-8")
    planned = run_trustee(project_copy, f"inbox={inbox},diff=true", database_url=database_url)
    assert planned.returncode == 0, _output(planned)
    assert "table changes (2, in the load's transaction):" in _output(planned)
    assert "ALTER TABLE public.trustee_performance ADD COLUMN remark text" in _output(planned)
    assert ("remark", "text") not in columns_of(db_connection, TABLE)

    loaded = run_trustee(
        project_copy, f"inbox={inbox},execute=true,reload=true", database_url=database_url
    )
    assert loaded.returncode == 0, _output(loaded)
    assert "table change: ALTER TABLE public.trustee_performance ADD COLUMN remark text" in (
        _output(loaded)
    )
    assert [change["column"] for change in ledger_rows(db_connection)[-1]["table_changes"]] == [
        "remark",
        "remark",
    ]
