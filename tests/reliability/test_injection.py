"""SQL in headers, sheet names, file names and cell values is stored as text, never executed.

A canary table sits next to the target; every hostile string below tries to drop it or to end
the COPY data early. After the load (through the driver, and through psql applying the plan
file) the canary is intact and every hostile value reads back exactly as delivered.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.reliability.support import run_domain, write_workbook
from tests.support.database import run_psql
from work_data_hub.config import parse_domains
from work_data_hub.load.sql import quote

pytestmark = pytest.mark.database

HOSTILE_VALUES = [
    "'); DROP TABLE canary; --",
    '"; DROP TABLE canary; --',
    "x\n\\.\nDROP TABLE canary;\n",  # ends COPY data early if newlines or \. are not escaped
    "tab\there\\N not null \\\\ backslashes",
    "$$; DROP TABLE canary; $$",
    "\\copy canary to '/tmp/leak'",
    "E'\\x27'; SELECT pg_sleep(10); --",
]
HOSTILE_HEADER = '备注"); DROP TABLE canary; --'
HOSTILE_SHEET = "x'); DROP TABLE canary;--"
HOSTILE_FILE = "2024_11_notes'; DROP TABLE canary; --\"$$.xlsx"
NEWLINE_FILE = "2024_10_notes\n.\nDROP TABLE canary;.xlsx"  # a plan comment must not end early
# Declared names are quoted too (a column name is configuration, but quoting must not depend on it).
ODD_COLUMN = 'note"); DROP TABLE canary; --'


def _domain() -> Any:
    raw = {
        "domains": {
            "notes": {
                "pattern": r"(?P<year>20\d{2})_(?P<month>1[0-2]|0?[1-9])_notes",
                "table": "notes; DROP TABLE canary",
                "unique_key": ["ref"],
                "refresh_scope": ["ref"],
                "columns": {
                    "ref": {"rule": "code", "source": "编号", "required": True},
                    ODD_COLUMN: {"rule": "text", "source": "说明"},
                },
            }
        }
    }
    return parse_domains(raw)["notes"]


def _canary(connection: Any) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM canary ORDER BY id")
        return cursor.fetchall()


def _loaded(connection: Any, table: str) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT ref, {quote(ODD_COLUMN)}, _source_file FROM {quote(table)} ORDER BY ref"
        )
        return cursor.fetchall()


def test_hostile_text_round_trips_and_runs_nothing(
    tmp_path: Path, shared_database: Any, shared_connection: Any
) -> None:
    domain = _domain()
    with shared_connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS canary, {quote(domain.table)}, wdh_loads")
        cursor.execute("CREATE TABLE canary (id integer PRIMARY KEY, note text)")
        cursor.execute("INSERT INTO canary VALUES (1, 'alive')")
    inbox = tmp_path / "inbox"
    rows = [[f"R{index}", value, "spare"] for index, value in enumerate(HOSTILE_VALUES)]
    write_workbook(
        inbox / HOSTILE_FILE, rows, headers=["编号", "说明", HOSTILE_HEADER], sheet=HOSTILE_SHEET
    )

    write_workbook(
        inbox / NEWLINE_FILE, [["Z9", "from October", ""]], headers=["编号", "说明", "x"]
    )
    outcome = run_domain(
        inbox,
        tmp_path / "out",
        domain=domain,
        database_url=shared_database,
        execute=True,
        max_files=2,
    )

    assert outcome.summary["unknown_columns"] == ["x", '备注");DROPTABLEcanary;--']
    assert _canary(shared_connection) == [(1, "alive")]
    # The text rule trims: the value is the delivered text without leading or trailing blanks.
    expected = [
        (f"R{index}", value.strip(), HOSTILE_FILE) for index, value in enumerate(HOSTILE_VALUES)
    ] + [("Z9", "from October", NEWLINE_FILE)]
    assert _loaded(shared_connection, domain.table) == expected
    # The plan file, applied by hand with psql, must do exactly the same.
    with shared_connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE {quote(domain.table)}, wdh_loads")  # a plan applies once
    applied = run_psql(outcome.plan_path, shared_database)
    assert applied.returncode == 0, applied.stderr
    assert _canary(shared_connection) == [(1, "alive")]
    assert _loaded(shared_connection, domain.table) == expected


def test_a_hostile_sheet_name_and_value_are_kept_verbatim_in_the_rejects_file(
    tmp_path: Path,
) -> None:
    import pandas as pd

    inbox = tmp_path / "inbox"
    write_workbook(
        inbox / HOSTILE_FILE,
        [["", HOSTILE_VALUES[0], ""]],
        headers=["编号", "说明", "x"],
        sheet=HOSTILE_SHEET,
    )
    outcome = run_domain(inbox, tmp_path / "out", domain=_domain())
    rejects = pd.read_csv(outcome.rejects_path, encoding="utf-8-sig", keep_default_na=False)
    assert rejects[["file", "sheet", "row", "column"]].values.tolist() == [
        [HOSTILE_FILE, HOSTILE_SHEET, 2, "ref"]
    ]
