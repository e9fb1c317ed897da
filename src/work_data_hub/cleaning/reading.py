"""Read one sheet of a workbook into String columns of the text a person sees, Excel rows kept."""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from work_data_hub.cleaning.sheet_xml import MarkedCell, column_letters
from work_data_hub.cleaning.workbook import (
    NUMBER_TEXT,
    ExcelWorkbook,
    SheetCells,
    WorkbookReadError,
)
from work_data_hub.config import DomainConfig

SOURCE_FILE = "_source_file"
SOURCE_ROW = "_source_row"
UNNAMED = "_unnamed_"
NINE_DECIMALS = r"^-?\d+\.\d{9}$"
TOTAL_ROW_MARKERS = frozenset({"合计", "总计", "小计"})
# The one definition of white space, for the reader and the rules alike: Unicode's White_Space
# property, which is what ``\s`` means in polars' (Rust) regular expressions and what
# ``str.strip_chars()`` strips. (Python's ``str.isspace`` also counts U+001C..U+001F.)
WHITE_SPACE_ONLY = r"^\s*$"


def is_empty(cells: pl.Expr) -> pl.Expr:
    """True where a cell is empty: null, or only white space (see WHITE_SPACE_ONLY)."""
    return cells.is_null() | cells.str.contains(WHITE_SPACE_ONLY)


@dataclass(frozen=True)
class RawSheet:
    """A sheet's data rows as text, with normalised headers and lineage columns.

    ``frame``: one String column per header (null = empty cell), ``_source_file`` (String) and
    ``_source_row`` (Int64, the Excel row). ``cell_problems``: the same height and header
    columns, a String reason where a cell holds something that is not a value (an Excel error,
    a formula without a cached value, a NaN number), null elsewhere; the frame holds that
    cell's text (``#DIV/0!``), so that it is shown in the reject.
    """

    frame: pl.DataFrame
    file: str
    sheet: str
    headers: tuple[str, ...]
    rows_blank: int
    rows_total: int
    cell_problems: pl.DataFrame = field(default_factory=pl.DataFrame)
    # The 0-based Excel column of the first header (column letters of a header's cells).
    first_column: int = 0
    # The skipped total rows (合计/总计/小计), as read, with their ``_source_row``: the
    # ``total_row`` check compares their cells with the sums of the rows read.
    totals: pl.DataFrame = field(default_factory=pl.DataFrame)

    def __post_init__(self) -> None:
        if self.cell_problems.width == 0 and self.headers:
            # Built by hand (tests): no cell has a problem.
            height = len(self.frame)
            none = pl.DataFrame([_no_text(name, height) for name in self.headers])
            object.__setattr__(self, "cell_problems", none)


def _no_text(name: str, height: int) -> pl.Series:
    """A String column of ``height`` empty cells, built in native code (no list of Nones)."""
    return pl.repeat(None, height, dtype=pl.String, eager=True).alias(name)


def normalise_header(header: object) -> str:
    """Full-width to half-width (NFKC) and every kind of white space removed."""
    text = unicodedata.normalize("NFKC", str(header))
    return "".join(text.split())


def headers_read_by(domain: DomainConfig) -> frozenset[str]:
    """Every normalised header the domain may read a column from (sources and aliases)."""
    names = {
        normalise_header(header)
        for name, spec in domain.columns.items()
        for header in [*spec.source_headers(name), *spec.aliases]
    }
    names.update(normalise_header(alias) for alias in domain.header_aliases)
    return frozenset(names)


def _unique_headers(raw: Sequence[Any]) -> list[str]:
    seen: dict[str, int] = {}
    headers = []
    for position, cell in enumerate(raw, start=1):
        name = normalise_header(cell) if cell is not None else ""
        name = name or f"{UNNAMED}{position}"
        if name in seen:
            seen[name] += 1
            name = f"{name}.{seen[name]}"
        else:
            seen[name] = 0
        headers.append(name)
    return headers


def header_names(raw: Sequence[Any]) -> list[str]:
    """A header row's cells as unique normalised names (a blank header: ``_unnamed_<n>``)."""
    return _unique_headers([None if cell is None or not cell.strip() else cell for cell in raw])


