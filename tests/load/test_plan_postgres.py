"""The plan is the load: `psql -v ON_ERROR_STOP=1 -f PLAN` on a real PostgreSQL gives the rows."""

from __future__ import annotations

import copy
import datetime as dt
import subprocess
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import polars as pl
import pytest
import yaml
from sqlalchemy.engine import URL

from tests.support.cli import run_trustee
from tests.support.database import run_psql
from tests.support.workbooks import TRUSTEE_HEADERS, write_workbook
from work_data_hub.config import DomainConfig, parse_domains
from work_data_hub.load.plan import build_load_plan
from work_data_hub.load.psql import render_psql

pytestmark = pytest.mark.database

# Every awkward character COPY text format must escape, plus what must pass through untouched.
TRICKY_TEXTS = [
    "tab\there",
    "new\nline",
    "carriage\rreturn",
    "crlf\r\nend",
    "back\\slash",
    "trailing backslash\\",
    "\\N",
    "\\.",
    "\\t is not a tab",
    "single ' double \" quotes",
    "emoji 😀🚀",
    "中文文本，全角：测试",
    "NULL",
    "",
    " spaced ",
    "semicolon; -- not a comment",
    "$$dollar$$",
]

NOTES_DOMAIN: dict[str, Any] = {
    "domains": {
        "notes": {
            "pattern": r"(?P<year>\d{4})_(?P<month>\d{2})_notes",
            "table": "备注 表",
            "unique_key": ["编号"],
            "refresh_scope": ["编号"],
            "columns": {
                "编号": {"type": "integer", "rule": "integer", "required": True},
                "备注": {"type": "text", "rule": "text"},
            },
        }
    }
}


def apply_plan(plan: Path, url: URL, *, succeeds: bool = True) -> subprocess.CompletedProcess[str]:
    """Exactly what a person types: psql -v ON_ERROR_STOP=1 -f PLAN <database>."""
    result = run_psql(plan, url)
    assert (result.returncode == 0) is succeeds, result.stderr
    return result


def table_rows(connection: Any, table: str, *, with_run_id: bool = False) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
            "ORDER BY ordinal_position",
            (table,),
        )
        columns = [name for (name,) in cursor.fetchall() if with_run_id or name != "_run_id"]
        quoted = ", ".join('"' + name.replace('"', '""') + '"' for name in columns)
        cursor.execute(f'SELECT {quoted} FROM "{table}" ORDER BY "_source_file", "_source_row"')
        return list(cursor.fetchall())


def notes_plan(tmp_path: Path, texts: list[str | None], run_id: str) -> tuple[Path, DomainConfig]:
    domain = parse_domains(NOTES_DOMAIN)["notes"]
    rows = pl.from_pandas(
        pd.DataFrame(
            {
                "编号": pd.Series([str(i) for i in range(1, len(texts) + 1)], dtype="string"),
                "备注": pd.Series(texts, dtype="string"),
                "_source_file": "2024_11_notes 😀 \"'.xlsx",
                "_source_row": range(2, len(texts) + 2),
            }
        )
    )
    plan = build_load_plan(
        rows, domain, run_id=run_id, rows_read=len(rows), rows_rejected=0, max_reject_ratio=0
    )
    path = tmp_path / f"notes_{run_id}.sql"
    path.write_bytes(render_psql(plan))
    return path, domain


def test_copy_text_round_trips_awkward_values(
    tmp_path: Path, database_url: URL, db_connection: Any
) -> None:
    texts: list[str | None] = [*TRICKY_TEXTS, None]
    plan, _ = notes_plan(tmp_path, texts, "run-1")
    apply_plan(plan, database_url)
    rows = table_rows(db_connection, "备注 表")
    assert [row[1] for row in rows] == texts  # '' stays '', NULL stays NULL
    assert [row[0] for row in rows] == list(range(1, len(texts) + 1))
    assert {row[2] for row in rows} == {"2024_11_notes 😀 \"'.xlsx"}


def test_rows_land_in_the_table_in_source_order(
    tmp_path: Path, database_url: URL, db_connection: Any
) -> None:
    """The insert has no ORDER BY: the stage's own scan keeps the rows in the order of the file."""
    plan, _ = notes_plan(tmp_path, [f"note {i}" for i in range(5000)], "run-1")
    apply_plan(plan, database_url)
    with db_connection.cursor() as cursor:
        cursor.execute('SELECT "_source_row" FROM "备注 表" ORDER BY ctid')
        assert [row for (row,) in cursor.fetchall()] == list(range(2, 5002))


