"""SQL text the plan is made of: identifiers quoted by SQLAlchemy's PostgreSQL dialect, literals.

No driver is imported: plan-only runs compose the same SQL that execute runs.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.dialects import postgresql

_PREPARER = postgresql.dialect().identifier_preparer  # type: ignore[no-untyped-call]


@dataclass(frozen=True)
class Statement:
    """One step of the load. ``copy_rows`` marks the COPY whose payload is the plan's rows."""

    purpose: str
    sql: str
    copy_rows: bool = False


def quote(identifier: str) -> str:
    """A PostgreSQL identifier, always double-quoted (Chinese and mixed-case names work)."""
    return str(_PREPARER.quote_identifier(identifier))


def literal(text: str) -> str:
    """A SQL string literal (``standard_conforming_strings`` is on since PostgreSQL 9.1)."""
    if "\x00" in text:
        raise ValueError(f"{text!r}: a NUL character cannot appear in a SQL string")
    return "'" + text.replace("'", "''") + "'"


def text_array(values: list[str]) -> str:
    return "ARRAY[" + ", ".join(literal(value) for value in values) + "]::text[]"
