"""The rejects marked in the delivery: one workbook per delivered file with rejected rows.

What the people who fix a delivery open in Excel: a first sheet that counts the rejects by
column and reason, then the delivered sheet with every row where it was (Excel row 17 is row
17 here, column H is H), as values, never formulas. Each rejected cell has a fill and its
reason as a comment; each rejected row names its reasons in one column added after the
header row's last (the filter on the header row shows only those rows). The header is frozen
and the columns are as wide as their text.

The workbook is the delivered one with its rejects marked (:mod:`.marked_copy`): its sheet's
rows are copied as stored, with their formats, so a big delivery costs about one pass over
its sheet. A workbook whose structure the copy does not handle is written instead from the
values the run reads (XlsxWriter, rows streamed to disk), every row all the same. Either way
text that a spreadsheet would run as a formula stays text
(:mod:`work_data_hub.reports.spreadsheet_text`).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import polars as pl

from work_data_hub.cleaning.engine import source_positions
from work_data_hub.cleaning.reading import ShownSheet, header_names, sheet_as_shown
from work_data_hub.cleaning.sheet_xml import column_index, column_letters
from work_data_hub.cleaning.workbook import WorkbookReadError, open_workbook
from work_data_hub.config import DomainConfig
from work_data_hub.reports.marked_copy import (
    BAD_FILL,
    BAD_FONT,
    WIDTH_MAX,
    CellMark,
    DeliveredSheet,
    Marks,
    SummaryTable,
    UnsupportedWorkbookError,
    fitted_width,
    shown_width,
)
from work_data_hub.reports.spreadsheet_text import FORMULA_STARTS, shows_as_formula
from work_data_hub.text import plural

logger = logging.getLogger(__name__)

SUMMARY_SHEET = "rejects"
MARK_HEADER = "WorkDataHub: rejected"
# Excel stays usable with this many comments; past it the fill and the row's mark remain.
MAX_COMMENTS = 10_000
# A text that Excel reads back as the same number: no leading zeros, at most 15 digits.
_EXACT_NUMBER = r"^-?(?:0|[1-9]\d{0,14})(?:\.\d{1,15})?$"
_MAX_DIGITS = 15
_SLICE_ROWS = 20_000
_SHOWN_WHERE = 20
_BAD = {"bg_color": f"#{BAD_FILL[2:]}", "font_color": f"#{BAD_FONT[2:]}"}


@dataclass(frozen=True)
class RejectedFile:
    """One delivered file with rejects: its path in the inbox, its sheet, its rejects."""

    path: str
    sheet: str
    rejects: pl.DataFrame
    # Each declared column's Excel letter(s) in the sheet, as cleaning found them (empty: by
    # the header text the marked copy reads).
    columns: Mapping[str, Sequence[str]] = field(default_factory=dict)


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


@dataclass(frozen=True)
class MarkedCells:
    """What a rejects workbook marked: rows, cells (with a fill) and comments written."""

    rows: int
    cells: int
    comments: int


@dataclass(frozen=True)
class _Found:
    """Where a file's rejects are in its sheet.

    ``cells``: Excel row -> 0-based Excel column -> reasons; ``formula_like``: the cells among
    them whose value starts like a formula; ``rows``: Excel row -> ``column: reason`` of each
    reject; ``groups``: (column, reason) -> the cells (``C5``) or rows (``row 5``) it is at.
    """

    cells: Mapping[int, Mapping[int, list[str]]]
    formula_like: frozenset[tuple[int, int]]
    rows: Mapping[int, list[str]]
    groups: Mapping[tuple[str, str], list[str]]

    @property
    def marked(self) -> int:
        return sum(len(cells) for cells in self.cells.values())


def _cells_of(column: str, positions: Mapping[str, Sequence[int]]) -> list[int]:
    """The sheet positions of a reject's column; a duplicate key names several (``a, b``)."""
    if column in positions:
        return list(positions[column])
    parts = column.split(", ")
    if len(parts) > 1 and all(part in positions for part in parts):
        return [cell for part in parts for cell in positions[part]]
    return []


def _found(
    rejects: pl.DataFrame, positions: Mapping[str, Sequence[int]], first_column: int
) -> _Found:
    """Where ``rejects`` (``row``, ``column``, ``value``, ``reason``; ``row`` the Excel row)
    are, given the sheet positions of each declared column counted from ``first_column``. A
    reject whose column has no cell in the sheet (a column a transform made) is named in its
    row's mark only."""
    cells: dict[int, dict[int, list[str]]] = defaultdict(lambda: defaultdict(list))
    formula_like: set[tuple[int, int]] = set()
    rows: dict[int, list[str]] = defaultdict(list)
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for row, column, value, reason in rejects.select(
        "row", "column", "value", "reason"
    ).iter_rows():
        where = [first_column + position for position in _cells_of(column, positions)]
        for at in where:
            cells[row][at].append(reason)
            if value is not None and shows_as_formula(value):
                formula_like.add((row, at))
        rows[row].append(f"{column}: {reason}")
        groups[(column, reason)].append(
            ", ".join(f"{column_letters(at)}{row}" for at in where) or f"row {row}"
        )
    return _Found(cells, frozenset(formula_like), rows, groups)


