"""Text that a spreadsheet would run as a formula, written so that it shows as text.

A delivered cell such as ``=HYPERLINK("http://evil","click")``, ``+cmd|' /C calc'!A0`` or
``@SUM(A1:A9)`` is data to WorkDataHub; opened from a CSV or typed into a cell, Excel (and
LibreOffice) would run it. Text starting with one of :data:`FORMULA_STARTS` is therefore:

- in a CSV, prefixed with a single quote (OWASP's "CSV injection" advice): Excel shows the
  text and runs nothing. So that the file still reads back as exactly what was delivered,
  a text that itself starts with a quote gets one too, and reading removes one leading quote
  from any text that has it (:func:`csv_unescape`). A plain number (``-12.5``) runs nothing
  and is written as it is;
- in a workbook, written as a text cell marked "quote prefix" (what Excel itself stores for
  a typed ``'=...``): it shows as text and stays text when the cell is edited.
"""

from __future__ import annotations

import re

import polars as pl

# What Excel, LibreOffice and Google Sheets treat as the start of a formula (or DDE call).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CSV_QUOTE = "'"
# A number as text that is safe as it is, though it may start with ``-`` or ``+``.
_PLAIN_NUMBER = r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$"
_NEEDS_QUOTE = "^[" + re.escape("".join(FORMULA_STARTS) + CSV_QUOTE) + "]"


def shows_as_formula(text: str) -> bool:
    """True where a spreadsheet would run ``text`` (typed, or opened from a CSV) as a formula."""
    return text.startswith(FORMULA_STARTS) and re.match(_PLAIN_NUMBER, text) is None


def csv_escaped(column: str) -> pl.Expr:
    """``column`` (text) as the CSV writes it: quoted where it would run, see the module doc."""
    text = pl.col(column)
    quote = text.str.contains(_NEEDS_QUOTE) & ~text.str.contains(_PLAIN_NUMBER)
    return pl.when(quote).then(CSV_QUOTE + text).otherwise(text).alias(column)


def csv_escape(text: str) -> str:
    """One value as :func:`csv_escaped` writes it (for frames that are not polars)."""
    if re.match(_NEEDS_QUOTE, text) and not re.match(_PLAIN_NUMBER, text):
        return CSV_QUOTE + text
    return text


def csv_unescape(text: str) -> str:
    """A CSV value as it was before it was escaped (one leading quote removed)."""
    return text.removeprefix(CSV_QUOTE)


__all__ = [
    "CSV_QUOTE",
    "FORMULA_STARTS",
    "csv_escape",
    "csv_escaped",
    "csv_unescape",
    "shows_as_formula",
]
