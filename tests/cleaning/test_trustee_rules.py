"""The trustee_performance cleaning rules (docs/contract.md's trustee table), rejects and duplicates."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import polars as pl
import pytest
import yaml

from tests.conftest import PROJECT_ROOT
from tests.support.frames import Cleaned, as_pandas, pandas_view
from tests.support.workbooks import TRUSTEE_HEADERS, write_workbook
from work_data_hub.cleaning import engine
from work_data_hub.cleaning.engine import (
    REJECT_COLUMNS,
    MissingColumnError,
    clean_sheet,
    combine,
)
from work_data_hub.cleaning.python_cells import cells_as_text
from work_data_hub.cleaning.reading import RawSheet, read_sheet
from work_data_hub.config import parse_domains
from work_data_hub.config.project import load_domains
from work_data_hub.datasets.excel_workbook_dataset import ExcelWorkbookDataset
from work_data_hub.pipelines.ingest.nodes import clean_workbooks, select_workbooks

DOMAINS, _ = load_domains(PROJECT_ROOT)
TRUSTEE = DOMAINS["trustee_performance"]
TODAY = dt.date(2025, 1, 15)
VALID = {
    "年": "2024",
    "月": "11",
    "计划代码": "P001",
    "公司代码": "C001",
    "收益率": "0.05",
    "净值": "1.5",
    "规模": "1000",
}


def sheet_of(rows: list[dict[str, Any]], file: str = "2024_11_受托业绩.xlsx") -> RawSheet:
    """A RawSheet as the reader makes it: text cells, data from Excel row 2 on."""
    frame = pd.DataFrame(rows, columns=TRUSTEE_HEADERS, dtype=object)
    text = pd.DataFrame({name: cells_as_text(frame[name]) for name in TRUSTEE_HEADERS})
    text["_source_file"] = file
    text["_source_row"] = range(2, 2 + len(rows))
    return RawSheet(pl.from_pandas(text), file, "受托业绩", tuple(TRUSTEE_HEADERS), 0, 0)


def clean(*rows: dict[str, Any], file: str = "2024_11_受托业绩.xlsx") -> Cleaned:
    return pandas_view(clean_sheet(sheet_of(list(rows), file), TRUSTEE, TODAY))


def one_column(column: str, header: str, cells: list[Any]) -> tuple[list[Any], list[Any]]:
    """Clean ``cells`` in ``header`` (all else valid): per cell the value, or the reject reason."""
    rows = []
    for number, cell in enumerate(cells):
        # Distinct company codes keep the unique key from rejecting rows as duplicates.
        row = {**VALID, "公司代码": f"C{number:03d}", header: cell}
        if header == "公司代码":
            row["计划代码"] = f"P{number:03d}"
        rows.append(row)
    result = clean(*rows)
    by_row = dict(zip(result.rows["_source_row"], result.rows[column], strict=True))
    reasons = {
        row: reason
        for row, col, reason in zip(
            result.rejects["row"], result.rejects["column"], result.rejects["reason"], strict=True
        )
        if col == column
    }
    values = [by_row.get(row) for row in range(2, 2 + len(cells))]
    errors = [reasons.get(row) for row in range(2, 2 + len(cells))]
    return values, errors


# --- report_date ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("year", "month"),
    [
        ("2024", "11"),
        (2024, 11),
        ("2024年", "11月"),
        ("2024.0", "11.0"),
        (2024.0, 11.0),
        (" 2024 ", " 11 "),
        ("２０２４年", "１１月"),
        ("2024", "11.00"),
    ],
)
def test_report_date_from_year_and_month_spellings(year: Any, month: Any) -> None:
    result = clean({**VALID, "年": year, "月": month})
    assert result.rejects.empty, result.rejects
    assert result.rows["report_date"].tolist() == ["2024-11-01"]


def test_report_date_single_digit_month_and_current_month() -> None:
    values, errors = one_column("report_date", "月", ["1月", "01", 1])
    assert values == ["2024-01-01"] * 3 and errors == [None] * 3
    result = clean({**VALID, "年": 2025, "月": 1})  # TODAY's month is not in the future
    assert result.rows["report_date"].tolist() == ["2025-01-01"]


@pytest.mark.parametrize(
    ("year", "month", "reason"),
    [
        ("1999", "12", "year must be 2000-2099 and month 1-12"),
        ("2100", "1", "year must be 2000-2099 and month 1-12"),
        ("2024", "13", "year must be 2000-2099 and month 1-12"),
        ("2024", "0", "year must be 2000-2099 and month 1-12"),
        ("2025", "2", "period is in the future (after 2025-01)"),
        ("2026", "1", "period is in the future (after 2025-01)"),
        ("二〇二四", "11", "year or month is not a number"),
        ("2024", "11.5", "year or month is not a number"),
        ("24", "11", "year or month is not a number"),
        ("2024", None, "year and month must both be given"),
        (None, "11", "year and month must both be given"),
        (None, None, "required value is missing"),
    ],
)
def test_report_date_rejects(year: Any, month: Any, reason: str) -> None:
    result = clean({**VALID, "年": year, "月": month})
    assert result.rows.empty
    assert result.rejects["column"].tolist() == ["report_date"]
    assert result.rejects["reason"].tolist() == [reason]
    # The reject shows both cells the date is made of, so a bad month is visible too.
    shown = f"年={year or ''}, 月={month or ''}"
    assert result.rejects["value"].tolist() == [pd.NA if year is None and month is None else shown]


# --- plan_code and company_code -------------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "header"), [("plan_code", "计划代码"), ("company_code", "公司代码")]
)
def test_codes_are_trimmed_upper_cased_and_stripped_of_dashes_underscores_spaces(
    column: str, header: str
) -> None:
    values, errors = one_column(
        column,
        header,
        [" p-0_01 ", "ab.c", 123.0, "x 1 y", "P\u30001"],
    )
    assert values == ["P001", "AB.C", "123", "X1Y", "P1"]
    assert errors == [None] * 5


@pytest.mark.parametrize(
    ("column", "header"), [("plan_code", "计划代码"), ("company_code", "公司代码")]
)
def test_codes_reject_other_characters_and_empty_values(column: str, header: str) -> None:
    values, errors = one_column(column, header, ["P#1", "计划1", "P/1", "-_-", None, "  "])
    assert values == [None] * 6
    assert errors[:3] == ["code has characters outside ^[A-Z0-9.]+$"] * 3
    assert errors[3] == "code is empty after cleaning"
    assert errors[4:] == ["required value is missing"] * 2


# --- return_rate ----------------------------------------------------------------------------


def test_return_rate_percent_text_and_fractions() -> None:
    cells = ["5.5%", "5.5 %", "-100%", "1,000%", 0.055, "0.055", -1, 10, "1e-3", "５．５％", None]
    values, errors = one_column("return_rate", "收益率", cells)
    assert errors == [None] * len(cells)
    assert [None if v is None or v is pd.NA else Decimal(v) for v in values] == [
        Decimal("0.055"),
        Decimal("0.055"),
        Decimal("-1"),
        Decimal("10"),
        Decimal("0.055"),
        Decimal("0.055"),
        Decimal("-1"),
        Decimal("10"),
        Decimal("0.001"),
        Decimal("0.055"),
        None,
    ]


def test_return_rate_when_every_cell_is_a_whole_percent() -> None:
    """All-integer text once made an Int64 column that `5%` -> 0.05 could not be written into."""
    values, errors = one_column("return_rate", "收益率", ["1%", "2%", "-3%"])
    assert errors == [None] * 3
    assert [Decimal(v) for v in values] == [Decimal("0.01"), Decimal("0.02"), Decimal("-0.03")]
    values, errors = one_column("net_asset_value", "净值", ["1", "2"])
    assert values == ["1", "2"] and errors == [None, None]


def test_return_rate_out_of_bounds_or_not_a_number_is_rejected() -> None:
    values, errors = one_column(
        "return_rate", "收益率", ["-101%", -1.01, "1001%", 10.5, "n/a", "5.5%%"]
    )
    assert values == [None] * 6
    assert errors == [
        "must be >= -1",
        "must be >= -1",
        "must be <= 10",
        "must be <= 10",
        "not a number",
        "not a number",
    ]


# --- net_asset_value and fund_scale ---------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "header"), [("net_asset_value", "净值"), ("fund_scale", "规模")]
)
def test_amounts_drop_separators_spaces_and_currency_signs(column: str, header: str) -> None:
    cells = ["1,234.5", " 1 234.5 ", "¥1,234.5", "￥1234.5", "$1,234.50", "１，２３４.５", 1234.5]
    values, errors = one_column(column, header, cells)
    assert errors == [None] * len(cells)
    assert [Decimal(v) for v in values] == [Decimal("1234.5")] * len(cells)


def test_empty_amounts_are_null() -> None:
    for column, header in [("net_asset_value", "净值"), ("fund_scale", "规模")]:
        values, errors = one_column(column, header, [None, "", "   "])
        assert values == [pd.NA] * 3 and errors == [None] * 3


def test_net_asset_value_must_be_positive_and_fund_scale_not_negative() -> None:
    values, errors = one_column("net_asset_value", "净值", ["0", "-1", "0.0001", "abc", "5%"])
    assert values[:2] == [None, None] and Decimal(values[2]) == Decimal("0.0001")
    assert errors == [
        "must be > 0",
        "must be > 0",
        None,
        "not a number",
        "a percentage where an amount is expected",
    ]
    values, errors = one_column(
        "fund_scale", "规模", ["0", "-0.01", "1234567890123456.5", "12345678901234567", "1e16"]
    )
    assert Decimal(values[0]) == 0 and Decimal(values[2]) == Decimal("1234567890123456.5")
    assert errors == [None, "must be >= 0", None] + ["too large for numeric(18,2)"] * 2


# --- rejects and duplicates -----------------------------------------------------------------


def test_a_reject_names_file_sheet_row_column_value_and_reason() -> None:
    result = clean(VALID | {"计划代码": "P002"}, VALID | {"净值": "¥-3", "计划代码": "P003"})
    assert list(result.rejects.columns) == REJECT_COLUMNS
    assert result.rejects.to_dict("records") == [
        {
            "file": "2024_11_受托业绩.xlsx",
            "sheet": "受托业绩",
            "row": 3,
            "column": "net_asset_value",
            "value": "¥-3",
            "reason": "must be > 0",
        }
    ]
    assert result.rows["plan_code"].tolist() == ["P002"]
    assert result.rows_read == 2


def test_a_row_with_several_bad_cells_gives_one_reject_line_per_cell() -> None:
    result = clean(VALID | {"净值": "-1", "规模": "x", "计划代码": None})
    assert sorted(result.rejects["column"]) == ["fund_scale", "net_asset_value", "plan_code"]
    assert set(result.rejects["row"]) == {2}
    assert result.rows.empty


def test_a_large_sheet_cleans_the_same_with_its_rules_on_threads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # At engine._PARALLEL_MIN_ROWS rows or more the cell-only rules run ahead on threads; the
    # sheet is large enough for the rules to run once per distinct value, as in production.
    kinds = [
        VALID,
        VALID | {"收益率": "5%", "计划代码": "p-002"},
        VALID | {"收益率": "abc"},
        VALID | {"净值": "-1", "规模": "x"},
        VALID | {"年": "24", "月": "13"},
        VALID | {"公司代码": None},
    ]
    rows = [
        kind | {"计划代码": f"P{index}"} if kind is VALID else kind
        for index, kind in enumerate(kinds * 2_000)
    ]
    sheet = sheet_of(rows)
    monkeypatch.setattr(engine, "_PARALLEL_MIN_ROWS", len(rows))
    threaded = clean_sheet(sheet, TRUSTEE, TODAY)
    monkeypatch.setattr(engine, "_PARALLEL_MIN_ROWS", len(rows) + 1)
    in_order = clean_sheet(sheet, TRUSTEE, TODAY)
    assert len(threaded.rows) == 2_000 * 2
    assert threaded.rows.equals(in_order.rows)
    assert threaded.rejects.equals(in_order.rejects)
    assert len(threaded.rejects) == 2_000 * 5


def test_duplicate_keys_in_one_file_are_both_rejected() -> None:
    first = clean(
        VALID,
        VALID | {"计划代码": "p-001", "净值": "2"},  # the same key once cleaned
        VALID | {"计划代码": "P002"},
    )
    combined = pandas_view(combine([first.result], TRUSTEE))
    assert combined.rows["plan_code"].tolist() == ["P002"]
    duplicates = combined.rejects
    assert duplicates["row"].tolist() == [2, 3]
    assert set(duplicates["column"]) == {"report_date, plan_code, company_code"}
    assert set(duplicates["value"]) == {"2024-11-01 | P001 | C001"}
    assert all(reason.startswith("duplicate key") for reason in duplicates["reason"])
    assert "row 2" in duplicates["reason"].iloc[0] and "row 3" in duplicates["reason"].iloc[0]
    assert set(duplicates["sheet"]) == {"受托业绩"}


def test_duplicate_keys_across_two_files_are_both_rejected() -> None:
    october = clean(VALID | {"月": 10}, VALID, file="2024_10_受托业绩.xlsx")
    november = clean(VALID | {"计划代码": "P009"}, VALID, file="2024_11_受托业绩.xlsx")
    combined = pandas_view(combine([october.result, november.result], TRUSTEE))
    assert sorted(combined.rows["plan_code"] + "@" + combined.rows["report_date"]) == [
        "P001@2024-10-01",
        "P009@2024-11-01",
    ]
    assert combined.rejects[["file", "row"]].values.tolist() == [
        ["2024_10_受托业绩.xlsx", 3],
        ["2024_11_受托业绩.xlsx", 3],
    ]
    assert combined.rows_read == 4


def test_duplicates_across_two_workbooks_through_the_nodes(tmp_path: Path) -> None:
    """Two periods selected in one run; the October file also carries a November row."""
    inbox = tmp_path / "inbox"
    header = TRUSTEE_HEADERS
    write_workbook(
        inbox / "2024_10_受托业绩.xlsx",
        [header, [2024, 10, "P1", "C1", 0.1, 1, 1], [2024, 11, "P2", "C1", 0.1, 1, 1]],
    )
    write_workbook(
        inbox / "2024_11_受托业绩.xlsx",
        [header, [2024, 11, "P-2", "c1", 0.2, 2, 2], [], [2024, 11, "P3", "C1", "bad", 1, 1]],
    )
    loaders = {
        path.relative_to(inbox).as_posix(): ExcelWorkbookDataset(filepath=str(path)).load
        for path in inbox.rglob("*.xlsx")
    }
    manifest = select_workbooks(loaders, str(inbox), 2, domain=TRUSTEE)
    clean_rows, rejects, summary, _ = clean_workbooks(loaders, manifest, domain=TRUSTEE)
    rows, rejects = as_pandas(clean_rows), as_pandas(rejects)
    assert rows["plan_code"].tolist() == ["P1"]
    assert rejects[["file", "row", "column"]].values.tolist() == [
        ["2024_10_受托业绩.xlsx", 3, "report_date, plan_code, company_code"],
        ["2024_11_受托业绩.xlsx", 2, "report_date, plan_code, company_code"],
        ["2024_11_受托业绩.xlsx", 4, "return_rate"],
    ]
    assert summary.rows_read == 4
    assert summary.rows_rejected == 3
    assert summary.rows_skipped_blank == 1
    assert summary.rows_clean == 1


def test_messy_headers_in_a_workbook_still_match_the_declared_sources(tmp_path: Path) -> None:
    headers = [
        " 年 ",
        "月\n",
        "计划\u3000代码",
        "公司\r\n代码",
        "收益率",
        "净 值",
        "规\n模",
        "ＦＯＯ",
    ]
    path = write_workbook(tmp_path / "m.xlsx", [headers, [2024, 11, "P1", "C1", "5%", 1, None, 2]])
    sheet = read_sheet(ExcelWorkbookDataset(filepath=str(path)).load(), 0)
    result = pandas_view(clean_sheet(sheet, TRUSTEE, TODAY))
    assert result.rejects.empty
    assert result.rows[["plan_code", "company_code", "net_asset_value"]].values.tolist() == [
        ["P1", "C1", "1"]
    ]
    assert result.rows["fund_scale"].isna().all()  # 规模's cell is empty: NULL
    assert result.unknown_headers == ["FOO"]


def test_a_missing_required_column_names_file_sheet_and_header(tmp_path: Path) -> None:
    path = write_workbook(
        tmp_path / "2024_11_受托业绩.xlsx",
        [["年", "月", "计划代码", "收益率"], [2024, 11, "P1", 0.1]],
        sheet="受托业绩",
    )
    sheet = read_sheet(ExcelWorkbookDataset(filepath=str(path)).load(), 0)
    with pytest.raises(MissingColumnError) as raised:
        clean_sheet(sheet, TRUSTEE, TODAY)
    message = str(raised.value)
    assert "2024_11_受托业绩.xlsx" in message and "'受托业绩'" in message
    assert "'公司代码'" in message
    # No column silently lost: every declared header must be present unless it is optional.
    assert "净值" in message.split("headers present", maxsplit=1)[0]


def test_optional_columns_may_be_absent_and_are_null() -> None:
    frame = pd.DataFrame({"年": ["2024"], "月": ["11"], "计划代码": ["P1"], "公司代码": ["C1"]})
    frame = frame.astype("string")
    frame["_source_file"], frame["_source_row"] = "f.xlsx", 2
    sheet = RawSheet(
        pl.from_pandas(frame), "f.xlsx", "s", ("年", "月", "计划代码", "公司代码"), 0, 0
    )
    raw = yaml.safe_load((PROJECT_ROOT / "conf/base/data_sources.yml").read_text(encoding="utf-8"))
    columns = raw["domains"]["trustee_performance"]["columns"]
    for name in ("return_rate", "net_asset_value", "fund_scale"):
        columns[name]["optional"] = True
    trustee = parse_domains(
        {"domains": {"trustee_performance": raw["domains"]["trustee_performance"]}}
    )["trustee_performance"]
    result = pandas_view(clean_sheet(sheet, trustee, TODAY))
    assert result.rejects.empty
    assert result.rows[["return_rate", "net_asset_value", "fund_scale"]].isna().all().all()
    assert result.absent_columns == ["return_rate", "net_asset_value", "fund_scale"]
