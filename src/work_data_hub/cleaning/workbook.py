"""Open one Excel workbook and read a sheet's cells into Arrow columns (fastexcel, Rust-backed).

fastexcel turns every cell into text in Rust, without a Python object per cell; what it cannot
say in that text is recovered here and nowhere else:

- error cells (``#DIV/0!``) come back empty; their positions come with the read (CellErrors);
- numbers are printed with at most 9 decimals: the sheet's XML gives the exact value of each
  number stored with more (a workbook without that XML has its number columns read a second
  time, as floats);
- formula cells without a cached value, number cells without a number (what a writer makes of
  NaN), literal ``NaN`` numbers and booleans are told apart by one pass over the sheet's XML
  that looks only at the few cells which hold such markers (:mod:`work_data_hub.cleaning.sheet_xml`).
"""

from __future__ import annotations

import logging
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fastexcel
import polars as pl

from work_data_hub.cleaning.sheet_xml import (
    NUMBER_CELLS_SCHEMA,
    MarkedCell,
    SheetMarks,
    marked_cells,
)
from work_data_hub.errors import WorkDataHubError

logger = logging.getLogger(__name__)

# calamine's names for Excel's error values, and the text Excel shows for each.
EXCEL_ERRORS = {
    "Div0": "#DIV/0!",
    "NA": "#N/A",
    "Name": "#NAME?",
    "Null": "#NULL!",
    "Num": "#NUM!",
    "Ref": "#REF!",
    "Value": "#VALUE!",
    "GettingData": "#GETTING_DATA",
}
_ERROR_DETAIL = re.compile(r"Error\((\w+)\)")
# fastexcel prints a float with 9 decimals, trailing zeros dropped (1/3 -> 0.333333333,
# 2.0000000001 -> 2): such text may stand for a number with more digits.
NUMBER_TEXT = r"^-?\d+(?:\.\d+)?$"


# One long-lived thread for every sheet's XML pass: a new thread per workbook would get its own
# allocator arena that keeps its freed pages (12 workbooks of 100k rows: 1017 MB peak with a
# thread each, 548 MB with this one).
_XML_PASS = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sheet_xml")


