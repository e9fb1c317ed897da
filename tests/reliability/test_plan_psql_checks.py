"""A plan psql can check: edited COPY rows are refused inside the transaction, before any change.

The plan declares a digest of its rows; right after the COPY the server computes the same
digest over the rows it staged and refuses the plan ("modified rows") when they differ, so
``psql -f`` of an edited plan changes nothing, as ``apply_plan`` refuses it by its checksum.
Values the server spells differently once typed (``1234.50``, ``1e3``, ``+5``, a number rounded
to the column's scale, dates) never make an intact plan fail; NULL and an empty text differ.
The digest is over the staged values, so an edit that keeps every value (``1234.50`` to
``1234.5``) is not a change it sees; one that changes a value, a row or its lineage is.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from sqlalchemy.engine import URL

from tests.support.database import physical_rows, run_psql, table_exists
from work_data_hub.config import parse_domains
from work_data_hub.load.plan import build_load_plan
from work_data_hub.load.psql import render_psql

pytestmark = pytest.mark.database

TABLE = "digest_checked"
DOMAIN = parse_domains(
    {
        "domains": {
            "checked": {
                "pattern": r"(?P<year>\d{4})_(?P<month>\d{2})_checked",
                "table": TABLE,
                "refresh_scope": ["month"],
                "columns": {
                    "month": {"type": "date", "rule": "month_date", "required": True},
                    "note": {"type": "text", "rule": "text"},
                    "amount": {"type": "numeric(12,2)", "rule": "decimal"},
                    "rate": {"type": "numeric(8,6)", "rule": "rate"},
                    "whole": {"type": "integer", "rule": "integer"},
                    "round": {"type": "numeric(10,0)", "rule": "decimal"},
                },
            }
        }
    }
)["checked"]
# Each spelling the server stores differently from the COPY text, and text it stores as is.
AMOUNTS = ["1234.50", "1e3", "+5", "007.5", "0.125", "-0.005", "-0.004", ".5", "5.", "-0", None]
NOTES = ["tab\there", "line\nbreak", "back\\slash", "规模明细", "", None, "\\N", "-", "3:abc"]
NOTES += ['say "hi"', "(a, b)", "full\u3000width", "no\xa0break", " ", "x\x0by"]


def _rows(count: int) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "month": ["2024-11-01"] * count,
            "note": [NOTES[i % len(NOTES)] for i in range(count)],
            "amount": [AMOUNTS[i % len(AMOUNTS)] for i in range(count)],
            "rate": [["0.055", "0.0000005", "1.2345675", None][i % 4] for i in range(count)],
            "whole": [["+7", "-0", "12", None][i % 4] for i in range(count)],
            "round": [["2.5", "-2.5", "10", "1e2"][i % 4] for i in range(count)],
            "_source_file": ["2024/11/2024_11_checked.xlsx"] * count,
            "_source_row": list(range(2, count + 2)),
        },
        schema_overrides={"_source_row": pl.Int64},
    )


def _plan(folder: Path, count: int, run_id: str = "checked") -> Path:
    plan = build_load_plan(
        _rows(count),
        DOMAIN,
        run_id=run_id,
        rows_read=count,
        rows_rejected=0,
        max_reject_ratio=0,
        created_at=dt.datetime.now(dt.UTC),
    )
    path = folder / f"{run_id}.sql"
    path.write_bytes(render_psql(plan))
    return path


def _edited(plan: Path, old: bytes, new: bytes, count: int = 1) -> Path:
    data = plan.read_bytes()
    assert data.count(old) >= count, old
    edited = plan.with_name("edited.sql")
    edited.write_bytes(data.replace(old, new, count))
    return edited


def test_an_intact_plan_applies_with_psql_whatever_the_server_respells(
    tmp_path: Path, database_url: URL, db_connection: Any
) -> None:
    count = 3_007
    result = run_psql(str(_plan(tmp_path, count)), database_url)
    assert result.returncode == 0, result.stderr
    rows = physical_rows(db_connection, TABLE)
    assert len(rows) == count
    with db_connection.cursor() as cursor:
        cursor.execute(f"SELECT amount, round FROM {TABLE} WHERE _source_row IN (6, 7, 8, 9)")
        # Rounded half away from zero to the column's scale, as the digest expects.
        assert sorted(cursor.fetchall()) == [
            (Decimal("-0.01"), Decimal("-3")),
            (Decimal("0.00"), Decimal("10")),
            (Decimal("0.13"), Decimal("3")),
            (Decimal("0.50"), Decimal("100")),
        ]


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b"\t1234.50\t", b"\t9234.50\t"),  # a value, same length
        (b"\t1234.50\t", b"\t1234.51\t"),  # a value, longer
        (b"\xe8\xa7\x84\xe6\xa8\xa1", b"\xe6\x98\x8e\xe7\xbb\x86"),  # text
        (b"\t\\N\t-0.005\t", b"\t\t-0.005\t"),  # a NULL note made an empty text
        (b"\t7\n", b"\t8\n"),  # lineage: the row number
    ],
)
def test_psql_refuses_a_plan_whose_rows_were_edited_and_changes_nothing(
    old: bytes, new: bytes, tmp_path: Path, database_url: URL, db_connection: Any
) -> None:
    edited = _edited(_plan(tmp_path, 40), old, new)
    result = run_psql(str(edited), database_url)
    assert result.returncode != 0
    assert "modified rows" in result.stderr and "the plan declares" in result.stderr
    assert "The plan was modified after it was made" in result.stderr  # the HINT
    assert not table_exists(db_connection, TABLE), "the transaction rolled back"


def test_psql_refuses_a_plan_with_a_row_removed_or_added(
    tmp_path: Path, database_url: URL, db_connection: Any
) -> None:
    plan = _plan(tmp_path, 12)
    lines = plan.read_bytes().split(b"\n")
    copy_row = next(i for i, line in enumerate(lines) if line.startswith(b"2024-11-01\t"))
    for changed in (
        lines[:copy_row] + lines[copy_row + 1 :],
        [*lines[:copy_row], lines[copy_row], *lines[copy_row:]],
    ):
        edited = tmp_path / "edited.sql"
        edited.write_bytes(b"\n".join(changed))
        result = run_psql(str(edited), database_url)
        assert result.returncode != 0 and "modified rows" in result.stderr
        assert not table_exists(db_connection, TABLE)


def test_the_check_runs_right_after_the_copy_before_any_row_changes() -> None:
    plan = build_load_plan(
        _rows(3), DOMAIN, run_id="order", rows_read=3, rows_rejected=0, max_reject_ratio=0
    )
    purposes = [statement.purpose for statement in plan.statements]
    assert purposes.index("check_rows") == purposes.index("copy") + 1
    assert purposes.index("check_rows") < purposes.index("delete")