def plain_number_text(numbers: pl.Expr) -> pl.Expr:
    """Floats as their shortest round-trip text, without an exponent (``3e-9`` -> ``0.000000003``).

    polars prints the shortest digits that read back as the same float, in exponent form for
    very small or large numbers; the digits are moved around the decimal point here.
    """
    shortest = numbers.cast(pl.String)
    parts = shortest.str.extract_groups(r"^(-?)(\d+)(?:\.(\d+))?e([+-]?\d+)$")
    sign, whole, fraction = (
        parts.struct.field("1"),
        parts.struct.field("2"),
        parts.struct.field("3").fill_null(""),
    )
    digits = whole + fraction
    point = whole.str.len_chars().cast(pl.Int64) + parts.struct.field("4").cast(pl.Int64)
    zeros = pl.lit("0" * 400)
    length = digits.str.len_chars().cast(pl.Int64)
    # Every branch is evaluated on every row: lengths are clipped to stay valid.
    moved = (
        pl.when(point <= 0)
        .then(sign + "0." + zeros.str.slice(0, (-point).clip(0)) + digits)
        .when(point >= length)
        .then(sign + digits + zeros.str.slice(0, (point - length).clip(0)))
        .otherwise(
            sign + digits.str.slice(0, point.clip(0)) + "." + digits.str.slice(point.clip(0))
        )
    )
    return pl.when(shortest.str.contains("e")).then(moved).otherwise(shortest)


def _person_text(cells: SheetCells) -> pl.DataFrame:
    """fastexcel's text as a person reads the cell in Excel: dates without a midnight time,
    time-only cells without Excel's day zero, ``-0`` as ``0``, and numbers whose 9-decimal
    print lost digits in their exact shortest form (from the sheet's stored values).

    Each fix is computed only on the cells it applies to (most cells need none) and put back
    in place, one column at a time.
    """
    exact = cells.exact_numbers.partition_by("column", as_dict=True, include_key=False)
    return pl.DataFrame(
        [
            _person_column(series, exact.get((position,)))
            for position, series in enumerate(cells.text.get_columns())
        ]
    )


