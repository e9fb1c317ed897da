"""SQL text the plan is made of: quoted identifiers and literals, by PostgreSQL's lexical rules.

No driver and no SQLAlchemy is imported: plan-only runs compose the same SQL that execute runs,
without a connection (psycopg2's ``sql.Identifier`` renders only against one), and importing
SQLAlchemy's dialects cost every ``kedro`` start 0.16-0.19 s. ``quote`` is what the dialect's
``quote_identifier`` does; ``tests/load/test_sql.py`` holds the two equal.
"""

from __future__ import annotations

from dataclasses import dataclass

from work_data_hub.load.steps import Step


@dataclass(frozen=True)
class Statement:
    """One step of the load. ``copy_rows`` marks the COPY whose payload is the plan's rows."""

    purpose: Step
    sql: str
    copy_rows: bool = False


def quote(identifier: str) -> str:
    """A PostgreSQL identifier, always double-quoted (Chinese and mixed-case names work)."""
    if "\x00" in identifier:
        raise ValueError(f"{identifier!r}: a NUL character cannot appear in a SQL identifier")
    return '"' + identifier.replace('"', '""') + '"'


def literal(text: str) -> str:
    """A SQL string literal (``standard_conforming_strings`` is on since PostgreSQL 9.1)."""
    if "\x00" in text:
        raise ValueError(f"{text!r}: a NUL character cannot appear in a SQL string")
    return "'" + text.replace("'", "''") + "'"


def text_array(values: list[str]) -> str:
    return "ARRAY[" + ", ".join(literal(value) for value in values) + "]::text[]"
