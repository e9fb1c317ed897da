"""Python cells, as tests and domain transforms build them, as the text the reader gives.

Kept apart from :mod:`work_data_hub.cleaning.reading` because it needs pandas and numpy, which a
run that only reads workbooks never imports.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd

_type_of = np.frompyfunc(type, 1, 1)
_is_space = np.frompyfunc(str.isspace, 1, 1)
_as_str = np.frompyfunc(str, 1, 1)
_DATE_TYPES = (dt.datetime, dt.date, pd.Timestamp)


def cells_as_text(column: pd.Series) -> pd.Series:
    """Python cells (as tests and transforms build them) as text; NA for empty cells.

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
