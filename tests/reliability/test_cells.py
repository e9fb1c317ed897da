"""Every non-empty cell becomes a value or a reject, never NULL (one test per kind of cell).

Each workbook is written with openpyxl, as a script or a department's tool would write it,
read by the reader and cleaned by the engine.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.reliability.support import replace_cell_text
from tests.support.frames import Cleaned, pandas_view
from tests.support.workbooks import write_workbook
from work_data_hub.cleaning import sheet_xml, workbook
from work_data_hub.cleaning.engine import clean_sheet
from work_data_hub.cleaning.reading import headers_read_by, read_sheet
from work_data_hub.cleaning.sheet_xml import SheetMarks
from work_data_hub.cleaning.workbook import open_workbook
from work_data_hub.config import DomainConfig, parse_domains

HEADERS = ["编号", "说明", "金额"]


def _domain() -> DomainConfig:
    return parse_domains(
        {
            "domains": {
                "notes": {
                    "pattern": r"(?P<year>20\d{2})_(?P<month>1[0-2]|0?[1-9])_notes",
                    "table": "notes",
                    "refresh_scope": ["ref"],
                    "columns": {
                        "ref": {"rule": "code", "source": "编号", "upper": False},
                        "note": {"rule": "text", "source": "说明"},
                        "amount": {"rule": "decimal", "source": "金额", "type": "numeric(18,2)"},
                    },
                }
            }
        }
    )["notes"]


def _clean(path: Path) -> Cleaned:
    domain = _domain()
    sheet = read_sheet(open_workbook(path), 0, reads=headers_read_by(domain))
    return pandas_view(clean_sheet(sheet, domain, dt.date(2024, 12, 1)))


def _write(tmp_path: Path, rows: list[list[Any]]) -> Path:
    return write_workbook(tmp_path / "2024_11_notes.xlsx", [HEADERS, *rows])


def _reject(result: Cleaned, row: int) -> pd.Series:
    (found,) = [reject for _, reject in result.rejects.iterrows() if reject["row"] == row]
    return found


@pytest.mark.parametrize("sheet_xml", ["read", "absent"])
@pytest.mark.parametrize("error", ["#N/A", "#DIV/0!", "#REF!", "#VALUE!", "#NAME?", "#NUM!"])
@pytest.mark.parametrize(("header", "column"), [("说明", "note"), ("金额", "amount")])
def test_an_excel_error_cell_is_a_reject_showing_the_error(
    sheet_xml: str,
    error: str,
    header: str,
    column: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if sheet_xml == "absent":
        # A workbook without sheet XML to scan (not an OOXML zip): fastexcel names the errors.
        monkeypatch.setattr(workbook, "marked_cells", lambda *_: SheetMarks([], None))
    cells = {"编号": "R2", "说明": "fine", "金额": 1}
    cells[header] = error
    result = _clean(_write(tmp_path, [["R1", "fine", 1], [cells[h] for h in HEADERS]]))
    assert result.rows["ref"].tolist() == ["R1"]
    reject = _reject(result, 3)
    assert (reject["column"], reject["value"]) == (column, error)
    assert reject["reason"] == f"Excel error cell {error}"


@pytest.mark.parametrize(("header", "column"), [("说明", "note"), ("金额", "amount")])
def test_a_formula_without_a_cached_value_is_a_reject(
    header: str, column: str, tmp_path: Path
) -> None:
    cells: dict[str, Any] = {"编号": "R2", "说明": "fine", "金额": 1}
    cells[header] = "=SUM(1,2)"  # openpyxl stores the formula and no value: Excel never ran it
    result = _clean(_write(tmp_path, [["R1", "fine", 1], [cells[h] for h in HEADERS]]))
    assert result.rows["ref"].tolist() == ["R1"]
    reject = _reject(result, 3)
    assert (reject["column"], reject["value"]) == (column, "=SUM(1,2)")
    assert reject["reason"].startswith("formula without a cached value")


def test_a_formula_in_a_column_of_its_own_is_still_seen(tmp_path: Path) -> None:
    """A column with no stored value at all is outside the range a value reader returns."""
    path = write_workbook(
        tmp_path / "2024_11_notes.xlsx", [HEADERS, ["R1", "fine", "=1/3"], ["R2", "ok", None]]
    )
    result = _clean(path)
    assert result.rows["ref"].tolist() == ["R2"]
    assert _reject(result, 2)["reason"].startswith("formula without a cached value")


@pytest.mark.parametrize("number", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize(("header", "column"), [("说明", "note"), ("金额", "amount")])
def test_a_number_cell_holding_nan_is_a_reject(
    number: float, header: str, column: str, tmp_path: Path
) -> None:
    cells: dict[str, Any] = {"编号": "R2", "说明": "fine", "金额": 1}
    cells[header] = number  # openpyxl writes a number cell without a number
    result = _clean(_write(tmp_path, [["R1", "fine", 1], [cells[h] for h in HEADERS]]))
    assert result.rows["ref"].tolist() == ["R1"]
    reject = _reject(result, 3)
    assert (reject["column"], reject["value"], reject["reason"]) == (
        column,
        "NaN",
        "number cell holds NaN",
    )


@pytest.mark.parametrize("word", ["NaN", "nan", "inf", "-Infinity"])
def test_a_number_cell_holding_the_word_nan_is_a_reject(word: str, tmp_path: Path) -> None:
    path = _write(tmp_path, [["R1", "fine", 1], ["R2", 7654.125, 2]])
    replace_cell_text(path, "<v>7654.125</v>", f"<v>{word}</v>")
    result = _clean(path)
    assert result.rows["ref"].tolist() == ["R1"]
    reject = _reject(result, 3)
    assert (reject["column"], reject["value"]) == ("note", word)
    assert reject["reason"] == f"number cell holds {word}"


@pytest.mark.parametrize(
    ("number", "text"),
    [
        (345631903.54, "345631903.54"),
        (1 / 3, "0.3333333333333333"),
        (2 / 3, "0.6666666666666666"),
        (2.0000000001, "2.0000000001"),  # fastexcel's text: "2"
        (1234.5678901234, "1234.5678901234"),
        (3e-9, "0.000000003"),
        (1.5e-12, "0.0000000000015"),
        (0.055, "0.055"),
        (2.675, "2.675"),
    ],
)
def test_a_number_in_a_text_column_is_its_shortest_exact_text(
    number: float, text: str, tmp_path: Path
) -> None:
    result = _clean(_write(tmp_path, [["R1", number, 1]]))
    assert result.rows["note"].tolist() == [text]
    assert float(text) == number  # the same number, not a rounded one


@pytest.mark.parametrize(
    "stored", ["0.30000000000000004", "0.33333333333333331", "3.0000000000000001E-9", "1E-10"]
)
def test_a_number_as_excel_stores_it_reads_as_its_shortest_exact_text(
    stored: str, tmp_path: Path
) -> None:
    """Excel stores 17 significant digits; the text is the shortest that reads back the same."""
    path = _write(tmp_path, [["R1", 7654.125, 1]])
    replace_cell_text(path, "<v>7654.125</v>", f"<v>{stored}</v>")
    (text,) = _clean(path).rows["note"].tolist()
    assert float(text) == float(stored) and "e" not in text.lower()
    assert len(text) <= len(repr(float(stored))) + 10


@pytest.mark.parametrize(
    ("cell", "text"),
    [
        # Attributes in another order than openpyxl writes them (Excel, LibreOffice).
        ('<c s="0" r="B2"><v>0.12345678901234</v></c>', "0.12345678901234"),
        ('<c r="B2" t="n" s="0"><v>1.2345678901E-5</v></c>', "0.000012345678901"),
        # A formula's cached value.
        ('<c r="B2"><f>1/3</f><v>0.33333333333333331</v></c>', "0.3333333333333333"),
        # A formula's text result keeps every character, however many digits it holds.
        ('<c r="B2" t="str"><f>A2</f><v>0.10000000000000000001</v></c>', "0.10000000000000000001"),
        # Without a cell reference the place is unknown: every number is read again.
        ('<c t="n"><v>0.12345678901234</v></c>', "0.12345678901234"),
    ],
)
def test_a_number_stored_with_more_than_nine_decimals_keeps_its_digits(
    cell: str, text: str, tmp_path: Path
) -> None:
    path = _write(tmp_path, [["R1", 7654.125, 1]])
    replace_cell_text(path, '<c r="B2" t="n"><v>7654.125</v></c>', cell)
    assert _clean(path).rows["note"].tolist() == [text]


def test_long_numbers_keep_their_digits_in_a_sheet_that_starts_right_of_column_a(
    tmp_path: Path,
) -> None:
    path = write_workbook(
        tmp_path / "2024_11_notes.xlsx",
        [[None, None, *HEADERS], [None, None, "R1", 0.1234567890123, 2.0000000001]],
    )
    result = _clean(path)
    assert result.rows["note"].tolist() == ["0.1234567890123"]
    assert result.rows["amount"].tolist() == ["2.0000000001"]


@pytest.mark.parametrize(
    ("number", "text"),
    [
        (1234567890123450, "1234567890123450"),
        (5.0, "5"),
        (-3, "-3"),
        (1e15, "1000000000000000"),
        (1e20, "100000000000000000000"),
        (9007199254740993, "9007199254740992"),  # past 2^53 Excel holds the nearest double
    ],
)
def test_a_whole_number_keeps_its_digits_without_dot_zero_or_exponent(
    number: float, text: str, tmp_path: Path
) -> None:
    result = _clean(_write(tmp_path, [[number, number, 1]]))
    assert result.rows[["ref", "note"]].values.tolist() == [[text, text]]


def test_negative_zero_reads_as_zero(tmp_path: Path) -> None:
    result = _clean(_write(tmp_path, [["R1", -0.0, -0.0]]))
    assert result.rows["note"].tolist() == ["0"]
    assert result.rows["amount"].astype(float).tolist() == [0.0]


@pytest.mark.parametrize(
    ("cell", "text"),
    [
        (dt.datetime(2024, 11, 1), "2024-11-01"),
        (dt.date(2024, 11, 2), "2024-11-02"),
        (dt.datetime(2024, 11, 1, 8, 30), "2024-11-01 08:30:00"),
        (dt.time(8, 30), "08:30:00"),
        (dt.time(0, 0, 5), "00:00:05"),
    ],
)
def test_dates_and_times_read_as_a_person_sees_them(
    cell: object, text: str, tmp_path: Path
) -> None:
    result = _clean(_write(tmp_path, [["R1", cell, 1]]))
    assert result.rows["note"].tolist() == [text]


def test_booleans_read_as_excel_shows_them_and_the_word_true_stays_as_typed(
    tmp_path: Path,
) -> None:
    result = _clean(_write(tmp_path, [["R1", True, 1], ["R2", False, 1], ["R3", "true", 1]]))
    assert result.rows["note"].tolist() == ["TRUE", "FALSE", "true"]


@pytest.mark.parametrize("blank", ["", "   ", "\t", "\u3000", "\u00a0", "\n"])
def test_an_empty_or_white_space_cell_is_empty(blank: str, tmp_path: Path) -> None:
    result = _clean(_write(tmp_path, [["R1", blank, 1]]))
    assert result.rows["note"].isna().tolist() == [True]
    assert result.rejects.empty


def test_a_row_of_white_space_is_a_blank_row(tmp_path: Path) -> None:
    path = _write(tmp_path, [["R1", "x", 1], ["  ", "\u3000", "\t"], ["R2", "y", 2]])
    sheet = read_sheet(open_workbook(path), 0)
    assert sheet.rows_blank == 1
    assert sheet.frame["_source_row"].to_list() == [2, 4]


def test_no_cell_of_a_mixed_sheet_becomes_null(tmp_path: Path) -> None:
    """Every non-empty cell of every kind: a value in the rows or a reject, never NULL."""
    kinds: list[Any] = [
        "text",
        345631903.54,
        1 / 3,
        1234567890123450,
        dt.datetime(2024, 1, 2),
        dt.time(1, 2, 3),
        True,
        -0.0,
        "#DIV/0!",
        "=A1",
        math.nan,
    ]
    path = _write(tmp_path, [[f"R{i}", cell, 1] for i, cell in enumerate(kinds)])
    result = _clean(path)
    rejected = set(result.rejects["row"])
    loaded = dict(zip(result.rows["_source_row"], result.rows["note"], strict=True))
    for offset in range(len(kinds)):
        row = offset + 2
        assert row in rejected or (row in loaded and not pd.isna(loaded[row])), row
    assert rejected == {10, 11, 12}


def test_the_xml_pass_reads_a_damaged_byte_as_a_replacement_character() -> None:
    """A sheet part with a byte that is not UTF-8 is still scanned, as Python's decode with
    ``errors="replace"`` would read it: its marked cells and long numbers are found."""
    block = (
        b'<row r="2"><c r="A2" t="inlineStr"><is><t>\xff</t></is></c>'
        b'<c r="B2" t="e"><v>#N/A</v></c><c r="C2"><v>0.12345678901234</v></c></row>'
    )
    found, numbers = sheet_xml._scan(block)
    assert found
    assert numbers["cell"].to_list() == ['<c r="C2"><v>0.12345678901234</v>']
