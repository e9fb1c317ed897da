"""Rows in PostgreSQL's COPY text format, the bytes both the plan file and execute send."""

from __future__ import annotations

import io
from typing import IO, Protocol, cast

import polars as pl

# COPY text format: a backslash, tab, newline or carriage return inside a value is escaped;
# NULL is \N and an empty string an empty field. The backslash goes first, so the escapes
# added after it are not escaped again. A value `\.` becomes `\\.`, never psql's end marker.
_COPY_ESCAPES = (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r"))
_COPY_SPECIAL = r"[\\\t\n\r]"
_COPY_SPECIAL_OR_NUL = r"[\x00\\\t\n\r]"
_COPY_NULL = "\\N"


def _copy_field(values: pl.Series) -> pl.Series:
    """One column as COPY text: escaped only when some value needs it (rarely)."""
    text = values.cast(pl.String)
    if values.dtype != pl.String or not text.str.contains(_COPY_SPECIAL_OR_NUL).any():
        return text  # the common case: one scan, nothing to escape
    if text.str.contains("\x00", literal=True).any():
        # COPY would fail mid-load; cleaning rejects such cells, so this is a bug guard.
        raise ValueError(
            f"column {values.name!r} holds a NUL character (U+0000), which PostgreSQL text "
            "cannot store"
        )
    if text.str.contains(_COPY_SPECIAL).any():
        for character, escape in _COPY_ESCAPES:
            text = text.str.replace_all(character, escape, literal=True)
    return text


def _copy_fields(rows: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    return pl.DataFrame([_copy_field(rows[column]).alias(column) for column in columns])


class Writable(Protocol):
    def write(self, data: bytes, /) -> object: ...


def write_copy_text(rows: pl.DataFrame, columns: list[str], out: Writable) -> None:
    """Write the rows' COPY text (:func:`copy_text`) to ``out``, in pieces of under a mebibyte.

    polars' CSV writer hands ``out`` the text as it makes it, so the text of many rows is never
    in memory at once.
    """
    if rows.is_empty():
        return
    _copy_fields(rows, columns).write_csv(
        cast(IO[bytes], out),  # any object with write(bytes) will do
        include_header=False,
        separator="\t",
        line_terminator="\n",
        quote_style="never",
        null_value=_COPY_NULL,
    )


def copy_text(rows: pl.DataFrame, columns: list[str]) -> bytes:
    """Rows in PostgreSQL COPY text format: tab-separated, ``\\N`` for NULL, escaped text.

    Once escaped, no field holds a tab or a line break, so polars' CSV writer with quoting
    off writes exactly the COPY text, in native code. Text is row by row: the text of a frame
    is the text of its slices, one after another.
    """
    buffer = io.BytesIO()
    write_copy_text(rows, columns, buffer)
    return buffer.getvalue()


def copy_length(rows: pl.DataFrame, columns: list[str]) -> int:
    """``len(copy_text(rows, columns))``, counted without writing the text.

    The plan's step line gives the rows' length before the rows, which are written afterwards
    a slice at a time: each field's bytes (``\\N`` for NULL), a tab after each field but the
    last, and a line break after the last.
    """
    if rows.is_empty():
        return 0
    fields = _copy_fields(rows, columns)
    field_bytes = fields.select(
        pl.sum_horizontal(
            pl.col(column).str.len_bytes().fill_null(len(_COPY_NULL)).cast(pl.Int64).sum()
            for column in columns
        )
    ).item()
    return int(field_bytes) + len(rows) * len(columns)
