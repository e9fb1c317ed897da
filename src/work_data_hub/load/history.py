"""The table's history ``<table>__history``: every row a load deleted or overwrote, as it was.

A load that replaces rows (``delete_insert``, ``upsert``) and every undo first copies the rows
it is about to remove into the history, in its own transaction and through its plan, so a plan
applied by psql keeps history too. A history row is the table's row, every column as stored
(lineage and ``_run_id`` included), plus ``_replaced_by_run`` (the run that removed it) and
``_replaced_at`` (that transaction's start). The history has no key and no index: a load only
appends to it, and undo and the documented queries read it rarely.

What load X removed::

    SELECT * FROM "trustee_performance__history" WHERE _replaced_by_run = 'X';

Pruning what was replaced before a date (as the table's owner; an undo of those loads can then
no longer restore them)::

    DELETE FROM "trustee_performance__history" WHERE _replaced_at < '2025-01-01';
"""

from __future__ import annotations

from collections.abc import Sequence

from work_data_hub.load.sql import Statement, literal, quote

HISTORY_SUFFIX = "__history"
REPLACED_BY_RUN = "_replaced_by_run"
REPLACED_AT = "_replaced_at"
HISTORY_COLUMNS: tuple[tuple[str, str], ...] = (
    (REPLACED_BY_RUN, "text NOT NULL"),
    (REPLACED_AT, "timestamp with time zone NOT NULL"),
)
# PostgreSQL truncates longer identifiers silently; a truncated history name could clash.
_MAX_IDENTIFIER_BYTES = 63


def history_table(table: str) -> str:
    """The history table's name for ``table`` (unquoted), beside it in the same schema."""
    name = table + HISTORY_SUFFIX
    if len(name.encode("utf-8")) > _MAX_IDENTIFIER_BYTES:
        raise ValueError(
            f"table {table!r}: its history table {name!r} would be longer than PostgreSQL's "
            f"{_MAX_IDENTIFIER_BYTES} bytes; choose a shorter table name in data_sources.yml"
        )
    return name


def create_history_format() -> str:
    """A ``pg_catalog.format`` string (``%s``: history, then table) creating the history.

    ``LIKE`` copies the table's columns as they are (names, types, NOT NULL; no key, no
    default), whatever the declaration says now; the table-changes step then adds to both what
    they lack.
    """
    extra = ", ".join(f"{quote(name)} {kind}" for name, kind in HISTORY_COLUMNS)
    return f"CREATE TABLE %s (LIKE %s, {extra})"


def copy_to_history_statement(
    *,
    history: str,
    columns: Sequence[str],
    replaced: str,
    run_id: str,
    purpose: str = "history",
) -> Statement:
    """Copy the rows ``replaced`` selects (a ``FROM`` clause naming them ``target``) into history.

    ``columns`` are every column of the table (declared and lineage); ``run_id`` is the run
    that is about to remove them.
    """
    names = [*columns, REPLACED_BY_RUN, REPLACED_AT]
    selected = ", ".join(f"target.{quote(column)}" for column in columns)
    return Statement(
        purpose,
        f"INSERT INTO {history} ({', '.join(quote(name) for name in names)})\n"
        f"SELECT {selected}, {literal(run_id)}, pg_catalog.now()\nFROM {replaced}",
    )


__all__ = [
    "HISTORY_COLUMNS",
    "HISTORY_SUFFIX",
    "REPLACED_AT",
    "REPLACED_BY_RUN",
    "copy_to_history_statement",
    "create_history_format",
    "history_table",
]
