"""The rejects marked in the delivery: exactly the rejected cells carry a fill and their reason,
the rows are the delivered values (never formulas), and formula-like text shows as text in the
workbook and in the CSV."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openpyxl
import polars as pl
import pytest
from kedro.io import Version
from kedro_datasets.partitions import PartitionedDataset
from openpyxl.worksheet.worksheet import Worksheet

from tests.reliability.support import TRUSTEE_HEADERS, trustee_domain, trustee_rows
from work_data_hub.config import DomainConfig
from work_data_hub.datasets.rejects_csv_dataset import RejectsCSVDataset
from work_data_hub.datasets.rejects_workbook_dataset import RejectsWorkbookDataset
from work_data_hub.pipelines.ingest import nodes
from work_data_hub.reports.rejects_workbook import MARK_HEADER, SUMMARY_SHEET

NOVEMBER = "2024_11_受托业绩.xlsx"
VERSION = "2024-12-01T09.00.00.000Z"
FORMULAS = ['=HYPERLINK("http://example.invalid","click")', "+cmd|' /C calc'!A0", "@SUM(A1:A9)"]


def _deliver(path: Path, rows: list[list[Any]], *, sheet: str = "受托业绩") -> None:
    """A workbook whose cells are all values: formula-like text is stored as text."""
    workbook = openpyxl.Workbook()
    worksheet = workbook.active
    assert worksheet is not None
    worksheet.title = sheet
    worksheet.append(TRUSTEE_HEADERS)
    for row in rows:
        worksheet.append(row)
    for line in worksheet.iter_rows():
        for cell in line:
            if isinstance(cell.value, str) and cell.value.startswith("="):
                cell.data_type = "s"
    path.parent.mkdir(parents=True, exist_ok=True)
    workbook.save(path)


def _run(inbox: Path, out: Path, domain: DomainConfig) -> tuple[RejectsCSVDataset, list[str]]:
    """Select, clean, save the rejects CSV, mark: the nodes and datasets in Kedro's order."""
    workbooks = PartitionedDataset(
        path=str(inbox),
        dataset={"type": "work_data_hub.datasets.excel_workbook_dataset.ExcelWorkbookDataset"},
    ).load()
    manifest = nodes.select_workbooks(workbooks, str(inbox), 1, domain=domain)
    _, rejects, _, to_mark = nodes.clean_workbooks(workbooks, manifest, domain=domain)
    version = Version(None, VERSION)
    csv = RejectsCSVDataset(filepath=str(out / "rejects" / "trustee.csv"), version=version)
    csv.save(rejects)
    marked = RejectsWorkbookDataset(
        filepath=str(out / "rejects" / "trustee_marked"), version=version
    )
    marked.save(to_mark)
    return csv, marked.load()


def _filled(sheet: Worksheet) -> dict[str, str]:
    return {
        cell.coordinate: cell.comment.text if cell.comment else ""
        for line in sheet.iter_rows()
        for cell in line
        if cell.fill.fill_type is not None
    }


def test_exactly_the_three_bad_cells_carry_a_fill_and_their_reason(tmp_path: Path) -> None:
    rows = trustee_rows(6)
    rows[1][4] = "abc"  # 收益率, Excel row 3, column E
    rows[3][2] = "P#1"  # 计划代码, row 5, column C
    rows[4][6] = "-5"  # 规模, row 6, column G: must not be negative
    _deliver(tmp_path / "inbox" / NOVEMBER, rows)
    csv, (workbook_path,) = _run(tmp_path / "inbox", tmp_path / "out", trustee_domain())
    path = Path(workbook_path)

    assert path.name == "2024_11_受托业绩.rejects.xlsx"
    assert path.parent.parent.name == VERSION  # versioned like the CSV, beside it
    assert oct(path.stat().st_mode & 0o777) == oct(0o600)
    reasons = {
        (int(reject["row"]), reject["column"]): reject["reason"]
        for reject in csv.load().to_dict("records")
    }
    workbook = openpyxl.load_workbook(path)
    assert workbook.sheetnames == [SUMMARY_SHEET, "受托业绩"]
    sheet = workbook["受托业绩"]
    filled = _filled(sheet)
    assert sorted(filled) == ["C5", "E3", "G6"]
    assert filled["E3"] == reasons[(3, "return_rate")]
    assert filled["C5"] == reasons[(5, "plan_code")]
    assert filled["G6"] == reasons[(6, "fund_scale")]
    assert sum(1 for line in sheet.iter_rows() for cell in line if cell.comment) == 3

    # The delivered rows, where they were, as values; the bad values as delivered.
    assert [cell.value for cell in sheet[1]][:7] == TRUSTEE_HEADERS
    assert (sheet["E3"].value, sheet["C5"].value, sheet["G6"].value) == ("abc", "P#1", -5)
    assert sheet["A2"].value == 2024 and sheet["C2"].value == "P0001"
    assert sheet.freeze_panes == "A2"
    assert sheet.column_dimensions["C"].width > 6
    # The rejected rows are marked (no fill) in a column after the sheet's last.
    assert sheet["H1"].value == MARK_HEADER
    marks = {row: sheet[f"H{row}"].value for row in range(2, 8) if sheet[f"H{row}"].value}
    assert sorted(marks) == [3, 5, 6]
    assert "return_rate" in marks[3] and reasons[(3, "return_rate")] in marks[3]

    summary = workbook[SUMMARY_SHEET]
    lines = [[cell.value for cell in line] for line in summary.iter_rows(min_row=5)]
    assert sorted((line[0], line[2], line[3]) for line in lines) == [
        ("fund_scale", 1, "G6"),
        ("plan_code", 1, "C5"),
        ("return_rate", 1, "E3"),
    ]
    assert summary.freeze_panes == "A5"


