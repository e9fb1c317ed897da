"""The rejects marked in the delivery: one workbook per delivered file with rejected rows.

What the people who fix a delivery open in Excel: a first sheet that counts the rejects by
column and reason, then the delivered sheet with every row where it was (Excel row 17 is row
17 here, column H is H), as values, never formulas. Each rejected cell has a fill and its
reason as a comment; each rejected row names its reasons in one column added after the
sheet's last (the filter on the header row shows only those rows). Text a spreadsheet would
run as a formula is written as text (:mod:`work_data_hub.reports.spreadsheet_text`).

Written with XlsxWriter in constant-memory mode: rows go to disk as they are written, so a
big delivery costs its text columns (already read) and no workbook held in memory.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any

import polars as pl

from work_data_hub.cleaning.reading import ShownSheet
from work_data_hub.cleaning.sheet_xml import column_letters
from work_data_hub.config import DomainConfig
from work_data_hub.reports.spreadsheet_text import FORMULA_STARTS
from work_data_hub.text import plural

SUMMARY_SHEET = "rejects"
MARK_HEADER = "WorkDataHub: rejected"
# Excel stays usable with this many comments; past it the fill and the row's mark remain.
MAX_COMMENTS = 10_000
# A sheet with more rows shows its header rows and its rejected rows only, each where it was.
ALL_ROWS_UP_TO = 100_000
# A text that Excel reads back as the same number: no leading zeros, at most 15 digits.
_EXACT_NUMBER = r"^-?(?:0|[1-9]\d{0,14})(?:\.\d{1,15})?$"
_MAX_DIGITS = 15
_SLICE_ROWS = 20_000
_WIDTH_MIN, _WIDTH_MAX = 6, 50
# Excel's own "Bad" cell style: what a reviewer recognises as "look here".
_BAD = {"bg_color": "#FFC7CE", "font_color": "#9C0006"}


@dataclass(frozen=True)
class RejectedFile:
    """One delivered file with rejects: its path in the inbox, its sheet, its rejects."""

    path: str
    sheet: str
    rejects: pl.DataFrame


@dataclass(frozen=True)
class RejectsToMark:
    """What the rejects workbooks are made of: the files with rejects, where to read them."""

    inbox: str
    domain: DomainConfig
    files: tuple[RejectedFile, ...] = ()


def marked_name(path: str) -> str:
    """The marked copy's file name: the delivery's, so people find it, and ``.rejects.xlsx``."""
    name = path.rsplit("/", 1)[-1]
    stem = name.rsplit(".", 1)[0] if "." in name else name
    return f"{stem}.rejects.xlsx"


def shown_width(text: str) -> float:
    """``text``'s width in Excel's character units; a CJK character counts as two."""
    # UTF-8 takes 1 byte for ASCII and 3 for CJK: (bytes + characters) / 2 gives 1 and 2.
    return (len(text.encode()) + len(text)) / 2


@dataclass(frozen=True)
class MarkedCells:
    """What a rejects workbook marked: rows, cells (with a fill) and comments written."""

    rows: int
    cells: int
    comments: int
    # False: the sheet was too big, only its header and rejected rows are shown.
    every_row: bool = True


def _cells_of(column: str, positions: Mapping[str, Sequence[int]]) -> list[int]:
    """The sheet positions of a reject's column; a duplicate key names several (``a, b``)."""
    if column in positions:
        return list(positions[column])
    parts = column.split(", ")
    if len(parts) > 1 and all(part in positions for part in parts):
        return [cell for part in parts for cell in positions[part]]
    return []


def _widths(text: pl.DataFrame) -> list[float]:
    """Column widths in Excel's character units; a CJK character counts as two."""
    if not text.width or not text.height:
        return []
    # As shown_width, in polars.
    shown = text.select(
        ((pl.col(name).str.len_bytes() + pl.col(name).str.len_chars()) / 2).max()
        for name in text.columns
    ).row(0)
    return [min(_WIDTH_MAX, max(_WIDTH_MIN, (width or 0) + 2)) for width in shown]


def _as_numbers(slice_: pl.DataFrame) -> pl.DataFrame:
    """Where a text is a number Excel holds exactly, that number; else null."""
    return slice_.select(
        pl.when(
            pl.col(name).str.contains(_EXACT_NUMBER)
            & (pl.col(name).str.count_matches(r"\d") <= _MAX_DIGITS)
        )
        .then(pl.col(name).cast(pl.Float64, strict=False))
        .alias(name)
        for name in slice_.columns
    )