def _summary(*, file: str, sheet: str, found: _Found, comments: int) -> SummaryTable:
    """The first sheet: what was marked where, by column and reason."""
    said = (
        f"Every delivered row is in sheet '{sheet}', where it was, as values. "
        f"{plural(len(found.rows), 'row')} rejected, {plural(found.marked, 'cell')} marked: "
        f"each has a fill and its reason as a comment, and each rejected row names its reasons "
        f"in the column '{MARK_HEADER}'."
    )
    if comments < found.marked:
        said += f" Only the first {comments} marked cells carry a comment."
    header = ("column", "reason", "cells", "where")
    lines = sorted(
        (
            (
                column,
                reason,
                len(where),
                ", ".join(where[:_SHOWN_WHERE])
                + (f" and {len(where) - _SHOWN_WHERE} more" if len(where) > _SHOWN_WHERE else ""),
            )
            for (column, reason), where in found.groups.items()
        ),
        key=lambda line: (line[0], -line[2], line[1]),
    )
    widths = [
        fitted_width(max([shown_width(str(line[i])) for line in lines] + [shown_width(header[i])]))
        for i in range(3)
    ]
    return SummaryTable(
        name=SUMMARY_SHEET if sheet.casefold() != SUMMARY_SHEET else f"{SUMMARY_SHEET} (1)",
        title=f"Rejected rows of {file}, sheet {sheet}",
        said=said,
        header=header,
        lines=lines,
        widths=[*widths, WIDTH_MAX],
    )


def mark_rejects(
    source: Path,
    target: IO[bytes],
    *,
    file: str,
    sheet: str,
    header_row: int,
    rejects: pl.DataFrame,
    domain: DomainConfig,
    columns: Mapping[str, Sequence[str]] | None = None,
) -> MarkedCells:
    """Write the marked copy of ``source``'s ``sheet`` to ``target`` (a seekable file).

    The copy is made from the delivered workbook's parts; one whose structure that does not
    handle is logged and written from its values instead (see the module doc).

    Args:
        source: The delivered workbook.
        target: Where the marked workbook goes.
        file: The workbook's name in the inbox, for the summary.
        sheet: The sheet the run read.
        header_row: The Excel row (1-based) of the headers.
        rejects: This file's rejects (``row``, ``column``, ``value``, ``reason``).
        domain: The domain, whose declared columns name the rejects' columns.
        columns: Each declared column's Excel letter(s), as cleaning found them; without
            them the delivered header's text places the columns.

    Raises:
        WorkbookReadError: The workbook cannot be read again.
    """
    try:
        with DeliveredSheet(source, sheet, header_row) as delivered:
            positions = (
                {name: [column_index(at) for at in letters] for name, letters in columns.items()}
                if columns
                else source_positions(domain, header_names(delivered.header))
            )
            found = _found(rejects, positions, first_column=0)
            comments = min(found.marked, MAX_COMMENTS)
            marks = Marks(
                cells={
                    row: {
                        column: CellMark(tuple(reasons), (row, column) in found.formula_like)
                        for column, reasons in cells.items()
                    }
                    for row, cells in found.cells.items()
                },
                rows={row: "; ".join(reasons) for row, reasons in found.rows.items()},
                header=MARK_HEADER,
                comments=comments,
            )
            summary = _summary(file=file, sheet=sheet, found=found, comments=comments)
            written = delivered.write_marked(target, marks, summary)
            return MarkedCells(rows=len(found.rows), cells=found.marked, comments=written)
    except UnsupportedWorkbookError as unsupported:
        logger.info(
            "%s: the marked workbook is written from the values read, without the delivered "
            "formats (%s)",
            file,
            unsupported.fields["reason"],
        )
    except OSError as exc:
        raise WorkbookReadError(
            f"{file}: the workbook cannot be read again ({exc})", file=file, sheet=sheet
        ) from exc
    target.seek(0)
    target.truncate()
    shown = sheet_as_shown(open_workbook(source), sheet)
    return write_rejects_workbook(
        target,
        file=file,
        sheet=shown,
        header_row=header_row,
        rejects=rejects,
        positions=source_positions(domain, shown.headers(header_row)),
    )


