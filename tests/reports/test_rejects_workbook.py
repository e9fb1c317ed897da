"""The rejects marked in the delivery: exactly the rejected cells carry a fill and their reason,
the rows are the delivered values (never formulas), and formula-like text shows as text in the
workbook and in the CSV."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import fastexcel
import openpyxl
import polars as pl
import pytest
from kedro.io import DatasetError, Version
from openpyxl.comments import Comment
from openpyxl.worksheet.worksheet import Worksheet

from tests.reliability.support import (
    TRUSTEE_HEADERS,
    replace_cell_text,
    trustee_domain,
    trustee_rows,
)
from tests.support.paths import PROJECT_ROOT
from tests.support.workbooks import inbox_workbooks
from work_data_hub.config import DomainConfig
from work_data_hub.datasets.rejects_csv_dataset import RejectsCSVDataset
from work_data_hub.datasets.rejects_workbook_dataset import (
    RejectsWorkbookDataset,
    RejectsWorkbookError,
)
from work_data_hub.pipelines.ingest import nodes
from work_data_hub.reports.marked_copy import DeliveredSheet
from work_data_hub.reports.rejects_workbook import MARK_HEADER, SUMMARY_SHEET, RejectsToMark

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
    _, rejects, _, to_mark = _cleaned(inbox, domain, max_files=1)
    version = Version(None, VERSION)
    csv = RejectsCSVDataset(filepath=str(out / "rejects" / "trustee.csv"), version=version)
    csv.save(rejects)
    marked = RejectsWorkbookDataset(
        filepath=str(out / "rejects" / "trustee_marked"), version=version
    )
    marked.save(to_mark)
    return csv, marked.load()


def _cleaned(inbox: Path, domain: DomainConfig, *, max_files: int) -> Any:
    """The clean_workbooks node's outputs for ``inbox`` (rows, rejects, summary, to mark)."""
    workbooks = inbox_workbooks(inbox)
    manifest = nodes.select_workbooks(workbooks, str(inbox), max_files, domain=domain)
    return nodes.clean_workbooks(workbooks, manifest, domain=domain)


def _to_mark(inbox: Path, *, max_files: int) -> RejectsToMark:
    """Select and clean ``inbox``'s trustee workbooks: what the rejects workbooks are made of."""
    *_, to_mark = _cleaned(inbox, trustee_domain(), max_files=max_files)
    return to_mark


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
    # "-5" was delivered as text, and stays text.
    assert (sheet["E3"].value, sheet["C5"].value, sheet["G6"].value) == ("abc", "P#1", "-5")
    assert sheet["A2"].value == 2024 and sheet["C2"].value == "P0001"
    assert sheet.freeze_panes == "A2"
    assert sheet.column_dimensions["C"].width > 6
    assert sheet.column_dimensions["H"].width == 50
    assert sheet.auto_filter.ref == "A1:H7"
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
    assert summary.column_dimensions["B"].width > 6
    assert workbook.active is not None and workbook.active.title == SUMMARY_SHEET


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


def _cells(sheet: Worksheet, columns: int) -> list[tuple[Any, ...]]:
    return [line[:columns] for line in sheet.iter_rows(values_only=True)]


def _parts_text(path: Path) -> str:
    with zipfile.ZipFile(path) as archive:
        return "".join(archive.read(name).decode("utf-8", "replace") for name in archive.namelist())


@pytest.mark.parametrize("writer", ["xlsxwriter", "openpyxl"])
def test_every_delivered_row_is_in_the_marked_workbook(tmp_path: Path, writer: str) -> None:
    """XlsxWriter stores text as shared strings, openpyxl as inline strings."""
    rows = trustee_rows(3_000)
    rows[100][4] = "abc"  # Excel row 102, column E
    rows[1_500][2] = "P#1"  # row 1502, column C
    rows[2_999][6] = "-5"  # row 3001, column G
    source = tmp_path / "inbox" / NOVEMBER
    if writer == "openpyxl":
        _deliver(source, rows)
    else:
        import xlsxwriter

        source.parent.mkdir(parents=True)
        with xlsxwriter.Workbook(source) as delivered:
            worksheet = delivered.add_worksheet("受托业绩")
            for index, row in enumerate([TRUSTEE_HEADERS, *rows]):
                worksheet.write_row(index, 0, row)
        with zipfile.ZipFile(source) as archive:
            assert "xl/sharedStrings.xml" in archive.namelist()
    _, (written,) = _run(tmp_path / "inbox", tmp_path / "out", trustee_domain())

    workbook = openpyxl.load_workbook(written)
    sheet = workbook["受托业绩"]
    expected = _cells(openpyxl.load_workbook(source)["受托业绩"], 7)
    assert len(expected) == 3_001
    assert _cells(sheet, 7) == expected
    assert sorted(_filled(sheet)) == ["C1502", "E102", "G3001"]
    marks = [row for (row,) in sheet.iter_rows(min_col=8, max_col=8, values_only=True)]
    assert [index for index, mark in enumerate(marks, start=1) if mark] == [1, 102, 1502, 3001]
    assert sheet.auto_filter.ref == "A1:H3001"
    assert "<f>" not in _parts_text(Path(written))