def _formula_like(text: pl.DataFrame) -> dict[int, list[int]]:
    """Row -> columns whose text starts like a formula (written as quote-prefixed text)."""
    starts = "^[" + "".join(f"\\x{ord(c):02x}" for c in FORMULA_STARTS) + "]"
    found: dict[int, list[int]] = defaultdict(list)
    for column, name in enumerate(text.columns):
        hits = text[name].str.contains(starts).fill_null(False)
        for row in hits.arg_true().to_list():
            found[row].append(column)
    return found


def write_rejects_workbook(
    target: IO[bytes],
    *,
    file: str,
    sheet: ShownSheet,
    header_row: int,
    rejects: pl.DataFrame,
    positions: Mapping[str, Sequence[int]],
) -> MarkedCells:
    """Write the marked copy of ``file``'s ``sheet`` to ``target``.

    ``rejects`` are this file's rejects (``row``, ``column``, ``value``, ``reason``; ``row`` the
    Excel row); ``positions`` the sheet positions of each declared column
    (``cleaning.engine.source_positions``). A reject whose column has no cell in the sheet (a
    column a transform made) is named in its row's mark only.
    """
    # Imported here: every run imports this module, few write a workbook.
    import xlsxwriter  # noqa: PLC0415

    workbook = xlsxwriter.Workbook(
        target,
        {
            "constant_memory": True,
            # Every text is written as text: never a formula, a link or a number.
            "strings_to_formulas": False,
            "strings_to_urls": False,
            "strings_to_numbers": False,
        },
    )
    formats = _Formats(workbook)
    summary = workbook.add_worksheet(_summary_name(sheet.name))
    data = workbook.add_worksheet(sheet.name)

    # Excel row -> {sheet position -> reasons}, and Excel row -> every reason of the row.
    cell_reasons: dict[int, dict[int, list[str]]] = defaultdict(lambda: defaultdict(list))
    row_reasons: dict[int, list[str]] = defaultdict(list)
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for row, column, reason in rejects.select("row", "column", "reason").iter_rows():
        cells = _cells_of(column, positions)
        for position in cells:
            cell_reasons[row][position].append(reason)
        row_reasons[row].append(f"{column}: {reason}")
        groups[(column, reason)].append(
            ", ".join(f"{column_letters(sheet.first_column + p)}{row}" for p in cells)
            or f"row {row}"
        )

    comments = _write_data(data, formats, sheet, header_row, cell_reasons, row_reasons)
    marked = MarkedCells(
        rows=len(row_reasons),
        cells=sum(len(cells) for cells in cell_reasons.values()),
        comments=comments,
        every_row=sheet.text.height <= ALL_ROWS_UP_TO,
    )
    _write_summary(summary, formats, file=file, sheet=sheet.name, groups=groups, marked=marked)
    workbook.close()
    return marked


class _Formats:
    """The workbook's cell formats (XlsxWriter makes them once per workbook)."""

    def __init__(self, workbook: Any) -> None:
        self.text = workbook.add_format({"quote_prefix": True})
        self.bad = workbook.add_format(_BAD)
        self.bad_text = workbook.add_format({**_BAD, "quote_prefix": True})
        self.header = workbook.add_format({"bold": True, "bottom": 1})
        self.mark = workbook.add_format({"bold": True, "font_color": "#9C0006"})
        self.title = workbook.add_format({"bold": True, "font_size": 13})


def _summary_name(delivered: str) -> str:
    return SUMMARY_SHEET if delivered.casefold() != SUMMARY_SHEET else f"{SUMMARY_SHEET} (1)"


def _without_trailing_blank_rows(text: pl.DataFrame, *rows: int) -> pl.DataFrame:
    """``text`` up to its last row with a value, and at least to each of the Excel ``rows``
    (a sheet formatted down to row 1,000,000 has that many empty rows)."""
    if not text.width:
        return text
    filled = text.select(pl.any_horizontal(pl.all().is_not_null()).arg_true().max()).item()
    last = max(-1 if filled is None else int(filled), *(row - 1 for row in rows))
    return text.head(last + 1)


