"""No cell becomes NULL, rule side: every non-empty cell is a value or a reject, never a server-side parse.

Each test holds one way a cell could change meaning on the server: a column typed without a rule
sent to COPY as text (the server's DateStyle reading ``03/04/2024``, ``NaN`` as a numeric, ``1.5``
failing the whole load), a decimal size check counting float digits, a month typed ``2024.10``
(Excel's number 2024.1) read as January, and a renamed header turning its column into NULLs.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml

from tests.reliability.conftest import Baseline
from tests.reliability.support import (
    TRUSTEE_HEADERS,
    run_domain,
    trustee_rows,
    write_workbook,
)
from tests.support.annuity import annuity_row, clean_annuity
from tests.support.cli import run_trustee
from work_data_hub.cleaning.engine import MissingColumnError
from work_data_hub.cleaning.registry import run_rule
from work_data_hub.config import parse_domains
from work_data_hub.load.sql import quote

TYPED_TABLE = "typed_cells"
TYPED_DOMAIN = {
    "domains": {
        "typed": {
            "pattern": r"(?P<year>\d{4})_(?P<month>\d{2})_typed",
            "table": TYPED_TABLE,
            "unique_key": ["编号"],
            "refresh_scope": ["编号"],
            # Types only: each column gets the strict rule of its type.
            "columns": {
                "编号": {"type": "integer"},
                "日期": {"type": "date"},
                "金额": {"type": "numeric(12,2)"},
                "数量": {"type": "integer"},
            },
        }
    }
}
TYPED_HEADERS = ["编号", "日期", "金额", "数量"]
GOOD = [1, "2024-03-04", "12.5", 3]
# (cells of one row, rejected column, reason); every other cell of the row is good.
BAD_ROWS: list[tuple[list[Any], str, str]] = [
    ([2, "03/04/2024", "1", 1], "日期", "not a date: use an Excel date or YYYY-MM-DD"),
    ([3, "2024-02-30", "1", 1], "日期", "not a calendar date"),
    ([4, "2024-03-04", "NaN", 1], "金额", "not a number"),
    ([5, "2024-03-04", "Infinity", 1], "金额", "not a number"),
    ([6, "2024-03-04", "1e400", 1], "金额", "too large for numeric(12,2)"),
    ([7, "2024-03-04", "1", 1.5], "数量", "not a whole number"),
    ([8, "2024-03-04", "1", "3000000000"], "数量", "outside the integer range"),
    (["9x", "2024-03-04", "1", 1], "编号", "not a whole number"),
]


def test_typed_columns_without_a_rule_reject_bad_cells_and_load_the_rest(
    tmp_path: Path, shared_database: Any, shared_connection: Any
) -> None:
    domain = parse_domains(TYPED_DOMAIN)["typed"]
    inbox = tmp_path / "inbox"
    rows = [GOOD, *[cells for cells, _, _ in BAD_ROWS], [10, dt.date(2024, 5, 6), 7, "-4"]]
    write_workbook(inbox / "2024_11_typed.xlsx", rows, headers=TYPED_HEADERS)
    with shared_connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {quote(TYPED_TABLE)}")

    outcome = run_domain(
        inbox,
        tmp_path / "reporting",
        domain=domain,
        database_url=shared_database,
        execute=True,
        max_reject_ratio=1.0,
    )

    rejects = outcome.rejects[["row", "column", "reason"]].values.tolist()
    expected = [[row, column, reason] for row, (_, column, reason) in enumerate(BAD_ROWS, start=3)]
    assert [r[:2] for r in rejects] == [e[:2] for e in expected]
    for (_, _, reason), (_, _, wanted) in zip(rejects, expected, strict=True):
        assert reason.startswith(wanted), reason
    # No COPY failed for one cell: the good rows are in the table, typed by the rules.
    with shared_connection.cursor() as cursor:
        cursor.execute(f"SELECT 编号, 日期, 金额, 数量 FROM {quote(TYPED_TABLE)} ORDER BY 编号")
        assert cursor.fetchall() == [
            (1, dt.date(2024, 3, 4), Decimal("12.50"), 3),
            (10, dt.date(2024, 5, 6), Decimal("7.00"), -4),
        ]


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("9999999999999999", Decimal("9999999999999999.00")),
        ("9,999,999,999,999,999.994", Decimal("9999999999999999.99")),
        # Sent as text, rounded by PostgreSQL half up (a polars Decimal cast rounds half to even).
        ("0.005", Decimal("0.01")),
        ("0.125", Decimal("0.13")),
    ],
)
def test_decimal_size_counts_digits_not_floats(
    baseline: Baseline, tmp_path: Path, cell: str, expected: Decimal
) -> None:
    inbox = tmp_path / "inbox"
    rows = trustee_rows(1)
    rows[0][6] = cell
    write_workbook(inbox / "2024_11_受托业绩.xlsx", rows)
    outcome = run_domain(inbox, tmp_path / "reporting", database_url=baseline.url, execute=True)
    assert outcome.rejects.empty, outcome.rejects.to_dict("records")
    with baseline.connection.cursor() as cursor:
        cursor.execute(
            "SELECT fund_scale FROM trustee_performance WHERE report_date = '2024-11-01'"
        )
        assert cursor.fetchall() == [(expected,)]


@pytest.mark.parametrize(
    "cell",
    ["10000000000000000", "9999999999999999.995", "100000000000000000e-1", "1e17"],
)
def test_decimal_size_rejects_what_rounds_past_the_column(cell: str) -> None:
    result = run_rule("decimal", pl.Series([cell]), column_type="numeric(18,2)")
    assert result.errors.to_list() == ["too large for numeric(18,2)"]
    assert result.values.to_list() == [None]


def test_a_month_typed_2024_10_that_excel_keeps_as_2024_1_is_rejected_as_ambiguous(
    tmp_path: Path,
) -> None:
    cells: list[Any] = [2024.1, "2024.1", 2024.11, 2024.12, "2024.10", 2024.2]
    result = clean_annuity(tmp_path, [annuity_row(月度=cell) for cell in cells])
    reasons = dict(zip(result.rejects["row"], result.rejects["reason"], strict=True))
    assert sorted(reasons) == [2, 3]
    assert all(reason.startswith("ambiguous month") for reason in reasons.values())
    assert result.rows["月度"].tolist() == ["2024-11-01", "2024-12-01", "2024-10-01", "2024-02-01"]


@pytest.mark.parametrize("rule", ["code", "text"])
def test_numbers_for_code_and_text_columns_keep_their_exact_digits(rule: str) -> None:
    digits = ["1234567890123450", "12345678901234567890", "0012", "1.10"]
    result = run_rule(rule, pl.Series(digits))
    assert result.values.to_list() == digits
    assert result.errors.null_count() == len(digits)


def test_a_renamed_header_refuses_the_delivery_naming_file_sheet_and_header(
    baseline: Baseline, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    headers = [("规模(元)" if header == "规模" else header) for header in TRUSTEE_HEADERS]
    write_workbook(inbox / "2024_10_受托业绩.xlsx", trustee_rows(5, month=10), headers=headers)
    with pytest.raises(MissingColumnError) as refused:
        run_domain(inbox, tmp_path / "reporting", database_url=baseline.url, execute=True)
    message = str(refused.value)
    assert "2024_10_受托业绩.xlsx" in message and "'受托业绩'" in message
    assert "['规模']" in message and "might be it: ['规模(元)']" in message
    assert baseline.unchanged()  # fund_scale was not replaced by NULLs


def test_an_absent_optional_column_is_null_and_said_in_the_log_and_the_report(
    project_copy: Path,
) -> None:
    sources = project_copy / "conf/base/data_sources.yml"
    raw = yaml.safe_load(sources.read_text(encoding="utf-8"))
    raw["domains"]["trustee_performance"]["columns"]["fund_scale"]["optional"] = True
    sources.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    inbox = project_copy / "data/01_raw"
    for old in inbox.rglob("*.xlsx"):
        old.unlink()
    write_workbook(
        inbox / "2024_10_受托业绩.xlsx", [row[:6] for row in trustee_rows(3, month=10)],
        headers=TRUSTEE_HEADERS[:6],
    )  # fmt: skip

    result = run_trustee(project_copy, "max_files=1")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "optional column(s) ['fund_scale']" in result.stdout + result.stderr
    report = json.loads(
        next((project_copy / "data/08_reporting/run_reports").glob("*.json")).read_text(
            encoding="utf-8"
        )
    )
    assert report["domains"]["trustee_performance"]["absent_columns"] == ["fund_scale"]