def test_formula_like_values_show_as_text_in_the_csv_and_the_workbook(tmp_path: Path) -> None:
    rows = trustee_rows(4)
    for row, value in zip(rows[1:], FORMULAS, strict=True):
        row[2] = value  # 计划代码: letters, digits and "." only, so each is rejected
    _deliver(tmp_path / "inbox" / NOVEMBER, rows)
    csv, (workbook_path,) = _run(tmp_path / "inbox", tmp_path / "out", trustee_domain())
    path = Path(workbook_path)

    written = Path(csv._get_load_path()).read_text(encoding="utf-8-sig")
    for value in FORMULAS:
        escaped = value.replace('"', '""')
        assert f"'{escaped}" in written, written  # Excel shows a quoted text, runs nothing
    assert sorted(csv.load()["value"]) == sorted(FORMULAS)  # and it reads back as delivered

    workbook = openpyxl.load_workbook(path)
    sheet = workbook["受托业绩"]
    cells = [sheet[f"C{row}"] for row in (3, 4, 5)]
    assert [cell.value for cell in cells] == FORMULAS
    assert all(cell.data_type == "s" and cell.quotePrefix for cell in cells)
    assert not [
        cell.coordinate
        for sheet in workbook.worksheets
        for line in sheet.iter_rows()
        for cell in line
        if cell.data_type == "f"
    ]


def test_a_run_without_rejects_writes_no_workbook(tmp_path: Path) -> None:
    _deliver(tmp_path / "inbox" / NOVEMBER, trustee_rows(3))
    _, written = _run(tmp_path / "inbox", tmp_path / "out", trustee_domain())
    assert written == []
    assert not (tmp_path / "out" / "rejects" / "trustee_marked").exists()


def test_the_csv_quotes_only_what_would_run() -> None:
    from work_data_hub.reports.spreadsheet_text import csv_escape, csv_escaped, csv_unescape

    values = ["=1+1", "+cmd", "-cmd", "@SUM(A1)", "\tx", "\rx", "'quoted", "-12.5", "+3", "abc", ""]
    expected = ["'=1+1", "'+cmd", "'-cmd", "'@SUM(A1)", "'\tx", "'\rx", "''quoted", "-12.5", "+3"]
    expected += ["abc", ""]
    assert [csv_escape(value) for value in values] == expected
    frame = pl.DataFrame({"v": values}).select(csv_escaped("v"))
    assert frame["v"].to_list() == expected
    assert [csv_unescape(value) for value in expected] == values


def test_a_big_sheet_shows_its_header_and_rejected_rows_each_where_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from work_data_hub.reports import rejects_workbook

    monkeypatch.setattr(rejects_workbook, "ALL_ROWS_UP_TO", 3)
    rows = trustee_rows(6)
    rows[3][2] = "P#1"  # row 5, column C
    _deliver(tmp_path / "inbox" / NOVEMBER, rows)
    _, (written,) = _run(tmp_path / "inbox", tmp_path / "out", trustee_domain())
    workbook = openpyxl.load_workbook(written)
    sheet = workbook["受托业绩"]
    shown = {cell.row for line in sheet.iter_rows() for cell in line if cell.value is not None}
    assert shown == {1, 5}
    assert sheet["C5"].value == "P#1" and sheet["C5"].fill.fill_type is not None
    assert "only its header and rejected rows" in str(workbook[SUMMARY_SHEET]["A2"].value)