class WorkbookReadError(WorkDataHubError):
    """A workbook cannot be opened or lacks what the domain needs; the message names the file.

    Args:
        message: What is wrong and what to do.
        file: The workbook (its name, or its path when it could not be opened).
        sheet: The sheet at fault, when one is.
        row: The Excel row at fault (1-based), when one is.
        column: The Excel column letter(s) at fault, when one is.
        header: The header at fault, when one is.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str,
        sheet: str | None = None,
        row: int | None = None,
        column: str | None = None,
        header: str | None = None,
    ) -> None:
        super().__init__(message, file=file, sheet=sheet, row=row, column=column, header=header)


@dataclass(frozen=True)
class SheetCells:
    """One sheet as read: text columns from Excel row 1 on, and what the text cannot say.

    ``text`` has one String column per column of the sheet's used range (``first_column`` is
    the 0-based Excel column of the first); row ``i`` is Excel row ``i + 1``. ``exact_numbers``
    holds the number cells whose text may have lost digits, as ``row``, ``column`` (positions
    in ``text``) and ``value`` (Float64). ``marked`` are the cells whose text is not what they hold (errors, formulas without a value,
    NaN numbers, booleans), at 0-based positions in ``text``.
    """

    name: str
    text: pl.DataFrame
    first_column: int
    exact_numbers: pl.DataFrame
    marked: tuple[MarkedCell, ...]


class ExcelWorkbook:
    """An opened workbook: its file name, its sheets, and cells read on demand.

    Args:
        path: The workbook's path (its name is the lineage string ``_source_file``).
        reader: fastexcel's reader over it (:func:`open_workbook` makes both).
    """

    def __init__(self, path: Path, reader: fastexcel.ExcelReader) -> None:
        self.path = path
        # The one source of the ``_source_file`` lineage string.
        self.name = path.name
        self._reader = reader
        # sheet name -> (fastexcel's parsed sheet, its first column, its marked cells)
        self._parsed: dict[str, tuple[Any, int, SheetMarks]] = {}
        # what the domain's ``sheet`` (a name or a position) was resolved to
        self._chosen: dict[str | int, str] = {}

    @property
    def sheet_names(self) -> list[str]:
        return list(self._reader.sheet_names)

    def parse(self, sheet: str | int) -> str:
        """Parse the sheet ``sheet`` means into fastexcel's cells (in Rust) and look for its
        marked cells; its name.

        ``sheet`` is a name, or a 0-based position among the sheets a person sees in Excel:
        a hidden sheet is passed over (and named in a warning), so "the first sheet" is the
        first visible one. A sheet named by the domain that is hidden or "very hidden" is
        refused: what loads must be what a person opening the workbook sees.

        In a run of several files two workbooks are read at once, each in its own thread, so
        that one is parsed while the other is cleaned (both release the GIL for most of their
        time). The XML pass runs beside fastexcel's parse, on the other core: fastexcel holds
        no GIL while it parses.

        Args:
            sheet: The sheet's name, or its 0-based position.

        Raises:
            WorkbookReadError: The workbook has no such sheet, or it cannot be read.
        """
        sheet_name = self._chosen.get(sheet)
        if sheet_name is None:
            sheet_name = self._chosen[sheet] = self._choose(sheet)
        elif sheet_name not in self._parsed:
            self._parse_if_visible(sheet_name)
        return sheet_name

    def _choose(self, sheet: str | int) -> str:
        """The sheet's name, parsed: the named sheet if visible, or the visible one at the
        position. A sheet's visibility is known once fastexcel parsed it, so a hidden sheet
        costs a parse only where it lies before the one read."""
        names = self.sheet_names
        if isinstance(sheet, str):
            if sheet not in names:
                raise WorkbookReadError(
                    f"{self.name}: sheet {sheet!r} not found; sheets are {names}",
                    file=self.name,
                    sheet=sheet,
                )
            visibility = self._parse_if_visible(sheet)
            if visibility != "visible":
                raise WorkbookReadError(
                    hidden_sheet_message(self.name, sheet, visibility), file=self.name, sheet=sheet
                )
            return sheet
        hidden: list[str] = []
        visible = 0
        for sheet_name in names:
            if self._parse_if_visible(sheet_name) != "visible":
                hidden.append(sheet_name)
                continue
            if visible < sheet:
                visible += 1
                del self._parsed[sheet_name]
                continue
            if hidden:
                logger.warning(
                    "%s: read sheet %r, visible sheet number %s; the hidden sheet(s) %s "
                    "before it are not read",
                    self.name,
                    sheet_name,
                    sheet + 1,
                    hidden,
                )
            return sheet_name
        raise WorkbookReadError(
            f"{self.name}: has no visible sheet number {sheet + 1}; sheets are {names}"
            + (f", of which {hidden} are hidden" if hidden else ""),
            file=self.name,
            sheet=str(sheet + 1),
        )

    def _parse_if_visible(self, sheet_name: str) -> str:
        """Parse ``sheet_name`` (fastexcel's cells and the XML pass) if Excel shows it; its
        visibility (``visible``, ``hidden`` or ``veryhidden``)."""
        marks = _XML_PASS.submit(marked_cells, self.path, sheet_name)
        loaded = self._load(sheet_name, dtypes="string")
        visibility = str(loaded.visible)
        if visibility != "visible":
            marks.cancel()
            return visibility
        columns = loaded.available_columns()
        first_column = columns[0].absolute_index if columns else 0
        self._parsed[sheet_name] = (loaded, first_column, marks.result().shifted(first_column))
        return visibility

    def _load(self, sheet_name: str, **options: Any) -> Any:
        try:
            # header_row=None and skip_rows=0: row i is Excel row i + 1, leading empty rows kept.
            return self._reader.load_sheet(sheet_name, header_row=None, skip_rows=0, **options)
        except fastexcel.FastExcelError as exc:
            raise WorkbookReadError(
                f"{self.name}: sheet {sheet_name!r} cannot be read ({library_reason(exc)}); "
                "open the workbook in Excel and save it, or remove it from the inbox",
                file=self.name,
                sheet=sheet_name,
            ) from exc

    def read_cells(self, sheet: str | int) -> SheetCells:
        """Every cell of ``sheet`` as text, with what the text cannot say (see SheetCells).

        Args:
            sheet: The sheet's name, or its 0-based position.

        Raises:
            WorkbookReadError: The sheet is not there or cannot be read.
        """
        sheet_name = self.parse(sheet)
        loaded, first_column, marks = self._parsed.pop(sheet_name)
        # long_numbers is None when there was no sheet XML to scan (see SheetMarks).
        exact_numbers = marks.long_numbers
        try:
            if exact_numbers is not None:
                # The XML pass found the error cells: the text comes through Arrow's C
                # interface, without importing pyarrow (and numpy) for it.
                text = pl.DataFrame(loaded)
                marked = marks.cells
            else:
                batch, errors = loaded.to_arrow_with_errors()
                text = pl.DataFrame(pl.from_arrow(batch))
                marked = [*_error_cells(errors), *marks.cells]
                del batch
        except fastexcel.FastExcelError as exc:
            raise WorkbookReadError(
                f"{self.name}: sheet {sheet_name!r} cannot be read ({library_reason(exc)}); "
                "open the workbook in Excel and save it, or remove it from the inbox",
                file=self.name,
                sheet=sheet_name,
            ) from exc
        del loaded
        return SheetCells(
            name=sheet_name,
            text=text,
            first_column=first_column,
            exact_numbers=(
                exact_numbers if exact_numbers is not None else self._floats(sheet_name, text)
            ),
            marked=tuple(marked),
        )

    def _floats(self, sheet_name: str, text: pl.DataFrame) -> pl.DataFrame:
        """Every number of the columns holding numbers, read again as floats (for a workbook
        whose XML could not say which numbers have more digits than the text kept)."""
        numeric = text.select(pl.all().str.contains(NUMBER_TEXT).any())
        positions = [i for i, hit in enumerate(numeric.row(0) if len(numeric) else ()) if hit]
        if not positions:
            return pl.DataFrame(schema=NUMBER_CELLS_SCHEMA)
        # A second read of only these columns; text cells among them read as null (ignored).
        floats, _ = self._load(
            sheet_name, dtypes="float", use_columns=positions
        ).to_arrow_with_errors()
        frame = pl.DataFrame(pl.from_arrow(floats))
        return pl.concat(
            [
                frame.select(
                    pl.int_range(pl.len(), dtype=pl.Int64).alias("row"),
                    pl.lit(position, dtype=pl.Int64).alias("column"),
                    pl.col(name).cast(pl.Float64).alias("value"),
                ).drop_nulls("value")
                for position, name in zip(positions, frame.columns, strict=True)
            ]
        )


def hidden_sheet_message(file: str, sheet: str, visibility: str) -> str:
    """Why a sheet the domain names is not read when Excel does not show it."""
    if visibility == "veryhidden":
        how = (
            'is "very hidden" (Excel lists it nowhere; only the VBA editor shows it: set the '
            "sheet's Visible property to -1 - xlSheetVisible)"
        )
    else:
        how = "is hidden (right-click a sheet tab, Unhide, to show it)"
    return (
        f"{file}: sheet {sheet!r} {how}; a person opening the workbook does not see it, so it "
        "is not loaded. Unhide it and save the workbook if it holds the delivery, or deliver "
        "the workbook with the visible sheet"
    )


def _error_cells(errors: Any) -> list[MarkedCell]:
    """Cells fastexcel could not give as text: Excel's error values (``#N/A``) and the like."""
    if errors is None:
        return []
    marked = []
    for error in errors.errors:
        row, column = error.position
        found = _ERROR_DETAIL.search(error.detail)
        if found:
            shown = EXCEL_ERRORS.get(found.group(1), f"#{found.group(1)}")
            marked.append(MarkedCell(row, column, shown, f"Excel error cell {shown}"))
        else:
            marked.append(MarkedCell(row, column, "", f"cell cannot be read: {error.detail}"))
    return marked


def open_workbook(path: Path) -> ExcelWorkbook:
    """Open ``path``; an unreadable or password-protected file is a :class:`WorkbookReadError`.

    Args:
        path: The workbook (``.xlsx`` or ``.xlsm``).

    Raises:
        WorkbookReadError: The file is not a readable workbook, or it is password-protected.
    """
    try:
        reader = fastexcel.read_excel(path)
    except (fastexcel.FastExcelError, OSError, ValueError) as exc:
        if _is_encrypted(path):
            raise WorkbookReadError(
                f"{path}: the workbook is password-protected; save it without a "
                "password and drop it in the inbox again",
                file=str(path),
            ) from exc
        raise WorkbookReadError(
            f"{path}: not a readable Excel workbook ({library_reason(exc)}); open it in Excel "
            "and save it as an .xlsx workbook, or remove it from the inbox",
            file=str(path),
        ) from exc
    return ExcelWorkbook(path, reader)


def library_reason(exc: BaseException) -> str:
    """The first line of a reader's error: calamine appends a multi-line ``Context:`` trace
    that says the file name again and would end a one-line message mid-sentence."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    first = lines[0] if lines else type(exc).__name__
    return first.removeprefix("calamine error: ")


# An encrypted OOXML workbook is an OLE2 compound file (not a zip) holding an EncryptionInfo
# stream; its name is stored in UTF-16.
_OLE2_SIGNATURE = bytes.fromhex("d0cf11e0a1b11ae1")
_ENCRYPTION_INFO = "EncryptionInfo".encode("utf-16-le")


def _is_encrypted(path: Path) -> bool:
    try:
        with path.open("rb") as file:
            head = file.read(1 << 20)
    except OSError:
        return False
    return head.startswith(_OLE2_SIGNATURE) and _ENCRYPTION_INFO in head
