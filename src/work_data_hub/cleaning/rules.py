"""The declared cleaning rules: one vectorised function each, text in, text out.

Every rule takes the cells as a ``string`` Series (NA = empty cell) and returns a
:class:`RuleResult`: the cleaned values (NA = NULL) and, per row, the reason the cell is
rejected (NA = accepted). A rule never raises on a value and never turns a non-empty cell
into NULL without a reason, so no value is silently lost.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass

import numpy as np
import pandas as pd

_CURRENCY_AND_SEPARATORS = r"[,\s¥$]"
_NUMBER = r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$"


@dataclass(frozen=True)
class RuleResult:
    values: pd.Series
    errors: pd.Series


def no_errors(index: pd.Index) -> pd.Series:
    return pd.Series(pd.NA, index=index, dtype="string")


def _normalised(cells: pd.Series) -> pd.Series:
    return cells.astype("string").str.normalize("NFKC").str.strip()


def _first_of_month(years: pd.Series, months: pd.Series) -> pd.Series:
    return (
        years.astype("Int64").astype("string").str.zfill(4)
        + "-"
        + months.astype("Int64").astype("string").str.zfill(2)
        + "-01"
    )


def _check_period(
    cells: pd.Series, years: pd.Series, months: pd.Series, today: dt.date, bad: str
) -> RuleResult:
    """Dates from parsed years and months: 2000-2099, month 1-12, not after this month."""
    errors = no_errors(cells.index)
    present = cells.notna()
    unparsed = present & (years.isna() | months.isna())
    errors[unparsed] = bad
    out_of_range = present & ~unparsed & ~(years.between(2000, 2099) & months.between(1, 12))
    errors[out_of_range] = "year must be 2000-2099 and month 1-12"
    future = (
        present & ~unparsed & ~out_of_range & (years * 12 + months > today.year * 12 + today.month)
    )
    errors[future] = f"period is in the future (after {today:%Y-%m})"
    values = _first_of_month(years, months).where(present & errors.isna(), pd.NA)
    return RuleResult(values.astype("string"), errors)


def year_month(year_cells: pd.Series, month_cells: pd.Series, today: dt.date) -> RuleResult:
    """First day of (年, 月): years like ``2024``, ``2024年``, ``2024.0``; months like ``11月``."""
    years = pd.to_numeric(
        _normalised(year_cells).str.extract(r"^(\d{4})(?:\.0+)?年?$", expand=False), errors="coerce"
    )
    months = pd.to_numeric(
        _normalised(month_cells).str.extract(r"^(\d{1,2})(?:\.0+)?月?$", expand=False),
        errors="coerce",
    )
    both = year_cells.notna() & month_cells.notna()
    either = year_cells.notna() | month_cells.notna()
    cells = year_cells.where(both, pd.NA)
    result = _check_period(cells, years, months, today, "year or month is not a number")
    errors = result.errors.copy()
    errors[either & ~both] = "year and month must both be given"
    return RuleResult(result.values, errors)


_MONTH_SPELLINGS = (
    r"^(?P<year>\d{4})(?P<month>\d{2})(?:\d{2})?$",
    r"^(?P<year>\d{4})[-/.](?P<month>\d{1,2})(?:[-/.]\d{1,2})?(?:[ T]\d{1,2}:\d{2}(?::\d{2})?)?$",
    r"^(?P<year>\d{2}|\d{4})年(?P<month>\d{1,2})月(?:\d{1,2}日)?$",
)
_EXCEL_EPOCH = pd.Timestamp("1899-12-30")


def month_date(cells: pd.Series, today: dt.date) -> RuleResult:
    """First day of the month from the spellings people use, Excel dates and serial numbers."""
    text = _normalised(cells).str.replace(r"\s+", " ", regex=True)
    years = pd.Series(np.nan, index=cells.index)
    months = pd.Series(np.nan, index=cells.index)
    for spelling in _MONTH_SPELLINGS:
        parts = text.str.extract(spelling)
        found = parts["year"].notna() & years.isna()
        years[found] = pd.to_numeric(parts.loc[found, "year"])
        months[found] = pd.to_numeric(parts.loc[found, "month"])
    short = years < 100
    years[short] += 2000
    serial = pd.to_numeric(text.where(years.isna()), errors="coerce")
    is_serial = serial.between(20000, 80000) & (serial == np.floor(serial))
    if is_serial.any():
        stamps = _EXCEL_EPOCH + pd.to_timedelta(serial[is_serial], unit="D")
        years[is_serial] = stamps.dt.year
        months[is_serial] = stamps.dt.month
    return _check_period(cells, years, months, today, "not a recognised month or date")


def code(
    cells: pd.Series,
    *,
    upper: bool = True,
    remove: str = "",
    strip_prefix: str | None = None,
    replace: dict[str, str] | None = None,
    allowed: str | None = None,
) -> RuleResult:
    """Trimmed (and upper-cased) codes, characters in ``remove`` dropped, exact replacements."""
    values = _normalised(cells)
    if upper:
        # Upper-casing can leave a sequence that NFKC composes differently (ῗ -> Ϊ͂).
        values = values.str.upper().str.normalize("NFKC")
    if remove:
        values = values.str.replace(f"[{_char_class(remove)}]", "", regex=True)
    if strip_prefix:
        values = values.str.replace(f"^(?i:{re.escape(strip_prefix)})", "", regex=True)
    if remove or strip_prefix:
        # "- 0" less its "-" is " 0": trim again, or a code is stored with a leading blank.
        values = values.str.strip()
    if replace:
        values = values.replace(replace)
    values = values.where(values != "", None)
    errors = no_errors(cells.index)
    if allowed:
        invalid = values.notna() & ~values.str.fullmatch(allowed).fillna(False).astype(bool)
        errors[invalid] = f"code has characters outside {allowed}"
        values = values.where(~invalid, pd.NA)
    emptied = cells.notna() & values.isna() & errors.isna()
    errors[emptied] = "code is empty after cleaning"
    return RuleResult(values.astype("string"), errors)


def _char_class(characters: str) -> str:
    return "".join("\\" + ch if ch in "\\^-]" else ch for ch in characters)


def _numbers(cells: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    """(cleaned text, float value, is_percent) with separators and currency symbols removed."""
    text = _normalised(cells).str.replace(_CURRENCY_AND_SEPARATORS, "", regex=True)
    is_percent = text.str.endswith("%").fillna(False).astype(bool)
    text = text.str.removesuffix("%")
    numeric = text.str.fullmatch(_NUMBER).fillna(False).astype(bool)
    text = text.where(numeric, None)
    # Always float: all-integer text gives an Int64 column, which `5%` -> 0.05 cannot go into.
    return text, pd.to_numeric(text, errors="coerce").astype("float64"), is_percent


def decimal(
    cells: pd.Series,
    *,
    precision: int,
    scale: int,
    minimum: float | None = None,
    maximum: float | None = None,
    min_exclusive: bool = False,
    percent: bool = False,
) -> RuleResult:
    """Numbers with ``,``, spaces and ``¥ ￥ $`` removed, within bounds and the column's size.

    With ``percent``, ``5.5%`` means 0.055 and a bare number is already a fraction.
    """
    text, values, is_percent = _numbers(cells)
    errors = no_errors(cells.index)
    present = cells.notna()
    not_number = present & text.isna()
    errors[not_number] = "not a number"
    # Digits pandas cannot convert (past Python's 4,300-digit int limit) would reach COPY unchecked.
    errors[present & ~not_number & values.isna()] = f"too large for numeric({precision},{scale})"
    if percent:
        values = values.where(~is_percent, (values / 100).round(scale + 6))
        text = text.where(~is_percent, values.astype(str))
    else:
        errors[present & is_percent & ~not_number] = "a percentage where an amount is expected"
    checked = present & errors.isna()
    if minimum is not None:
        below = checked & ((values <= minimum) if min_exclusive else (values < minimum))
        errors[below] = f"must be {'>' if min_exclusive else '>='} {minimum:g}"
    if maximum is not None:
        errors[checked & (values > maximum) & errors.isna()] = f"must be <= {maximum:g}"
    limit = 10.0 ** (precision - scale)
    too_large = checked & errors.isna() & (values.abs().round(scale) >= limit)
    errors[too_large] = f"too large for numeric({precision},{scale})"
    values_text = text.where(present & errors.isna(), pd.NA)
    return RuleResult(values_text.astype("string"), errors)


def text(cells: pd.Series, *, placeholders: list[str] | None = None) -> RuleResult:
    """Trimmed text; placeholder spellings (case- and width-insensitive) become NULL."""
    values = cells.astype("string").str.strip()
    values = values.where(values != "", None)
    if placeholders:
        lowered = {
            unicodedata.normalize("NFKC", placeholder).lower() for placeholder in placeholders
        }
        spelled = values.str.normalize("NFKC").str.lower()
        values = values.where(~spelled.isin(lowered).fillna(False).astype(bool), None)
    return RuleResult(values.astype("string"), no_errors(cells.index))


def mapping(cells: pd.Series, table: dict[str, str]) -> RuleResult:
    """Look each value up in ``table``; unknown or empty values are NULL (for a default)."""
    values = cells.astype("string").map(table, na_action="ignore").astype("string")
    return RuleResult(values, no_errors(cells.index))


def apply_defaults(values: pd.Series, conditions: list[tuple[pd.Series, str]]) -> pd.Series:
    """Fill empty values from the first ``(condition, value)`` pair whose condition holds."""
    filled = values.copy()
    for holds, default in conditions:
        filled = filled.where(~(filled.isna() & holds), default)
    return filled.astype("string")
