"""No header trick drops a column: twice-present headers and header-less data are errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import Workbook

from tests.support.workbooks import write_workbook
from work_data_hub.cleaning.reading import headers_read_by, read_sheet
from work_data_hub.cleaning.workbook import WorkbookReadError, open_workbook
from work_data_hub.config import DomainConfig, parse_domains


def _domain() -> DomainConfig:
    return parse_domains(
        {
            "domains": {
                "scale": {
                    "pattern": r"(?P<year>20\d{2})_(?P<month>1[0-2]|0?[1-9])_scale",
                    "table": "scale",
                    "refresh_scope": ["plan"],
                    "columns": {
                        "plan": {"rule": "code", "source": "计划代码"},
                        "fund_scale": {
                            "rule": "decimal",
                            "type": "numeric(18,2)",
                            "source": "规模",
                            "aliases": ["规模(元)"],
                        },
                    },
                }
            }
        }
    )["scale"]


def _read(path: Path, header_row: int = 1) -> None:
    read_sheet(open_workbook(path), 0, header_row, reads=headers_read_by(_domain()))


@pytest.mark.parametrize("twice", ["规模", "规 模", "规模(元)"])
def test_a_header_the_domain_reads_present_twice_names_file_sheet_and_columns(
    twice: str, tmp_path: Path
) -> None:
    path = write_workbook(
        tmp_path / "d.xlsx", [["计划代码", "规模", "备注", twice], ["P1", None, "x", 5]], sheet="S"
    )
    if twice == "规模(元)":
        path = write_workbook(
            tmp_path / "d.xlsx", [["计划代码", twice, "备注", twice], ["P1", None, "x", 5]]
        )
    with pytest.raises(WorkbookReadError) as caught:
        _read(path)
    message = str(caught.value)
    assert "d.xlsx" in message and "appears 2 times" in message
    assert "columns B, D" in message


def test_a_header_the_domain_does_not_read_may_appear_twice(tmp_path: Path) -> None:
    path = write_workbook(
        tmp_path / "d.xlsx", [["计划代码", "规模", "备注", "备注"], ["P1", 1, "x", "y"]]
    )
    sheet = read_sheet(open_workbook(path), 0, reads=headers_read_by(_domain()))
    assert sheet.headers == ("计划代码", "规模", "备注", "备注.1")


def test_data_under_a_column_without_a_header_names_the_column_and_row(tmp_path: Path) -> None:
    path = write_workbook(
        tmp_path / "h.xlsx", [["计划代码", "规模", None], ["P1", 1, None], ["P2", 2, "lost?"]]
    )
    with pytest.raises(WorkbookReadError, match=r"h\.xlsx.*column C holds data \(first at C3\)"):
        _read(path)


def test_an_empty_column_without_a_header_is_fine(tmp_path: Path) -> None:
    path = write_workbook(tmp_path / "e.xlsx", [["计划代码", None, "规模"], ["P1", None, 1]])
    sheet = read_sheet(open_workbook(path), 0)
    assert sheet.headers == ("计划代码", "_unnamed_2", "规模")


def test_data_under_the_second_cell_of_a_merged_header_is_an_error(tmp_path: Path) -> None:
    workbook = Workbook()
    worksheet = workbook.active
    assert worksheet is not None
    worksheet.append(["计划代码", "规模", None])
    worksheet.merge_cells("B1:C1")
    worksheet.append(["P1", 1, 2])
    path = tmp_path / "m.xlsx"
    workbook.save(path)
    with pytest.raises(WorkbookReadError, match=r"column C holds data .*merged header"):
        _read(path)


def test_header_row_is_the_excel_row_not_the_first_non_empty_one(tmp_path: Path) -> None:
    workbook = Workbook()
    worksheet = workbook.active
    assert worksheet is not None
    worksheet["A3"], worksheet["B3"] = "计划代码", "规模"
    worksheet["A4"], worksheet["B4"] = "P1", 1
    path = tmp_path / "r.xlsx"
    workbook.save(path)
    # header_row 1 is the empty Excel row 1: its columns have no header, so nothing is guessed.
    with pytest.raises(WorkbookReadError, match=r"column A holds data \(first at A3\)"):
        _read(path, header_row=1)
    sheet = read_sheet(open_workbook(path), 0, header_row=3)
    assert sheet.headers == ("计划代码", "规模")
    assert sheet.frame["_source_row"].to_list() == [4]
