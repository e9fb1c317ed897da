"""annuity_performance's column rules, each through the declaration in conf/base (规模明细)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.support import rule_calls as rules
from tests.support.annuity import TODAY, annuity_row, clean_annuity


def _text(values: list[Any]) -> pd.Series:
    return pd.Series(values, dtype="string")


def _values(column: pd.Series) -> list[Any]:
    return [None if pd.isna(value) else value for value in column]


# --- 月度 -----------------------------------------------------------------------------------

MONTH_SPELLINGS = [
    "202411",
    "20241115",
    "2024-11",
    "2024-11-15",
    "2024年11月",
    "24年11月",
    "2024年11月15日",
    "２０２４年１１月",
    "２０２４１１",
    "2024/11/15",
    " 2024年11月 ",
    "2024-11-15 08:30:00",
    "45611",  # an Excel serial number (2024-11-15) that lost its date format
]


@pytest.mark.parametrize("spelling", MONTH_SPELLINGS)
def test_month_date_reads_every_spelling_as_the_first_of_the_month(spelling: str) -> None:
    result = rules.month_date(_text([spelling]), TODAY)
    assert result.errors.isna().all(), result.errors.tolist()
    assert result.values.tolist() == ["2024-11-01"]


@pytest.mark.parametrize(
    ("spelling", "reason"),
    [
        ("2024年13月", "month 1-12"),
        ("Nov 2024", "not a recognised"),
        ("1999-11", "2000-2099"),
        ("2025-01", "future"),
    ],
)
def test_month_date_rejects_what_it_cannot_read(spelling: str, reason: str) -> None:
    result = rules.month_date(_text([spelling]), TODAY)
    assert result.values.isna().all()
    assert reason in str(result.errors.iloc[0])


MONTH_CELLS: list[Any] = [
    dt.datetime(2024, 11, 1),
    dt.datetime(2024, 11, 30, 17, 45),
    202411,
    20241115,
    45611,
    "２０２４年１１月１５日",
]


def test_month_cells_of_any_excel_kind_load_as_the_month(tmp_path: Path) -> None:
    # One workbook, one row per kind of cell: pandas work per sheet dominates test time.
    result = clean_annuity(tmp_path, [annuity_row(月度=cell) for cell in MONTH_CELLS])
    assert result.rejects.empty, result.rejects.to_dict("records")
    assert result.rows["月度"].tolist() == ["2024-11-01"] * len(MONTH_CELLS)


def test_missing_month_is_rejected_because_it_is_part_of_the_delete_scope(tmp_path: Path) -> None:
    result = clean_annuity(tmp_path, [annuity_row(月度=None), annuity_row()])
    assert len(result.rows) == 1
    assert result.rejects[["row", "column", "reason"]].to_dict("records") == [
        {"row": 2, "column": "月度", "reason": "required value is missing"}
    ]


# --- 计划代码 --------------------------------------------------------------------------------


PLAN_CODE_CASES: list[tuple[Any, str, str | None]] = [
    (" p0001 ", "集合计划", "P0001"),
    ("1P0290", "集合计划", "P0290"),
    ("1p0290", "单一计划", "P0290"),
    ("1P0807", "单一计划", "P0807"),
    ("1P0999", "集合计划", "1P0999"),  # only the two known mistakes are rewritten
    (None, "集合计划", "AN001"),
    ("  ", "单一计划", "AN002"),
    (None, "其他计划", None),
]


def test_plan_code_cleaning_replacements_and_defaults(tmp_path: Path) -> None:
    rows = [annuity_row(计划号=cell, 计划类型=kind) for cell, kind, _ in PLAN_CODE_CASES]
    result = clean_annuity(tmp_path, rows)
    assert result.rejects.empty
    assert _values(result.rows["计划代码"]) == [expected for *_, expected in PLAN_CODE_CASES]


# --- 组合代码 --------------------------------------------------------------------------------


PORTFOLIO_CASES: list[tuple[Any, str, str, str | None]] = [
    (200001, "企年投资", "集合计划", "200001"),
    (200001.0, "企年投资", "集合计划", "200001"),
    ("F200001", "企年投资", "集合计划", "200001"),
    ("f200001", "企年受托", "单一计划", "200001"),
    ("QTAN9", "企年受托", "单一计划", "QTAN9"),
    (None, "职年受托", "集合计划", "QTAN003"),
    (None, "职年投资", "单一计划", "QTAN003"),
    (None, "企年投资", "集合计划", "QTAN001"),
    (None, "企年受托", "单一计划", "QTAN002"),
    (None, "企年受托", "其他计划", None),
]


def test_portfolio_code_cleaning_and_defaults(tmp_path: Path) -> None:
    rows = [
        annuity_row(组合代码=cell, 业务类型=business, 计划类型=kind)
        for cell, business, kind, _ in PORTFOLIO_CASES
    ]
    result = clean_annuity(tmp_path, rows)
    assert result.rejects.empty
    assert _values(result.rows["组合代码"]) == [expected for *_, expected in PORTFOLIO_CASES]


# --- 客户名称, 年金账户名 --------------------------------------------------------------------


PLACEHOLDERS = ["null", "NULL", "空白", "-", "－", "无", " 无 "]


def test_customer_placeholders_become_null_but_the_account_name_keeps_the_delivery(
    tmp_path: Path,
) -> None:
    result = clean_annuity(tmp_path, [annuity_row(客户名称=cell) for cell in PLACEHOLDERS])
    assert _values(result.rows["客户名称"]) == [None] * len(PLACEHOLDERS)
    assert result.rows["年金账户名"].tolist() == PLACEHOLDERS


def test_customer_name_is_trimmed_and_the_account_name_is_as_delivered(tmp_path: Path) -> None:
    result = clean_annuity(tmp_path, [annuity_row(客户名称="  示例企业有限公司 ")])
    assert result.rows["客户名称"].iloc[0] == "示例企业有限公司"
    assert result.rows["年金账户名"].iloc[0] == "  示例企业有限公司 "


# --- 集团企业客户号, 年金账户号 ---------------------------------------------------------------


def test_group_customer_number_loses_its_c_and_is_the_account_number(tmp_path: Path) -> None:
    cells: list[Any] = ["C600000001", " C600000002 ", 600000003, "600000004"]
    result = clean_annuity(tmp_path, [annuity_row(集团企业客户号=cell) for cell in cells])
    expected = ["600000001", "600000002", "600000003", "600000004"]
    assert result.rows["集团企业客户号"].tolist() == expected
    assert result.rows["年金账户号"].tolist() == expected


# --- mappings from conf/base/mappings.yml -------------------------------------------------


BRANCH_CASES: list[tuple[Any, str]] = [
    ("北京", "G01"),
    ("上海", "G02"),
    ("湖北", "G09"),
    ("新疆", "G23"),
    (" 北京 ", "G01"),
    ("西藏", "G00"),
    ("火星", "G00"),
    (None, "G00"),
]


def test_branch_code_from_branch_name_by_the_conf_mapping(tmp_path: Path) -> None:
    result = clean_annuity(tmp_path, [annuity_row(机构=branch) for branch, _ in BRANCH_CASES])
    assert result.rows["机构代码"].tolist() == [code for _, code in BRANCH_CASES]


PRODUCT_LINE_CASES = [
    ("企年投资", "PL201"),
    ("企年受托", "PL202"),
    ("职年投资", "PL203"),
    ("职年受托", "PL204"),
    ("其他", "PL301"),
    ("企年托管", "PL301"),
]


def test_product_line_code_from_business_type_by_the_conf_mapping(tmp_path: Path) -> None:
    rows = [annuity_row(业务类型=business) for business, _ in PRODUCT_LINE_CASES]
    result = clean_annuity(tmp_path, rows)
    assert result.rows["产品线代码"].tolist() == [code for _, code in PRODUCT_LINE_CASES]


# --- amounts and the rate --------------------------------------------------------------------


def test_amounts_keep_negatives_and_lose_separators(tmp_path: Path) -> None:
    row = annuity_row(
        期初资产规模="-1,234.5678", 投资收益="￥-12.5", 供款=" 1 000 ", 期末资产规模="-347.3178"
    )
    result = clean_annuity(tmp_path, [row])
    assert result.rejects.empty
    cleaned = result.rows.iloc[0]
    assert (cleaned["期初资产规模"], cleaned["投资收益"], cleaned["供款"]) == (
        "-1234.5678",
        "-12.5",
        "1000",
    )


def test_rate_is_a_fraction(tmp_path: Path) -> None:
    cells: list[Any] = ["5.5%", 0.055, "-3%", "５％", None]
    result = clean_annuity(tmp_path, [annuity_row(年化收益率=cell) for cell in cells])
    assert result.rejects.empty
    rates = [None if pd.isna(v) else float(v) for v in result.rows["当期收益率"]]
    assert rates == pytest.approx([0.055, 0.055, -0.03, 0.05, None])


@pytest.mark.parametrize(
    ("header", "cell", "reason"),
    [
        ("期末资产规模", "n/a", "not a number"),
        ("年化收益率", "1200%", "must be <= 10"),
        ("供款", "12%", "a percentage"),
    ],
)
def test_bad_numbers_are_rejected_with_the_cell(
    tmp_path: Path, header: str, cell: str, reason: str
) -> None:
    result = clean_annuity(tmp_path, [annuity_row(**{header: cell})])
    assert result.rows.empty
    reject = result.rejects.iloc[0]
    assert reject["value"] == cell and reason in reject["reason"] and reject["row"] == 2


# --- the rule functions themselves -----------------------------------------------------------


def test_code_strip_prefix_is_literal_and_case_insensitive() -> None:
    result = rules.code(_text(["F.1", "f.2", "FX3", ".4"]), upper=False, strip_prefix="F.")
    assert result.values.tolist() == ["1", "2", "FX3", ".4"]


def test_code_replace_applies_after_trimming_and_upper_casing() -> None:
    result = rules.code(
        _text([" 1p0290", "1P0807 ", "P1"]), replace={"1P0290": "P0290", "1P0807": "P0807"}
    )
    assert result.values.tolist() == ["P0290", "P0807", "P1"]


def test_text_placeholders_match_ignoring_case_and_width() -> None:
    result = rules.text(
        _text(["NULL", "－", " 无 ", "无锡", None]), placeholders=["null", "-", "无"]
    )
    assert result.values.isna().tolist() == [True, True, True, False, True]


def test_mapping_leaves_unknown_and_empty_values_null_for_a_default() -> None:
    result = rules.mapping(_text(["北京", "火星", None]), {"北京": "G01"})
    assert result.values.tolist()[0] == "G01"
    assert result.values.isna().tolist() == [False, True, True]
    assert result.errors.isna().all()


def test_apply_defaults_takes_the_first_condition_that_holds_and_keeps_values() -> None:
    values = _text(["X", None, None, None])
    first = pd.Series([True, True, False, False])
    second = pd.Series([True, True, True, False])
    filled = rules.apply_defaults(values, [(first, "A"), (second, "B")])
    assert filled.tolist()[:3] == ["X", "A", "B"] and pd.isna(filled.iloc[3])


def test_decimal_percent_of_a_whole_number_is_a_fraction() -> None:
    # "5%" parses as an integer first; it must still become 0.05, not crash the run.
    result = rules.decimal(_text(["5%", "-3%", "0.5", None]), precision=10, scale=6, percent=True)
    assert result.errors.isna().all()
    assert [None if pd.isna(v) else float(v) for v in result.values] == [0.05, -0.03, 0.5, None]


def test_decimal_bounds_and_size() -> None:
    cells = _text(["0", "-1", "99999999999999.5", "100000000000000", "1e3"])
    result = rules.decimal(cells, precision=18, scale=4, minimum=0, min_exclusive=True)
    assert result.errors.tolist()[:2] == ["must be > 0", "must be > 0"]
    assert pd.isna(result.errors.iloc[2]) and "too large" in str(result.errors.iloc[3])
    assert result.values.tolist()[4] == "1e3"