def test_formulas_come_out_as_their_values_and_the_formats_stay(tmp_path: Path) -> None:
    import xlsxwriter

    source = tmp_path / "inbox" / NOVEMBER
    source.parent.mkdir(parents=True)
    delivered = xlsxwriter.Workbook(source)
    sheet = delivered.add_worksheet("受托业绩")
    amount = delivered.add_format({"num_format": "#,##0.00"})
    sheet.write_row(0, 0, TRUSTEE_HEADERS)
    for index, row in enumerate(trustee_rows(4), start=1):
        sheet.write_row(index, 0, row[:6])
        sheet.write_number(index, 6, 1000 + index, amount)
    sheet.write_formula("G2", "=1000+0.5", amount, 1000.5)  # a number result
    sheet.write_formula("C3", '="P"&"0002"', None, "P0002")  # a text result
    sheet.write_formula("G4", "=1+2", amount, 3)  # its value removed below: none cached
    sheet.write_string("C5", FORMULAS[0])  # formula-like text: rejected (not a plan code)
    sheet.set_row(4, None, None, {"hidden": True})  # Excel row 5
    delivered.close()
    replace_cell_text(source, "<f>1+2</f><v>3</v>", "<f>1+2</f>")
    # G2 and G3 share G2's formula, as Excel stores a formula filled down.
    replace_cell_text(source, "<f>1000+0.5</f>", '<f t="shared" ref="G2:G3" si="0">1000+0.5</f>')
    replace_cell_text(source, '<c r="G3" s="1"><v>', '<c r="G3" s="1"><f t="shared" si="0"/><v>')
    with zipfile.ZipFile(source) as archive:
        stored = archive.read("xl/worksheets/sheet1.xml")
    assert b'<f t="shared" si="0"/><v>' in stored and b"<f>1+2</f></c>" in stored
    _, (written,) = _run(tmp_path / "inbox", tmp_path / "out", trustee_domain())

    assert "<f>" not in _parts_text(Path(written)) and "<f " not in _parts_text(Path(written))
    workbook = openpyxl.load_workbook(written)
    marked = workbook["受托业绩"]
    assert (marked["G2"].value, marked["G2"].data_type) == (1000.5, "n")
    assert (marked["G3"].value, marked["G3"].data_type) == (1002, "n")
    assert (marked["C3"].value, marked["C3"].data_type) == ("P0002", "s")
    assert marked["G2"].number_format == "#,##0.00"  # the delivered format, kept
    # A formula without a cached value is empty, as the run read it, and rejected.
    assert marked["G4"].value is None
    assert sorted(_filled(marked)) == ["C5", "G4"]
    assert "formula without a cached value" in _filled(marked)["G4"]
    assert marked["G4"].number_format == "#,##0.00"  # a rejected cell keeps its own format too
    assert marked["C5"].value == FORMULAS[0] and marked["C5"].data_type == "s"
    assert marked["C5"].quotePrefix
    assert not marked.row_dimensions[5].hidden  # a hidden row is shown


@pytest.mark.parametrize(
    "unhandled",
    [
        "has comments of its own",
        # found while the rows are copied: the copy is started again from the values
        "where the row's reasons go, holds a value",
    ],
)
def test_a_sheet_the_copy_does_not_handle_is_written_from_its_values(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, unhandled: str
) -> None:
    rows = trustee_rows(6)
    rows[1][4] = "abc"  # E3
    rows[3][2] = "P#1"  # C5
    rows[4][6] = "-5"  # G6
    _deliver(tmp_path / "inbox" / NOVEMBER, rows)
    delivered = openpyxl.load_workbook(tmp_path / "inbox" / NOVEMBER)
    if unhandled == "has comments of its own":
        delivered["受托业绩"]["A1"].comment = Comment("the year", "someone")
    else:
        delivered["受托业绩"]["H5"] = " "  # blank to the run, a value to Excel
    delivered.save(tmp_path / "inbox" / NOVEMBER)
    with caplog.at_level(logging.INFO, logger="work_data_hub.reports.rejects_workbook"):
        _, (written,) = _run(tmp_path / "inbox", tmp_path / "out", trustee_domain())

    said = [
        r.getMessage() for r in caplog.records if "written from the values read" in r.getMessage()
    ]
    assert len(said) == 1 and unhandled in said[0]
    path = Path(written)
    assert oct(path.stat().st_mode & 0o777) == oct(0o600)
    workbook = openpyxl.load_workbook(path)
    assert workbook.sheetnames == [SUMMARY_SHEET, "受托业绩"]
    sheet = workbook["受托业绩"]
    assert sorted(_filled(sheet)) == ["C5", "E3", "G6"]
    assert sum(1 for line in sheet.iter_rows() for cell in line if cell.comment) == 3
    assert len(_cells(sheet, 7)) == 7 and sheet["C2"].value == "P0001"
    assert sheet.freeze_panes == "A2"
    assert [cell.value for cell in sheet[1]][-1] == MARK_HEADER