def _person_column(text: pl.Series, exact: pl.DataFrame | None) -> pl.Series:
    stamps = text.str.contains(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")
    if stamps.any():
        text = text.str.replace(r"^1899-12-31 (\d{2}:\d{2}:\d{2}(?:\.\d+)?)$", "$1").str.replace(
            r"^(\d{4}-\d{2}-\d{2}) 00:00:00$", "$1"
        )
    text = _fixed_where(text, text == "-0", lambda _: pl.Series(["0"]))
    # Printed with all 9 decimals: either exact digits of a short number, or 17 or more
    # significant digits, which read back as the same float; its shortest text either way.
    text = _fixed_where(
        text,
        text.str.contains(NINE_DECIMALS),
        lambda chosen: _plain(chosen.cast(pl.Float64, strict=False)),
    )
    if exact is not None:
        # A whole float's text is already exact (and has no ``.0``); a fraction's may not be.
        # Only where the text reads back as another number did the print lose digits (a date
        # or a boolean shown for a number cell is left as shown).
        inside = exact.filter(pl.col("row") < len(text))
        rows, values = inside["row"], inside["value"]
        shown = text.gather(rows)
        rounded = (
            (values != values.floor())
            & (shown.cast(pl.Float64, strict=False) != values)
            & shown.str.contains(NUMBER_TEXT)
        ).fill_null(False)
        if rounded.any():
            text = text.scatter(rows.filter(rounded), _plain(values.filter(rounded)))
    return text


def _fixed_where(
    text: pl.Series, where: pl.Series, fix: Callable[[pl.Series], pl.Series]
) -> pl.Series:
    positions = where.fill_null(False).arg_true()
    if not len(positions):
        return text
    fixed = fix(text.gather(positions))
    if len(fixed) == 1 and len(positions) > 1:
        fixed = pl.Series([fixed[0]] * len(positions), dtype=pl.String)
    return text.scatter(positions, fixed)


def _plain(numbers: pl.Series) -> pl.Series:
    shortest = numbers.cast(pl.String)
    return _fixed_where(
        shortest,
        shortest.str.contains("e", literal=True),
        lambda chosen: pl.select(plain_number_text(pl.lit(chosen.cast(pl.Float64)))).to_series(),
    )


def _with_marked_cells(
    text: pl.DataFrame, marked: Sequence[MarkedCell], file: str, sheet: str, first_column: int
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``text`` with each marked cell's text in place, and a frame of the marked cells' reasons.

    A marked cell may lie outside the range of cells that hold values (a formula without a
    value in a column of its own): the frames grow to hold it.
    """
    problems = pl.DataFrame([_no_text(name, text.height) for name in text.columns])
    if not marked:
        return text, problems
    for cell in marked:
        if cell.row < 0 or cell.column < -first_column:
            raise WorkbookReadError(
                f"{file}, sheet {sheet!r}: a cell without a cell reference holds "
                f"{cell.text!r} ({cell.reason or 'a boolean'}); open the workbook in Excel "
                "and save it",
                file=file,
                sheet=sheet,
            )
    left = max(0, -min(cell.column for cell in marked))
    width = max(text.width, max(cell.column for cell in marked) + 1) + left
    height = max(text.height, max(cell.row for cell in marked) + 1)
    names = [f"__column_{index}" for index in range(width)]
    text = _padded(text, names, left, height)
    problems = _padded(problems, names, left, height)
    text_updates: dict[int, tuple[list[int], list[str]]] = {}
    problem_updates: dict[int, tuple[list[int], list[str]]] = {}
    for cell in marked:
        rows, values = text_updates.setdefault(cell.column + left, ([], []))
        rows.append(cell.row)
        values.append(cell.text)
        if cell.reason is not None:
            rows, values = problem_updates.setdefault(cell.column + left, ([], []))
            rows.append(cell.row)
            values.append(cell.reason)
    return _scattered(text, text_updates), _scattered(problems, problem_updates)


def _padded(frame: pl.DataFrame, names: list[str], left: int, height: int) -> pl.DataFrame:
    columns = [_no_text(names[i], frame.height) for i in range(left)]
    columns += [series.rename(names[left + i]) for i, series in enumerate(frame.get_columns())]
    columns += [_no_text(name, frame.height) for name in names[len(columns) :]]
    padded = pl.DataFrame(columns)
    if height > padded.height:
        extra = pl.DataFrame([_no_text(name, height - padded.height) for name in names])
        padded = pl.concat([padded, extra])
    return padded


def _scattered(
    frame: pl.DataFrame, updates: dict[int, tuple[list[int], list[str]]]
) -> pl.DataFrame:
    columns = frame.get_columns()
    for position, (rows, values) in updates.items():
        columns[position] = columns[position].scatter(rows, values)
    return pl.DataFrame(columns)


def _check_headers(
    raw: Sequence[Any], reads: Collection[str], file: str, sheet: str, first_column: int
) -> None:
    """A header the domain reads must not appear twice: which one holds the data is a guess."""
    names = [normalise_header(cell) if cell is not None else "" for cell in raw]
    for name, count in Counter(names).items():
        if name and count > 1 and name in reads:
            letters = [
                column_letters(first_column + position)
                for position, other in enumerate(names)
                if other == name
            ]
            raise WorkbookReadError(
                f"{file}, sheet {sheet!r}: header {name!r} appears {count} times (columns "
                f"{', '.join(letters)}); keep one column under that header and rename or "
                "delete the others",
                file=file,
                sheet=sheet,
                column=", ".join(letters),
                header=name,
            )


def _check_header_less_data(
    frame: pl.DataFrame,
    headers: Sequence[str],
    file: str,
    sheet: str,
    header_row: int,
    first_column: int,
) -> None:
    """Data under a column without a header would be dropped unseen: it is an error."""
    unnamed = [name for name in headers if name.startswith(UNNAMED)]
    if not unnamed or not frame.height:
        return
    filled = frame.select(pl.col(unnamed).is_not_null().arg_true().first())
    for name in unnamed:
        first = filled[name][0]
        if first is None:
            continue
        position = headers.index(name)
        letter = column_letters(first_column + position)
        row = frame[SOURCE_ROW][int(first)]
        raise WorkbookReadError(
            f"{file}, sheet {sheet!r}: column {letter} holds data (first at {letter}{row}) but "
            f"has no header in row {header_row} (a merged header names only its first "
            "column); give the column a header or clear it",
            file=file,
            sheet=sheet,
            row=int(row),
            column=letter,
        )


@dataclass(frozen=True)
class ShownSheet:
    """Every cell of a sheet as Excel shows it, at its place: ``text`` row ``i`` is Excel row
    ``i + 1``, column ``j`` is the 0-based Excel column ``first_column + j``. ``problems`` has
    the same shape: the reason where a cell holds no value (an error cell, a formula without
    a value), null elsewhere."""

    name: str
    text: pl.DataFrame
    problems: pl.DataFrame
    first_column: int

    def headers(self, header_row: int) -> list[str]:
        """The normalised headers of Excel row ``header_row``, as :func:`read_sheet` names them."""
        if self.text.height < header_row:
            return []
        return header_names(self.text.row(header_row - 1))


def sheet_as_shown(workbook: ExcelWorkbook, sheet: str | int) -> ShownSheet:
    """The sheet's cells as text a person sees, header and skipped rows included (the rejects
    workbook shows the delivery as it was; :func:`read_sheet` reads the rows from it)."""
    cells = workbook.read_cells(sheet)
    text, problems = _with_marked_cells(
        _person_text(cells), cells.marked, workbook.name, cells.name, cells.first_column
    )
    first_column = cells.first_column - max(0, -min((c.column for c in cells.marked), default=0))
    return ShownSheet(cells.name, text, problems, first_column)


def read_sheet(
    workbook: ExcelWorkbook,
    sheet: str | int,
    header_row: int = 1,
    *,
    reads: Collection[str] = frozenset(),
) -> RawSheet:
    """The declared sheet of ``workbook`` as text cells; blank and total rows skipped, counted.

    Args:
        workbook: The opened workbook.
        sheet: The sheet's name, or its 0-based position.
        header_row: The Excel row (1-based) of the headers.
        reads: The (normalised) headers the domain reads, which must not appear twice
            (:func:`headers_read_by`).

    Raises:
        WorkbookReadError: The sheet is not there or cannot be read, it has no header row, a
            header in ``reads`` appears twice, a column without a header holds data, or a
            marked cell has no cell reference.
    """
    shown = sheet_as_shown(workbook, sheet)
    sheet_name, text, problems, first_column = (
        shown.name,
        shown.text,
        shown.problems,
        shown.first_column,
    )
    del shown
    if text.height < header_row:
        raise WorkbookReadError(
            f"{workbook.name}: sheet {sheet_name!r} has no header row "
            f"(expected at row {header_row})",
            file=workbook.name,
            sheet=sheet_name,
            row=header_row,
        )
    raw_headers = text.row(header_row - 1)
    _check_headers(raw_headers, reads, workbook.name, sheet_name, first_column)
    headers = header_names(raw_headers)
    body = text.slice(header_row).rename(dict(zip(text.columns, headers, strict=True)))
    problems = problems.slice(header_row).rename(dict(zip(problems.columns, headers, strict=True)))
    del text
    body = body.with_columns(
        pl.when(~is_empty(pl.col(name))).then(pl.col(name)).alias(name) for name in headers
    )
    blank = body.select(
        pl.all_horizontal(pl.col(headers).is_null()) if headers else pl.lit(True)
    ).to_series()
    first = pl.col(headers[0]) if headers else pl.lit(None, dtype=pl.String)
    marker = first.str.normalize("NFKC").str.replace_all(r"\s", "").is_in(list(TOTAL_ROW_MARKERS))
    total = body.select(marker.fill_null(False)).to_series() & ~blank
    keep = ~blank & ~total
    numbered = body.with_columns(
        pl.lit(workbook.name, dtype=pl.String).alias(SOURCE_FILE),
        pl.int_range(header_row + 1, header_row + 1 + body.height, dtype=pl.Int64).alias(
            SOURCE_ROW
        ),
    )
    kept = numbered.filter(keep)
    totals = numbered.filter(total)
    del body, numbered
    _check_header_less_data(kept, headers, workbook.name, sheet_name, header_row, first_column)
    return RawSheet(
        frame=kept,
        file=workbook.name,
        sheet=sheet_name,
        headers=tuple(headers),
        rows_blank=int(blank.sum()),
        rows_total=int(total.sum()),
        cell_problems=problems.filter(keep),
        first_column=first_column,
        totals=totals,
    )
