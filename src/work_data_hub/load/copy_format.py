"""Rows in PostgreSQL's COPY text format, the bytes both the plan file and execute send."""

from __future__ import annotations

import re

import pandas as pd

_COPY_ESCAPES = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}
_COPY_SPECIAL = re.compile(r"[\\\t\n\r]")
_COPY_NULL = "\\N"


def _copy_field(values: pd.Series, column: str) -> list[str]:
    """One column as COPY text fields: escaped text, ``\\N`` for NULL."""
    text = values.astype("string")
    present = text.notna().to_numpy()
    fields = text.to_numpy(dtype=object, na_value=_COPY_NULL)
    # One C-level join and one scan per column instead of a search per cell: the characters
    # COPY must escape are rare, so the per-cell replacement almost never runs.
    joined = "".join(fields[present])
    if "\x00" in joined:
        # COPY would fail mid-load; cleaning rejects such cells, so this is a bug guard.
        raise ValueError(
            f"column {column!r} holds a NUL character (U+0000), which PostgreSQL text cannot store"
        )
    if _COPY_SPECIAL.search(joined):
        escaped = text.str.replace(_COPY_SPECIAL.pattern, _copy_escape, regex=True)
        fields = escaped.to_numpy(dtype=object, na_value=_COPY_NULL)
    result: list[str] = fields.tolist()
    return result


def _copy_escape(match: re.Match[str]) -> str:
    return _COPY_ESCAPES[match.group(0)]


def copy_text(rows: pd.DataFrame, columns: list[str]) -> bytes:
    """Rows in PostgreSQL COPY text format: tab-separated, ``\\N`` for NULL, escaped text.

    Columns are rendered whole (see ``_copy_field``) and joined by ``str.join`` in C; no
    Python code runs per row.
    """
    if rows.empty:
        return b""
    fields = [_copy_field(rows[column], column) for column in columns]
    lines = map("\t".join, zip(*fields, strict=True))
    return ("\n".join(lines) + "\n").encode("utf-8")