def _write_data(
    data: Any,
    formats: _Formats,
    sheet: ShownSheet,
    header_row: int,
    cell_reasons: Mapping[int, Mapping[int, list[str]]],
    row_reasons: Mapping[int, list[str]],
) -> int:
    """The delivered rows where they were (all of them up to :data:`ALL_ROWS_UP_TO`), marked;
    the number of comments written."""
    text = _without_trailing_blank_rows(sheet.text, header_row, max(row_reasons, default=0))
    first = sheet.first_column
    mark_column = first + text.width
    for position, width in enumerate(_widths(text)):
        data.set_column(first + position, first + position, width)
    data.set_column(mark_column, mark_column, _WIDTH_MAX)
    data.freeze_panes(header_row, 0)
    if text.height >= header_row:
        data.autofilter(header_row - 1, first, max(header_row - 1, text.height - 1), mark_column)
    # A big sheet keeps its header rows and its rejected rows, each in its own row: the cells
    # keep their addresses, and the cost is the rejects', not the delivery's.
    places = (
        pl.Series("at", range(text.height), dtype=pl.Int64)
        if text.height <= ALL_ROWS_UP_TO
        else pl.Series(
            "at", sorted({*range(min(header_row, text.height)), *(r - 1 for r in row_reasons)}),
            dtype=pl.Int64,
        )
    )  # fmt: skip
    text = text[places]
    formula_like = _formula_like(text)
    comments = 0
    for start in range(0, text.height, _SLICE_ROWS):
        slice_ = text.slice(start, _SLICE_ROWS)
        numbers = _as_numbers(slice_)
        for offset, (shown, number) in enumerate(
            zip(slice_.iter_rows(), numbers.iter_rows(), strict=True)
        ):
            at = start + offset
            index = int(places[at])  # 0-based, as XlsxWriter counts rows
            excel_row = index + 1
            data.write_row(
                index,
                first,
                [n if n is not None else s for s, n in zip(shown, number, strict=True)],
            )
            bad = cell_reasons.get(excel_row, {})
            for position in {*formula_like.get(at, ()), *bad}:
                _rewrite_cell(data, formats, index, first + position, shown[position],
                              number[position], bad=position in bad)  # fmt: skip
            for position, reasons in bad.items():
                if comments < MAX_COMMENTS:
                    data.write_comment(
                        index, first + position, "\n".join(reasons), {"author": "WorkDataHub"}
                    )
                    comments += 1
            if excel_row == header_row:
                data.write_string(index, mark_column, MARK_HEADER, formats.header)
            elif excel_row in row_reasons:
                data.write_string(
                    index, mark_column, "; ".join(row_reasons[excel_row]), formats.mark
                )
    return comments


def _rewrite_cell(
    data: Any,
    formats: _Formats,
    row: int,
    column: int,
    shown: str | None,
    number: float | None,
    *,
    bad: bool,
) -> None:
    """A cell written again with its format: filled when rejected, text quote-prefixed."""
    if number is not None:
        data.write_number(row, column, number, formats.bad if bad else None)
    else:
        data.write_string(row, column, shown or "", formats.bad_text if bad else formats.text)


def _write_summary(
    summary: Any,
    formats: _Formats,
    *,
    file: str,
    sheet: str,
    groups: Mapping[tuple[str, str], list[str]],
    marked: MarkedCells,
) -> None:
    summary.write_string(0, 0, f"Rejected rows of {file}, sheet {sheet}", formats.title)
    said = (
        f"{plural(marked.rows, 'row')} rejected, {plural(marked.cells, 'cell')} marked: each "
        f"has a fill and its reason as a comment, and each rejected row names its reasons in "
        f"the column '{MARK_HEADER}' of sheet '{sheet}'."
    )
    if marked.comments < marked.cells:
        said += f" Only the first {marked.comments} marked cells carry a comment."
    if not marked.every_row:
        said += (
            f" The sheet has more than {ALL_ROWS_UP_TO} rows: only its header and rejected rows "
            "are shown, each in its own row."
        )
    summary.write_string(1, 0, said)
    header = ("column", "reason", "cells", "where")
    table: list[tuple[str, str, int, list[str]]] = sorted(
        ((column, reason, len(where), where) for (column, reason), where in groups.items()),
        key=lambda entry: (entry[0], -entry[2], entry[1]),
    )
    summary.write_row(3, 0, header, formats.header)
    for index, (column, reason, count, where) in enumerate(table, start=4):
        listed = ", ".join(where[:20]) + (f" and {len(where) - 20} more" if len(where) > 20 else "")
        summary.write_row(index, 0, (column, reason, count, listed))
    summary.freeze_panes(4, 0)
    longest = [
        max([shown_width(str(row[i])) for row in table] + [shown_width(header[i])])
        for i in range(3)
    ]
    for position, width in enumerate(longest):
        summary.set_column(position, position, min(_WIDTH_MAX, max(_WIDTH_MIN, width + 2)))
    summary.set_column(3, 3, _WIDTH_MAX)


__all__ = [
    "ALL_ROWS_UP_TO",
    "MARK_HEADER",
    "MAX_COMMENTS",
    "SUMMARY_SHEET",
    "MarkedCells",
    "RejectedFile",
    "RejectsToMark",
    "marked_name",
    "shown_width",
    "write_rejects_workbook",
]
