"""Reading a sheet: normalised headers, blank and total rows skipped and counted, Excel rows kept."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import polars as pl
import pytest
from openpyxl import Workbook, load_workbook

from tests.support.workbooks import write_workbook
from work_data_hub.cleaning.python_cells import cells_as_text
from work_data_hub.cleaning.reading import (
    RawSheet,
    headers_read_by,
    is_empty,
    normalise_header,
    plain_number_text,
    read_sheet,
)
from work_data_hub.cleaning.workbook import WorkbookReadError
from work_data_hub.config import parse_domains
from work_data_hub.datasets.excel_workbook_dataset import ExcelWorkbookDataset


def open_workbook(path: Path):  # type: ignore[no-untyped-def]
    return ExcelWorkbookDataset(filepath=str(path)).load()


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("计划代码", "计划代码"),
        (" 计划 代码 ", "计划代码"),
        ("计划\n代码", "计划代码"),
        ("计划\r\n代码", "计划代码"),
        ("计划\t代码", "计划代码"),
        ("计划\u3000代码", "计划代码"),  # ideographic (full-width) space
        ("计划\u00a0代码", "计划代码"),  # no-break space
        ("收益率（％）", "收益率(%)"),  # full-width brackets and percent sign
        ("ＮＡＶ１", "NAV1"),  # full-width letters and digits
        ("流失（含待遇支付）", "流失(含待遇支付)"),
    ],
)
def test_normalise_header(raw: str, normalised: str) -> None:
    assert normalise_header(raw) == normalised


def test_messy_headers_are_normalised_when_read(tmp_path: Path) -> None:
    path = write_workbook(
        tmp_path / "h.xlsx",
        [
            [" 年 ", "月\n", "计划\u3000代码", "公司\r\n代码", "收益率（％）", None, "规模"],
            [2024, 11, "P1", "C1", 0.1, None, 1],
        ],
        sheet="受托业绩",
    )
    sheet = read_sheet(open_workbook(path), 0)
    assert sheet.sheet == "受托业绩"
    assert sheet.headers == ("年", "月", "计划代码", "公司代码", "收益率(%)", "_unnamed_6", "规模")
    assert sheet.frame["计划代码"][0] == "P1"


def test_duplicate_headers_stay_distinct(tmp_path: Path) -> None:
    path = write_workbook(tmp_path / "d.xlsx", [["代码", "代 码", "代码"], ["a", "b", "c"]])
    sheet = read_sheet(open_workbook(path), 0)
    assert sheet.headers == ("代码", "代码.1", "代码.2")
    assert sheet.frame.select("代码", "代码.1", "代码.2").row(0) == ("a", "b", "c")


def test_blank_and_total_rows_are_skipped_and_counted_and_rows_keep_excel_numbers(
    tmp_path: Path,
) -> None:
    rows = [
        ["名称", "金额"],  # row 1
        ["甲", 1],  # row 2
        [None, None],  # row 3: blank
        ["乙", 2],  # row 4
        ["  ", "\t"],  # row 5: only white space counts as blank
        ["合计", 3],  # row 6
        [" 总 计 ", 3],  # row 7
        ["小计", None],  # row 8
        ["丙", 4],  # row 9
        ["合计：", 9],  # row 10: not exactly a total marker, kept
    ]
    path = write_workbook(tmp_path / "t.xlsx", rows, sheet="数据")
    sheet = read_sheet(open_workbook(path), "数据")
    assert sheet.rows_blank == 2
    assert sheet.rows_total == 3
    assert sheet.frame["名称"].to_list() == ["甲", "乙", "丙", "合计："]
    assert sheet.frame["_source_row"].to_list() == [2, 4, 9, 10]
    assert set(sheet.frame["_source_file"]) == {"t.xlsx"}


def test_full_width_total_marker_is_a_total_row(tmp_path: Path) -> None:
    path = write_workbook(tmp_path / "w.xlsx", [["a"], ["x"], ["合\u3000计"]])
    sheet = read_sheet(open_workbook(path), 0)
    assert sheet.rows_total == 1
    assert sheet.frame["a"].to_list() == ["x"]


def test_source_row_is_the_excel_row_with_empty_leading_rows_and_columns(tmp_path: Path) -> None:
    """Rows 1-2 and column A empty; header in row 3: `_source_row` still counts from row 1."""
    workbook = Workbook()
    worksheet = workbook.active
    assert worksheet is not None
    worksheet["B3"], worksheet["C3"] = "代码", "值"
    worksheet["B4"], worksheet["C4"] = "x", 1
    worksheet["B6"], worksheet["C6"] = "y", 2
    path = tmp_path / "offset.xlsx"
    workbook.save(path)
    sheet = read_sheet(open_workbook(path), 0, header_row=3)
    assert sheet.frame["代码"].to_list() == ["x", "y"]
    assert sheet.frame["_source_row"].to_list() == [4, 6]
    assert sheet.rows_blank == 1


def test_a_sheet_without_data_rows_gives_an_empty_frame(tmp_path: Path) -> None:
    path = write_workbook(tmp_path / "e.xlsx", [["年", "月"]])
    sheet = read_sheet(open_workbook(path), 0)
    assert sheet.frame.is_empty()
    assert list(sheet.frame.columns) == ["年", "月", "_source_file", "_source_row"]


def test_a_missing_sheet_names_file_and_sheets(tmp_path: Path) -> None:
    path = write_workbook(tmp_path / "s.xlsx", [["a"]], sheet="甲")
    with pytest.raises(WorkbookReadError, match=r"s\.xlsx.*'规模明细' not found.*'甲'"):
        read_sheet(open_workbook(path), "规模明细")
    with pytest.raises(WorkbookReadError, match=r"s\.xlsx.*no visible sheet number 2"):
        read_sheet(open_workbook(path), 1)


def test_a_garbage_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.xlsx"
    path.write_bytes(b"not a workbook")
    with pytest.raises(WorkbookReadError, match=r"bad\.xlsx.*not a readable Excel workbook"):
        open_workbook(path)


def test_cells_become_the_text_a_person_sees() -> None:
    cells = pd.Series(
        [
            "  text ",
            "",
            "   ",
            None,
            5.0,
            0.055,
            -3,
            True,
            dt.datetime(2024, 11, 1),
            dt.datetime(2024, 11, 1, 8, 30),
            dt.date(2024, 11, 2),
            1e20,
        ],
        dtype=object,
    )
    assert cells_as_text(cells).tolist() == [
        "  text ",
        pd.NA,
        pd.NA,
        pd.NA,
        "5",
        "0.055",
        "-3",
        "True",
        "2024-11-01",
        "2024-11-01 08:30:00",
        "2024-11-02",
        "1e+20",
    ]


def test_the_frame_is_polars_text_with_lineage_and_a_problem_frame_of_the_same_shape(
    tmp_path: Path,
) -> None:
    path = write_workbook(
        tmp_path / "p.xlsx", [["代码", "金额"], ["a", 1.5], ["b", "#DIV/0!"], ["c", "=1/0"]]
    )
    sheet = read_sheet(open_workbook(path), 0)
    assert isinstance(sheet.frame, pl.DataFrame)
    assert sheet.frame.schema == pl.Schema(
        {"代码": pl.String, "金额": pl.String, "_source_file": pl.String, "_source_row": pl.Int64}
    )
    assert sheet.frame["金额"].to_list() == ["1.5", "#DIV/0!", "=1/0"]
    assert sheet.cell_problems.columns == ["代码", "金额"]
    assert sheet.cell_problems.height == sheet.frame.height
    reasons = sheet.cell_problems["金额"].to_list()
    assert reasons[0] is None and reasons[1] == "Excel error cell #DIV/0!"
    assert reasons[2].startswith("formula without a cached value")
    assert sheet.cell_problems["代码"].null_count() == 3


def test_a_hand_built_sheet_has_no_cell_problems() -> None:
    frame = pl.DataFrame({"a": ["x", "y"]})
    sheet = RawSheet(frame, "f.xlsx", "s", ("a",), 0, 0)
    assert sheet.cell_problems["a"].to_list() == [None, None]


@pytest.mark.parametrize(
    ("number", "text"),
    [
        (3e-9, "0.000000003"),
        (-1.5e-12, "-0.0000000000015"),
        (1e20, "100000000000000000000"),
        (1.25e21, "1250000000000000000000"),
        (0.5, "0.5"),
        (345631903.54, "345631903.54"),
    ],
)
def test_plain_number_text_is_shortest_and_without_exponent(number: float, text: str) -> None:
    result = pl.select(plain_number_text(pl.lit(number, dtype=pl.Float64))).item()
    assert result == text


@pytest.mark.parametrize(
    ("cell", "empty"),
    [(None, True), ("", True), (" \t\n", True), ("\u3000", True), ("\u00a0", True), ("x", False)],
)
def test_empty_means_null_or_unicode_white_space(cell: str | None, empty: bool) -> None:
    frame = pl.DataFrame({"c": pl.Series([cell], dtype=pl.String)})
    assert frame.select(is_empty(pl.col("c"))).item() is empty


def test_headers_read_by_a_domain_include_aliases(tmp_path: Path) -> None:
    domain = parse_domains(
        {
            "domains": {
                "d": {
                    "pattern": r"(?P<year>20\d{2})_(?P<month>1[0-2]|0?[1-9])_d",
                    "table": "d",
                    "refresh_scope": ["plan"],
                    "header_aliases": {"计划 号": "计划代码"},
                    "columns": {
                        "plan": {"rule": "code", "source": "计划代码", "aliases": ["计划编号"]},
                        "name": {"rule": "text"},
                    },
                }
            }
        }
    )["d"]
    assert headers_read_by(domain) == {"计划代码", "计划编号", "计划号", "name"}


def test_a_formula_beyond_the_cells_with_values_widens_the_sheet(tmp_path: Path) -> None:
    path = write_workbook(tmp_path / "w.xlsx", [["a", "b"], ["x", None]])
    workbook = load_workbook(path)
    workbook.active["B2"] = "=A2"  # type: ignore[index]
    workbook.active["B4"] = "=A2"  # type: ignore[index]
    workbook.save(path)
    sheet = read_sheet(open_workbook(path), 0)
    assert sheet.frame["b"].to_list() == ["=A2", "=A2"]
    assert sheet.frame["_source_row"].to_list() == [2, 4]
    assert sheet.rows_blank == 1