def test_a_copy_of_a_sheet_past_a_gibibyte_has_zip64_sizes_and_opens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Such a sheet may come out past the 4 GiB a zip entry holds without ZIP64."""
    monkeypatch.setattr(DeliveredSheet, "_big", lambda self, member: True)
    rows = trustee_rows(6)
    rows[1][4] = "abc"  # E3
    _deliver(tmp_path / "inbox" / NOVEMBER, rows)
    _, (written,) = _run(tmp_path / "inbox", tmp_path / "out", trustee_domain())

    with zipfile.ZipFile(written) as archive:
        assert archive.testzip() is None
        assert all(info.extract_version >= 45 for info in archive.infolist())
    sheet = openpyxl.load_workbook(written)["受托业绩"]
    assert sorted(_filled(sheet)) == ["E3"]
    frame = fastexcel.read_excel(written).load_sheet("受托业绩").to_polars()
    assert frame.height == 6 and frame["计划代码"].to_list()[0] == "P0001"


def test_a_workbook_gone_before_it_is_marked_fails_whoever_waits_and_leaves_no_file(
    tmp_path: Path,
) -> None:
    rows = trustee_rows(3)
    rows[1][4] = "abc"
    inbox = tmp_path / "inbox"
    _deliver(inbox / NOVEMBER, rows)
    to_mark = _to_mark(inbox, max_files=1)
    (inbox / NOVEMBER).unlink()
    folder = tmp_path / "out" / "trustee_marked"
    marked = RejectsWorkbookDataset(filepath=str(folder), version=Version(None, VERSION))
    marked.save(to_mark)  # handed to the background: its failure goes to whoever waits
    with pytest.raises(
        RejectsWorkbookError, match=f"^{NOVEMBER}: the workbook cannot be read again"
    ) as raised:
        marked.load()
    assert raised.value.fields == {"domain": "trustee_performance", "file": NOVEMBER}
    assert isinstance(raised.value, DatasetError)
    assert not list(folder.rglob("*.xlsx")) and not list(folder.rglob(".*"))


_UNWAITED = """
import sys, time
from dataclasses import replace
from pathlib import Path
from kedro.io import Version
from tests.reports.test_rejects_workbook import NOVEMBER, VERSION, _deliver, _to_mark
from tests.reliability.support import trustee_rows
from work_data_hub.datasets import rejects_workbook_dataset as marking

real = marking.mark_rejects
def slowly(*args, **kwargs):
    time.sleep(0.5)  # still being written when the script ends
    return real(*args, **kwargs)
marking.mark_rejects = slowly
root = Path(sys.argv[1])
for name, gone in (("kept", False), ("gone", True)):
    rows = trustee_rows(3)
    rows[1][4] = "abc"
    inbox = root / name
    _deliver(inbox / NOVEMBER, rows)
    to_mark = _to_mark(inbox, max_files=1)
    to_mark = replace(to_mark, domain=to_mark.domain.model_copy(update={"name": name}))
    if gone:
        (inbox / NOVEMBER).unlink()
    folder = root / "out" / name
    marking.RejectsWorkbookDataset(filepath=str(folder), version=Version(None, VERSION)).save(to_mark)
"""


def test_a_write_nobody_waited_for_is_finished_or_its_failure_logged_at_exit(
    tmp_path: Path,
) -> None:
    result = subprocess.run(
        [sys.executable, "-c", _UNWAITED, str(tmp_path)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={**os.environ, "COLUMNS": "300", "NO_COLOR": "1"},
    )
    assert result.returncode == 0, result.stderr
    (kept,) = (tmp_path / "out" / "kept").rglob("*.xlsx")
    assert sorted(_filled(openpyxl.load_workbook(kept)["受托业绩"])) == ["E3"]
    assert not list((tmp_path / "out" / "gone").rglob("*.xlsx"))
    logged = result.stdout + result.stderr
    assert f"gone: {NOVEMBER}: the workbook cannot be read again" in logged


def test_several_workbooks_are_each_marked_with_their_own_rejects(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    for month in (9, 10, 11):
        rows = trustee_rows(3, month=month)
        rows[month - 9][4] = f"bad{month}"
        _deliver(inbox / f"2024_{month:02d}_受托业绩.xlsx", rows)
    to_mark = _to_mark(inbox, max_files=3)
    folder = tmp_path / "out" / "trustee_marked"
    marked = RejectsWorkbookDataset(filepath=str(folder), version=Version(None, VERSION))
    marked.save(to_mark)

    written = {Path(path).name: path for path in marked.load()}
    assert len(written) == 3
    for month in (9, 10, 11):
        name = next(n for n in written if n.startswith(f"2024_{month:02d}"))
        workbook = openpyxl.load_workbook(written[name])
        sheet = workbook[workbook.sheetnames[1]]
        assert list(_filled(sheet)) == [f"E{month - 9 + 2}"], name
