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

# One name rule for the history table: config's (data_sources.yml refuses one PostgreSQL would cut).
from work_data_hub.config.domains import history_table
from work_data_hub.load.ledger import LEDGER_TABLE, UNDOES_RUN
from work_data_hub.load.sql import Statement, literal, quote
from work_data_hub.load.steps import Step

REPLACED_BY_RUN = "_replaced_by_run"
REPLACED_AT = "_replaced_at"
HISTORY_COLUMNS: tuple[tuple[str, str], ...] = (
    (REPLACED_BY_RUN, "text NOT NULL"),
    (REPLACED_AT, "timestamp with time zone NOT NULL"),
)
# The ledger's mode of an undo, and the grants an undo needs on the table and on its history.
UNDO_MODE = "undo"
UNDO_PRIVILEGES = ("SELECT", "INSERT", "DELETE")
UNDO_HISTORY_PRIVILEGES = ("SELECT", "INSERT")
# One row of one file of one load: names at most one row of the table.
LINEAGE = ("_run_id", "_source_file", "_source_row")


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
) -> Statement:
    """Copy the rows ``replaced`` selects (a ``FROM`` clause naming them ``target``) into history.

    ``columns`` are every column of the table (declared and lineage); ``run_id`` is the run
    that is about to remove them.
    """
    names = [*columns, REPLACED_BY_RUN, REPLACED_AT]
    selected = ", ".join(f"target.{quote(column)}" for column in columns)
    return Statement(
        Step.HISTORY,
        f"INSERT INTO {history} ({', '.join(quote(name) for name in names)})\n"
        f"SELECT {selected}, {literal(run_id)}, pg_catalog.now()\nFROM {replaced}",
    )


def _lineage(row: str) -> str:
    return "(" + ", ".join(f"{row}.{quote(column)}" for column in LINEAGE) + ")"


def written_by(run_id: str, *, domain: str, history: str, row: str) -> str:
    """A condition: the table row aliased ``row`` is one that run ``run_id`` wrote in ``domain``.

    A load wrote the rows stamped with its ``_run_id``; an undo wrote the rows it restored, the
    history rows of the run it undid, found by their lineage. Read from the ledger when the
    statement runs (``history`` is quoted; unqualified names resolve in the target's schema).
    """
    ledger = quote(LEDGER_TABLE)
    undo = (
        f"FROM {ledger} AS undo WHERE undo.run_id = {literal(run_id)} "
        f"AND undo.domain = {literal(domain)} AND undo.mode = {literal(UNDO_MODE)}"
    )
    return (
        f"(({row}.{quote('_run_id')} = {literal(run_id)} AND NOT EXISTS (SELECT 1 {undo}))\n"
        f"    OR {_lineage(row)} IN (SELECT {_lineage('restored')[1:-1]} FROM {history} AS restored "
        f"JOIN {ledger} AS undo ON restored.{quote(REPLACED_BY_RUN)} = undo.{quote(UNDOES_RUN)}"
        f" WHERE {undo.removeprefix(f'FROM {ledger} AS undo WHERE ')}))"
    )


def replaced_by_later_runs_sql(run_id: str, *, domain: str, table: str) -> str:
    """Per later run that replaced rows ``run_id`` wrote (gone from the table, in the history
    under that run): ``run_id, committed_at, rows`` (unquoted names, in the target's schema)."""
    history = quote(history_table(table))
    ledger = quote(LEDGER_TABLE)
    gone = written_by(run_id, domain=domain, history=history, row="gone")
    return (
        f"SELECT later.run_id, later.committed_at, pg_catalog.count(*) AS rows\n"
        f"FROM {history} AS gone\n"
        f"JOIN {ledger} AS later ON later.run_id = gone.{quote(REPLACED_BY_RUN)} "
        f"AND later.domain = {literal(domain)}\n"
        f"WHERE later.committed_at > (SELECT load.committed_at FROM {ledger} AS load "
        f"WHERE load.run_id = {literal(run_id)} AND load.domain = {literal(domain)})\n"
        f"    AND {gone}\n"
        f"    AND NOT EXISTS (SELECT 1 FROM {quote(table)} AS target "
        f"WHERE {_lineage('target')} = {_lineage('gone')})\n"
        "GROUP BY later.run_id, later.committed_at"
    )


__all__ = [
    "HISTORY_COLUMNS",
    "LINEAGE",
    "REPLACED_AT",
    "REPLACED_BY_RUN",
    "UNDO_HISTORY_PRIVILEGES",
    "UNDO_MODE",
    "UNDO_PRIVILEGES",
    "copy_to_history_statement",
    "create_history_format",
    "history_table",
    "replaced_by_later_runs_sql",
    "written_by",
]
