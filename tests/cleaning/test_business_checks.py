"""The checks the delivery decides alone: identity per row (a reject), the total row against
the sums of the rows read, continuity between two months of one delivery."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest

from tests.support.annuity import (
    TODAY,
    annuity_row,
    annuity_sheet_rows,
    clean_annuity,
    project_declarations,
    write_workbook,
)
from work_data_hub.cleaning.checks import continuity_in_delivery, period_sums
from work_data_hub.cleaning.engine import clean_sheet
from work_data_hub.cleaning.reading import headers_read_by, read_sheet
from work_data_hub.config.business_checks import BusinessCheckResult
from work_data_hub.datasets.excel_workbook_dataset import ExcelWorkbookDataset
from work_data_hub.rows import CleanRows


def test_a_row_off_its_identity_is_a_reject_naming_the_identity_and_the_difference(
    tmp_path: Path,
) -> None:
    rows = [annuity_row(id=1), annuity_row(期末资产规模=1200.25, id=2), annuity_row(id=3)]
    result = clean_annuity(tmp_path, rows)
    assert len(result.rows) == 2
    (reject,) = result.rejects.to_dict("records")
    assert (reject["row"], reject["column"], reject["value"]) == (3, "期末资产规模", "1200.25")
    assert reject["reason"] == (
        "identity: 期末资产规模 = 期初资产规模 + 供款 - 流失_含待遇支付 + 投资收益 is off by "
        "12.5 (1200.25 against 1187.75; tolerance 0.01)"
    )
    (identity,) = [check for check in result.result.checks if check.name == "identity"]
    assert (identity.status, identity.numbers["rows_broken"]) == ("warned", 1)
    assert "row 3" in identity.message


def test_an_identity_within_its_tolerance_holds(tmp_path: Path) -> None:
    result = clean_annuity(tmp_path, [annuity_row(期末资产规模=1187.76)])
    assert result.rejects.empty


def _trustee_sheet(tmp_path: Path, rows: list[list[Any]]) -> Any:
    domains, _ = project_declarations()
    domain = domains["trustee_performance"]
    path = write_workbook(tmp_path / "2024-11 受托业绩.xlsx", {"受托业绩": rows})
    workbook = ExcelWorkbookDataset(filepath=str(path)).load()
    sheet = read_sheet(workbook, domain.sheet, domain.header_row, reads=headers_read_by(domain))
    return clean_sheet(sheet, domain, TODAY)


HEADERS = ["年", "月", "计划代码", "公司代码", "收益率", "净值", "规模"]


def _total_row(result: Any) -> BusinessCheckResult:
    (check,) = [check for check in result.checks if check.name == "total_row"]
    return check  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("total", "status"),
    [
        ("3,000.00", "passed"),
        ("3000.005", "passed"),
        ("—", "not_evaluated"),
        (None, "not_evaluated"),
    ],
)
def test_a_total_row_equal_to_the_sums_within_tolerance_holds(
    tmp_path: Path, total: object, status: str
) -> None:
    rows = [HEADERS, [2024, 11, "P1", "C1", 0.01, 1, 1000], [2024, 11, "P2", "C1", 0.01, 1, 2000]]
    rows.append(["合计", None, None, None, None, None, total])
    assert _total_row(_trustee_sheet(tmp_path, rows)).status == status


def test_a_total_row_counts_rejected_rows_and_a_subtotal_its_section(tmp_path: Path) -> None:
    rows = [
        HEADERS,
        [2024, 11, "P1", "C1", "n/a", 1, 1000],  # rejected for 收益率; its 规模 is summed
        [2024, 11, "P2", "C1", 0.01, 1, 2000],
        ["小计", None, None, None, None, None, 3000],
        [2024, 11, "P3", "C1", 0.01, 1, 500],
        ["小计", None, None, None, None, None, 500],
        ["总计", None, None, None, None, None, 3501],
    ]
    check = _total_row(_trustee_sheet(tmp_path, rows))
    assert check.status == "failed"
    assert check.message.startswith(
        "2024-11 受托业绩.xlsx row 7 (总计), column fund_scale: the total is 3501, the 3 rows "
        "read sum to 3500, off by 1"
    )
    assert len(check.details) == 1


def test_an_unreadable_cell_stops_its_column_from_being_compared(tmp_path: Path) -> None:
    rows = [HEADERS, [2024, 11, "P1", "C1", 0.01, 1, "lots"], [2024, 11, "P2", "C1", 0.01, 1, 2000]]
    rows.append(["合计", None, None, None, None, None, 999])
    check = _total_row(_trustee_sheet(tmp_path, rows))
    assert check.status == "not_evaluated"
    assert "row 2 holds an unreadable cell" in check.message


def test_continuity_between_two_months_of_one_delivery_warns_with_row_numbers(
    tmp_path: Path,
) -> None:
    domains, _ = project_declarations()
    domain = domains["annuity_performance"]
    october = annuity_row(月度="202410", 组合代码="900001", 期末资产规模=1187.75)
    november = [
        annuity_row(月度="202411", 组合代码="900001", 期初资产规模=1187.75, 期末资产规模=1375),
        annuity_row(月度="202411", 组合代码="900002", 期初资产规模=10, 期末资产规模=197.25),
    ]
    october_bad = annuity_row(月度="202410", 组合代码="900002", 期初资产规模=0, 期末资产规模=187.25)
    path = write_workbook(
        tmp_path / "2024年11月年金终稿数据.xlsx",
        {"规模明细": annuity_sheet_rows([october, october_bad, *november])},
    )
    workbook = ExcelWorkbookDataset(filepath=str(path)).load()
    sheet = read_sheet(workbook, domain.sheet, domain.header_row, reads=headers_read_by(domain))
    cleaned = clean_sheet(sheet, domain, TODAY)
    assert cleaned.rejects.is_empty(), cleaned.rejects["reason"].to_list()
    rows = CleanRows.of(cleaned.rows, domain.refresh_scope)
    (check,) = [c for c in domain.business_checks if c.name == "continuity"]
    result = continuity_in_delivery(check, period_sums(rows, check))
    assert result is not None and result.status == "warned"
    assert result.numbers == {"keys_compared": 2, "keys_broken": 1}
    assert result.details == (
        "计划代码=P1001, 组合代码=900002: 期初资产规模 of 2024-11 is 10 "
        "(2024年11月年金终稿数据.xlsx row 5), 期末资产规模 of 2024-10 is 187.25 "
        "(2024年11月年金终稿数据.xlsx row 3), off by -177.25",
    )


def test_decimals_are_summed_exactly(tmp_path: Path) -> None:
    rows = [HEADERS] + [[2024, 11, f"P{n}", "C1", 0.01, 1, "0.1"] for n in range(10)]
    rows.append(["合计", None, None, None, None, None, "1"])
    assert _total_row(_trustee_sheet(tmp_path, rows)).status == "passed"
    assert pl.Series(["0.1"] * 10).cast(pl.Float64).sum() != 1  # floats would not say so
