"""Read one sheet of a workbook into a frame of text cells, keeping Excel's row numbers."""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from work_data_hub.datasets.excel_workbook_dataset import ExcelWorkbook, WorkbookReadError

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


def cells_as_text(column: pd.Series) -> pd.Series:
    """Every cell as the text a person sees; NA for empty cells. Never turns a value into NA.

    Whole numbers lose their ``.0``; dates become ISO text, so the text rules see one form.
    """
    kinds = column.map(type)
    result = pd.Series(pd.NA, index=column.index, dtype="string")
    is_str = kinds == str  # noqa: E721  (element-wise over a Series, not one type test)
    if is_str.any():
        text = column[is_str].astype("string")
        result[is_str] = text.where(text.str.strip() != "", None)
    is_float = kinds == float  # noqa: E721
    if is_float.any():
        numbers = column[is_float].astype("float64")
        whole = np.isfinite(numbers) & (numbers == np.round(numbers)) & (numbers.abs() < 1e15)
        rendered = numbers.astype(str)
        rendered[whole] = numbers[whole].astype("int64").astype(str)
        result[is_float] = rendered.astype("string")
    for kind in (int, bool):
        chosen = kinds == kind
        if chosen.any():
            result[chosen] = column[chosen].astype(str).astype("string")
    is_date = (kinds == dt.datetime) | (kinds == dt.date) | (kinds == pd.Timestamp)
    if is_date.any():
        stamps = pd.to_datetime(column[is_date])
        has_time = stamps != stamps.dt.normalize()
        rendered = stamps.dt.strftime("%Y-%m-%d")
        rendered[has_time] = stamps[has_time].dt.strftime("%Y-%m-%d %H:%M:%S")
        result[is_date] = rendered.astype("string")
    rest = result.isna() & column.notna() & ~is_str & ~(kinds == type(None))  # noqa: E721
    if rest.any():
        result[rest] = column[rest].astype(str).astype("string")
    return result


def read_sheet(workbook: ExcelWorkbook, sheet: str | int, header_row: int = 1) -> RawSheet:
    """The declared sheet of ``workbook`` as text cells; blank and total rows skipped, counted."""
    sheet_name, rows = workbook.read_rows(sheet)
    if len(rows) < header_row:
        raise WorkbookReadError(
            f"{workbook.name}: sheet {sheet_name!r} has no header row (expected at row {header_row})"
        )
    headers = _unique_headers(rows[header_row - 1])
    width = len(headers)
    body = rows[header_row:]
    frame = (
        pd.DataFrame(body, columns=headers, dtype=object)
        if body
        else pd.DataFrame(columns=headers, dtype=object)
    )
    frame.index = pd.RangeIndex(header_row + 1, header_row + 1 + len(frame))
    text = pd.DataFrame({name: cells_as_text(frame[name]) for name in headers}, index=frame.index)
    blank = text.isna().all(axis=1) if width else pd.Series(True, index=text.index)
    first = (
        text.iloc[:, 0].str.normalize("NFKC").str.replace(r"\s+", "", regex=True) if width else None
    )
    total = (
        first.isin(TOTAL_ROW_MARKERS).fillna(False).astype(bool)
        if first is not None
        else blank & False
    )
    keep = ~blank & ~total
    kept = text[keep].copy()
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
