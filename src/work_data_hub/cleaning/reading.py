"""Read one sheet of a workbook into a frame of text cells, keeping Excel's row numbers."""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from work_data_hub.cleaning.workbook import Cell, ExcelWorkbook, WorkbookReadError

SOURCE_FILE = "_source_file"
SOURCE_ROW = "_source_row"
TOTAL_ROW_MARKERS = frozenset({"合计", "总计", "小计"})


@dataclass(frozen=True)
class RawSheet:
    """A sheet's data rows as text, with normalised headers and lineage columns."""

    frame: pd.DataFrame
    file: str
    sheet: str
    headers: tuple[str, ...]
    rows_blank: int
    rows_total: int


def normalise_header(header: object) -> str:
    """Full-width to half-width (NFKC) and every kind of white space removed."""
    text = unicodedata.normalize("NFKC", str(header))
    return "".join(text.split())


def _unique_headers(raw: Sequence[Any]) -> list[str]:
    seen: dict[str, int] = {}
    headers = []
    for position, cell in enumerate(raw, start=1):
        name = normalise_header(cell) if cell not in (None, "") else ""
        name = name or f"_unnamed_{position}"
        if name in seen:
            seen[name] += 1
            name = f"{name}.{seen[name]}"
        else:
            seen[name] = 0
        headers.append(name)
    return headers


_type_of = np.frompyfunc(type, 1, 1)
_is_space = np.frompyfunc(str.isspace, 1, 1)
_as_str = np.frompyfunc(str, 1, 1)
_DATE_TYPES = (dt.datetime, dt.date, pd.Timestamp)


def cells_as_text(column: pd.Series) -> pd.Series:
    """Every cell as the text a person sees; NA for empty cells. Never turns a value into NA.

    Whole numbers lose their ``.0``; dates become ISO text, so the text rules see one form.
    Cells are grouped by their exact type with numpy ufuncs (no per-row Python code) and each
    group is rendered in one vectorised step; the groups fill one object array that becomes
    the ``string`` column in a single conversion.
    """
    values = column.to_numpy(dtype=object)
    kinds = _type_of(values)
    out = np.full(len(values), None, dtype=object)
    # Exact types, element-wise over an array of types (subclasses fall through to str()).
    is_str = kinds == str  # noqa: E721
    handled = is_str | (kinds == type(None))  # noqa: E721
    if is_str.any():
        text = values[is_str]
        blank = (text == "") | _is_space(text).astype(bool)
        out[is_str] = np.where(blank, None, text)
    is_float = kinds == float  # noqa: E721
    if is_float.any():
        floats = values[is_float]
        numbers = floats.astype(np.float64)
        whole = np.isfinite(numbers) & (numbers == np.round(numbers)) & (np.abs(numbers) < 1e15)
        fraction = ~whole & ~np.isnan(numbers)
        rendered = np.full(len(floats), None, dtype=object)
        rendered[fraction] = _as_str(floats[fraction])  # what pandas' astype(str) gives
        rendered[whole] = _as_str(numbers[whole].astype(np.int64).astype(object))
        out[is_float] = rendered
        handled |= is_float
    for kind in (int, bool):
        chosen = kinds == kind
        if chosen.any():
            out[chosen] = _as_str(values[chosen])
            handled |= chosen
    is_date = np.zeros(len(values), dtype=bool)
    for date_type in _DATE_TYPES:
        is_date |= kinds == date_type
    if is_date.any():
        stamps = pd.to_datetime(pd.Series(values[is_date], dtype=object))
        has_time = stamps != stamps.dt.normalize()
        days = stamps.dt.strftime("%Y-%m-%d")
        days[has_time] = stamps[has_time].dt.strftime("%Y-%m-%d %H:%M:%S")
        out[is_date] = days.to_numpy(dtype=object)
        handled |= is_date
    rest = ~handled
    if rest.any():
        # Anything else (times, durations, numpy scalars): its str(), unless it is a missing value.
        others = values[rest]
        out[rest] = np.where(pd.isna(others), None, _as_str(others))
    return pd.Series(_string_array(out), index=column.index)


def _string_array(
    values: np.ndarray[Any, np.dtype[np.object_]],
) -> pd.api.extensions.ExtensionArray:
    """``values`` (str or None) as a ``string`` array; StringArray only checks, never converts."""
    if pd.StringDtype().storage == "python":
        return pd.arrays.StringArray(values)
    return pd.array(values, dtype="string")


def _cell_matrix(body: list[list[Cell]], headers: list[str]) -> np.ndarray[Any, Any]:
    """The body rows as one 2-D object array (calamine's ranges are rectangular)."""
    width = len(headers)
    if not body:
        return np.empty((0, width), dtype=object)
    if all(len(row) == width for row in body):
        matrix = np.empty((len(body), width), dtype=object)
        matrix[:] = body
        return matrix
    return pd.DataFrame(body, columns=headers, dtype=object).to_numpy(dtype=object)


def _total_rows(first: pd.Series) -> np.ndarray[Any, np.dtype[np.bool_]]:
    """Rows whose first cell reads 合计/总计/小计 once normalised; each distinct value once."""
    codes, distinct = pd.factorize(first)
    if not len(distinct):
        return np.zeros(len(first), dtype=bool)
    spelled = pd.Series(distinct, dtype="string").str.normalize("NFKC")
    is_marker = spelled.str.replace(r"\s+", "", regex=True).isin(TOTAL_ROW_MARKERS)
    marker_of = np.append(is_marker.fillna(False).to_numpy(dtype=bool), False)
    return marker_of[codes]  # code -1 (an empty cell) picks the appended False


def read_sheet(workbook: ExcelWorkbook, sheet: str | int, header_row: int = 1) -> RawSheet:
    """The declared sheet of ``workbook`` as text cells; blank and total rows skipped, counted."""
    sheet_name, rows = workbook.read_rows(sheet)
    if len(rows) < header_row:
        raise WorkbookReadError(
            f"{workbook.name}: sheet {sheet_name!r} has no header row (expected at row {header_row})"
        )
    headers = _unique_headers(rows[header_row - 1])
    cells = _cell_matrix(rows[header_row:], headers)
    del rows  # the cells now live in the matrix: keep one copy of a large sheet, not two
    index = pd.RangeIndex(header_row + 1, header_row + 1 + len(cells))
    text = pd.DataFrame(
        {
            name: cells_as_text(pd.Series(cells[:, position], index=index, copy=False))
            for position, name in enumerate(headers)
        },
        index=index,
    )
    del cells
    blank = np.ones(len(text), dtype=bool)
    for name in headers:
        blank &= text[name].isna().to_numpy()
    total = _total_rows(text.iloc[:, 0]) if headers else np.zeros(len(text), dtype=bool)
    keep = ~blank & ~total
    kept = text[keep]
    kept[SOURCE_FILE] = workbook.name
    kept[SOURCE_ROW] = kept.index.astype("int64")
    return RawSheet(
        frame=kept.reset_index(drop=True),
        file=workbook.name,
        sheet=sheet_name,
        headers=tuple(headers),
        rows_blank=int(blank.sum()),
        rows_total=int((total & ~blank).sum()),
    )