def test_the_same_plan_twice_and_a_later_run_leave_the_same_table(
    tmp_path: Path, database_url: URL, db_connection: Any
) -> None:
    first, _ = notes_plan(tmp_path, TRICKY_TEXTS, "run-1")
    apply_plan(first, database_url)
    once = table_rows(db_connection, "备注 表")
    # A plan is applied once (its plan_sha256 is unique in the ledger): the second is refused.
    again = apply_plan(first, database_url, succeeds=False)
    assert "wdh_loads" in again.stderr
    assert table_rows(db_connection, "备注 表") == once
    later, _ = notes_plan(tmp_path, TRICKY_TEXTS, "run-2")
    apply_plan(later, database_url)
    assert table_rows(db_connection, "备注 表") == once
    run_ids = {row[-1] for row in table_rows(db_connection, "备注 表", with_run_id=True)}
    assert run_ids == {"run-2"}


def test_delete_insert_replaces_only_the_keys_in_the_new_rows(
    tmp_path: Path, database_url: URL, db_connection: Any
) -> None:
    apply_plan(notes_plan(tmp_path, ["a", "b", "c"], "run-1")[0], database_url)
    apply_plan(notes_plan(tmp_path, ["A", "B"], "run-2")[0], database_url)
    rows = table_rows(db_connection, "备注 表", with_run_id=True)
    assert [(row[0], row[1], row[-1]) for row in rows] == [
        (1, "A", "run-2"),
        (2, "B", "run-2"),
        (3, "c", "run-1"),
    ]


# --- the plan file the project writes, through `kedro run` --------------------------------


def _with_remark_column(project: Path) -> None:
    """Trustee plus a free-text 备注 column, declared in data_sources.yml only."""
    path = project / "conf/base/data_sources.yml"
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    trustee = copy.deepcopy(raw["domains"]["trustee_performance"])
    trustee["columns"]["remark"] = {"type": "text", "rule": "text", "source": "备注"}
    trustee["table"] = "受托业绩 备注"
    raw["domains"]["trustee_performance"] = trustee
    path.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")


# Cells as written to the workbook and the text the warehouse must hold. Excel stores a
# carriage return as `_x000D_` (an XML text node cannot keep a bare CR); text cells are trimmed.
WORKBOOK_TEXTS = [
    ("tab\there", "tab\there"),
    ("new\nline", "new\nline"),
    ("carriage_x000D_return", "carriage\rreturn"),
    ("back\\slash \\N \\.", "back\\slash \\N \\."),
    ("single ' double \" quotes", "single ' double \" quotes"),
    ("emoji 😀🚀", "emoji 😀🚀"),
    ("中文文本，全角：测试", "中文文本，全角：测试"),
    ("  padded  ", "padded"),
    (None, None),
]


def test_the_plan_kedro_writes_applies_to_a_fresh_database(
    project_copy: Path, tmp_path: Path, database_url: URL, db_connection: Any
) -> None:
    _with_remark_column(project_copy)
    inbox = tmp_path / "inbox"
    rows: list[list[Any]] = [[*TRUSTEE_HEADERS, "备注"]]
    for number, (cell, _) in enumerate(WORKBOOK_TEXTS, start=1):
        rows.append(
            [
                2024,
                "11月",
                f"p-{number:03d}",
                "c_1",
                f"{number}%",
                f"¥{number},000.5",
                None if number == 2 else f"{number * 1000:,}",
                cell,
            ]
        )
    rows.insert(3, [])  # a blank row: Excel rows after it keep their numbers
    rows.append([2024, 11, "P900", "C1", "abc\tdef", "1", "1", "rejected, not loaded"])
    rows.append(["合计", None, None, None, None, None, None, None])
    write_workbook(inbox / "2024_11_受托业绩.xlsx", rows, sheet="十一月")

    result = run_trustee(project_copy, f"inbox={inbox}")
    assert result.returncode == 0, result.stdout + result.stderr
    rejects = [
        p for p in (project_copy / "data/08_reporting/rejects").rglob("*.csv") if p.is_file()
    ]
    assert len(rejects) == 1
    assert pd.read_csv(rejects[0], encoding="utf-8-sig").to_dict("records") == [
        {
            "file": "2024_11_受托业绩.xlsx",
            "sheet": "十一月",
            "row": 12,
            "column": "return_rate",
            "value": "abc\tdef",
            "reason": "not a number",
        }
    ]
    plans = [p for p in (project_copy / "data/08_reporting/plans").rglob("*.sql") if p.is_file()]
    assert len(plans) == 1

    apply_plan(plans[0], database_url)
    loaded = table_rows(db_connection, "受托业绩 备注")
    expected = []
    for number, (_, text) in enumerate(WORKBOOK_TEXTS, start=1):
        expected.append(
            (
                dt.date(2024, 11, 1),
                f"P{number:03d}",
                "C1",
                Decimal(number) / 100,
                Decimal(f"{number}000.5000"),
                None if number == 2 else Decimal(number * 1000),
                text,
                "2024_11_受托业绩.xlsx",
                number + 1 if number < 3 else number + 2,
            )
        )
    assert loaded == expected

    # Applied once only (the ledger's plan_sha256 is unique); the refusal changes nothing.
    apply_plan(plans[0], database_url, succeeds=False)
    assert table_rows(db_connection, "受托业绩 备注") == expected