def _widths(text: pl.DataFrame) -> list[float]:
    """Column widths in Excel's character units; a CJK character counts as two."""
    if not text.width or not text.height:
        return []
    # As shown_width, in polars.
    shown = text.select(
        ((pl.col(name).str.len_bytes() + pl.col(name).str.len_chars()) / 2).max()
        for name in text.columns
    ).row(0)
    return [fitted_width(width or 0) for width in shown]


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
    """Write the marked workbook of ``file``'s ``sheet`` from the values read (XlsxWriter).

    ``rejects`` are this file's rejects (``row``, ``column``, ``value``, ``reason``; ``row`` the
    Excel row); ``positions`` the sheet positions of each declared column
    (``cleaning.engine.source_positions``).
    """
    # Imported here: few runs write a workbook this way.
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
    found = _found(rejects, positions, sheet.first_column)
    comments = min(found.marked, MAX_COMMENTS)
    summary = _summary(file=file, sheet=sheet.name, found=found, comments=comments)
    _write_summary(workbook.add_worksheet(summary.name), formats, summary)
    data = workbook.add_worksheet(sheet.name)
    written = _write_data(data, formats, sheet, header_row, found, comments)
    workbook.close()
    return MarkedCells(rows=len(found.rows), cells=found.marked, comments=written)


class _Formats:
    """The workbook's cell formats (XlsxWriter makes them once per workbook)."""

    def __init__(self, workbook: Any) -> None:
        self.text = workbook.add_format({"quote_prefix": True})
        self.bad = workbook.add_format(_BAD)
        self.bad_text = workbook.add_format({**_BAD, "quote_prefix": True})
        self.header = workbook.add_format({"bold": True, "bottom": 1})
        self.mark = workbook.add_format({"bold": True, "font_color": _BAD["font_color"]})
        self.title = workbook.add_format({"bold": True, "font_size": 13})


def _without_trailing_blank_rows(text: pl.DataFrame, *rows: int) -> pl.DataFrame:
    """``text`` up to its last row with a value, and at least to each of the Excel ``rows``
    (a sheet formatted down to row 1,000,000 has that many empty rows)."""
    if not text.width:
        return text
    filled = text.select(pl.any_horizontal(pl.all().is_not_null()).arg_true().max()).item()
    last = max(-1 if filled is None else int(filled), *(row - 1 for row in rows))
    return text.head(last + 1)


def _write_data(
    data: Any, formats: _Formats, sheet: ShownSheet, header_row: int, found: _Found, comments: int
) -> int:
    """Every delivered row where it was, marked; the number of comments written."""
    text = _without_trailing_blank_rows(sheet.text, header_row, max(found.rows, default=0))
    first = sheet.first_column
    mark_column = first + text.width
    for position, width in enumerate(_widths(text)):
        data.set_column(first + position, first + position, width)
    data.set_column(mark_column, mark_column, WIDTH_MAX)
    data.freeze_panes(header_row, 0)
    if text.height >= header_row:
        data.autofilter(header_row - 1, first, max(header_row - 1, text.height - 1), mark_column)
    formula_like = _formula_like(text)
    written = 0
    for start in range(0, text.height, _SLICE_ROWS):
        slice_ = text.slice(start, _SLICE_ROWS)
        numbers = _as_numbers(slice_)
        for index, (shown, number) in enumerate(
            zip(slice_.iter_rows(), numbers.iter_rows(), strict=True), start=start
        ):
            # XlsxWriter counts rows from 0: ``index`` is Excel row ``index + 1``.
            data.write_row(
                index,
                first,
                [n if n is not None else s for s, n in zip(shown, number, strict=True)],
            )
            bad = {at - first: reasons for at, reasons in found.cells.get(index + 1, {}).items()}
            for position in {*formula_like.get(index, ()), *bad}:
                _rewrite_cell(data, formats, index, first + position, shown[position],
                              number[position], bad=position in bad)  # fmt: skip
            for position, reasons in bad.items():
                if written < comments:
                    data.write_comment(
                        index, first + position, "\n".join(reasons), {"author": "WorkDataHub"}
                    )
                    written += 1
            if index + 1 == header_row:
                data.write_string(index, mark_column, MARK_HEADER, formats.header)
            elif index + 1 in found.rows:
                data.write_string(
                    index, mark_column, "; ".join(found.rows[index + 1]), formats.mark
                )
    return written


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


def _write_summary(summary: Any, formats: _Formats, table: SummaryTable) -> None:
    summary.write_string(0, 0, table.title, formats.title)
    summary.write_string(1, 0, table.said)
    summary.write_row(3, 0, table.header, formats.header)
    for index, line in enumerate(table.lines, start=4):
        summary.write_row(index, 0, line)
    summary.freeze_panes(4, 0)
    for position, width in enumerate(table.widths):
        summary.set_column(position, position, width)


__all__ = [
    "MARK_HEADER",
    "MAX_COMMENTS",
    "SUMMARY_SHEET",
    "MarkedCells",
    "RejectedFile",
    "RejectsToMark",
    "mark_rejects",
    "marked_name",
    "shown_width",
    "write_rejects_workbook",
]
