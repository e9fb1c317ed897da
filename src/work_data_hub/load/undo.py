"""Undo as a plan: delete the rows a load wrote and restore, from the history, the rows it replaced.

Pure, like every plan: the statements are set-based (``INSERT ... SELECT`` from the history), so
an undo plan is small and applies the same way through psql, ``execute=true`` and
``apply_plan``. The rows it deletes are first copied into the history under the undo's own run,
so an undo can itself be undone (a redo).

Which rows "a load wrote":

- a load (``delete_insert``, ``append``, ``upsert``): the rows stamped with its ``_run_id``;
- an undo: the rows it restored, i.e. the history rows of the run it undid, found in the table
  by their lineage (``_run_id``, ``_source_file``, ``_source_row``: one row of one file of one
  load, so it names at most one row of the table).

Inside its transaction the plan refuses (the ledger is read under the table's lock):

- a run that wrote no ledger row for the domain;
- a load undone already (naming the undo; undo that one to bring the load back);
- ``stale``: a later run replaced rows this load wrote, so its undo would no longer give the
  table as it was before it (naming that run). ``wdh.force_stale = on`` (``force=true``) lifts
  this one only.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from work_data_hub.cleaning.rows import CleanRows
from work_data_hub.config import LINEAGE_COLUMNS, DomainConfig
from work_data_hub.load.guards import FORCE_STALE_SETTING, guard_sql
from work_data_hub.load.history import REPLACED_BY_RUN, copy_to_history_statement, history_table
from work_data_hub.load.ledger import (
    LEDGER_TABLE,
    UNDOES_RUN,
    config_sha256,
    create_ledger_statement,
    record_load_statement,
)
from work_data_hub.load.modes import ROWS_DELETED, ROWS_INSERTED, counted
from work_data_hub.load.plan import (
    RUN_ID_PATTERN,
    LoadPlan,
    create_table_statement,
    lock_key,
    lock_statement,
    pin_schema_statement,
    table_changes_statement,
)
from work_data_hub.load.sql import Statement, literal, quote
from work_data_hub.load.summary import PlanSummary

UNDO_MODE = "undo"
UNDO_PRIVILEGES = ("SELECT", "INSERT", "DELETE")
HISTORY_PRIVILEGES = ("SELECT", "INSERT")
_LINEAGE = ("_run_id", "_source_file", "_source_row")


@dataclass(frozen=True)
class UndoneLoad:
    """The ledger row of the load to undo, as the undo pipeline read it (read-only).

    ``undoes_run`` is set when that load is itself an undo: the run it undid.
    """

    run_id: str
    domain: str
    table: str
    mode: str
    committed_at: str
    undoes_run: str | None = None


def _same_lineage(left: str, right: str) -> str:
    return " AND ".join(f"{left}.{quote(c)} = {right}.{quote(c)}" for c in _LINEAGE)


def written_by(load: UndoneLoad, history: str, row: str) -> str:
    """A condition: the row aliased ``row`` is one that ``load`` wrote (see the module doc)."""
    if load.undoes_run is None:
        return f"{row}.{quote('_run_id')} = {literal(load.run_id)}"
    return (
        f"EXISTS (SELECT 1 FROM {history} AS restored "
        f"WHERE restored.{quote(REPLACED_BY_RUN)} = {literal(load.undoes_run)} "
        f"AND {_same_lineage('restored', row)})"
    )


def stale_query(load: UndoneLoad, *, table: str, history: str, ledger: str) -> str:
    """One row (``message``) per later run that replaced rows ``load`` wrote (quoted names)."""
    return (
        "SELECT pg_catalog.format("
        "'run %s (committed at %s) replaced %s row(s) that run %s wrote; undoing %s now would "
        "not give the table as it was before it', later.run_id, later.committed_at, "
        f"pg_catalog.count(*), {literal(load.run_id)}, {literal(load.run_id)}) AS message\n"
        f"FROM {history} AS gone\n"
        f"JOIN {ledger} AS later ON later.run_id = gone.{quote(REPLACED_BY_RUN)} "
        f"AND later.domain = {literal(load.domain)}\n"
        f"WHERE {written_by(load, history, 'gone')}\n"
        f"    AND later.run_id <> {literal(load.run_id)}\n"
        f"    AND NOT EXISTS (SELECT 1 FROM {table} AS target "
        f"WHERE {_same_lineage('target', 'gone')})\n"
        "GROUP BY later.run_id, later.committed_at\n"
        "ORDER BY later.committed_at"
    )


def undo_guard_statement(load: UndoneLoad, *, table: str, history: str) -> Statement:
    """Refuse an unknown run, a load undone already, and (unless forced) a stale undo."""
    ledger = quote(LEDGER_TABLE)
    run, domain = literal(load.run_id), literal(load.domain)
    body = f"""
DECLARE
    found record;
    stale text;
BEGIN
    PERFORM 1 FROM {ledger} WHERE run_id = {run} AND domain = {domain}
        AND mode = {literal(load.mode)};
    IF NOT FOUND THEN
        RAISE EXCEPTION 'run % wrote no {load.mode} load of domain % (see {LEDGER_TABLE}); the table is unchanged',
            {run}, {domain};
    END IF;
    SELECT run_id, committed_at INTO found FROM {ledger}
        WHERE {quote(UNDOES_RUN)} = {run} AND domain = {domain} LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'run % was already undone by run % at %; the table is unchanged',
            {run}, found.run_id, found.committed_at
            USING HINT = pg_catalog.format('a load is undone once; to bring it back, undo the '
                'undo: kedro run --pipelines undo --params run=%s', found.run_id);
    END IF;
    IF coalesce(current_setting({literal(FORCE_STALE_SETTING)}, true), '') <> 'on' THEN
        SELECT pg_catalog.string_agg(message, '; ') INTO stale FROM (
{stale_query(load, table=table, history=history, ledger=ledger)}
        ) AS later;
        IF stale IS NOT NULL THEN
            RAISE EXCEPTION 'the undo of run % is stale: %; the table is unchanged', {run}, stale
                USING HINT = 'undo the later run(s) first, or apply this undo anyway with '
                             'force=true';
        END IF;
    END IF;
END
"""
    tag = "$wdh_undo_guard$"
    if tag in body:
        raise ValueError(f"domain {load.domain!r}: a name contains {tag}")
    return Statement("undo_guard", f"DO {tag}{body}{tag}")


def undo_files_sql(load: UndoneLoad, *, run_id: str, history: str) -> str:
    """The undo's ``files`` for its ledger row, computed in its transaction from the history.

    Each file whose rows the undo restored (the history rows of the undone run), with the sha256
    and period the ledger recorded for it; and each file whose rows it deleted (now history rows
    of this undo), marked ``"undone": true``.
    """
    ledger = quote(LEDGER_TABLE)
    return f"""(SELECT COALESCE(pg_catalog.jsonb_agg(entry ORDER BY moved_order), '[]'::jsonb)
FROM (
    SELECT pg_catalog.jsonb_build_object('path', moved._source_file, 'sha256', file.sha256,
            'period', file.period, 'rows', moved.rows)
        || CASE WHEN moved.undone THEN '{{"undone": true}}'::jsonb ELSE '{{}}'::jsonb END AS entry,
        pg_catalog.row_number() OVER (ORDER BY moved.undone, moved._source_file) AS moved_order
    FROM (
        SELECT "_run_id", "_source_file", pg_catalog.count(*) AS rows,
            {quote(REPLACED_BY_RUN)} = {literal(run_id)} AS undone
        FROM {history}
        WHERE {quote(REPLACED_BY_RUN)} IN ({literal(load.run_id)}, {literal(run_id)})
        GROUP BY 1, 2, 4
    ) AS moved
    LEFT JOIN LATERAL (
        SELECT listed.sha256, listed.period
        FROM {ledger} AS source,
            pg_catalog.jsonb_to_recordset(source.files) AS listed(path text, sha256 text, period text)
        WHERE source.run_id = moved."_run_id" AND source.domain = {literal(load.domain)}
            AND source.mode <> {literal(UNDO_MODE)} AND listed.path = moved."_source_file"
        LIMIT 1
    ) AS file ON true
) AS entries)"""


def build_undo_plan(
    load: UndoneLoad,
    domain: DomainConfig,
    *,
    run_id: str,
    created_at: dt.datetime | None = None,
) -> LoadPlan:
    """The plan undoing ``load`` (a ledger row of ``domain``), made by run ``run_id``."""
    if not RUN_ID_PATTERN.match(run_id):
        raise ValueError(f"run_id {run_id!r} must be 1-64 letters, digits or _.:-")
    if load.domain != domain.name or load.table != domain.table:
        raise ValueError(
            f"run {load.run_id} loaded domain {load.domain} into table {load.table}, "
            f"not domain {domain.name} (table {domain.table})"
        )
    if load.run_id == run_id:
        raise ValueError(f"run {run_id} cannot undo itself")
    table = quote(domain.table)
    history = quote(history_table(domain.table))
    columns = [*domain.columns, *(c for c in LINEAGE_COLUMNS if c not in domain.columns)]
    names = ", ".join(quote(column) for column in columns)
    wrote = written_by(load, history, "target")
    made_at = (created_at or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    summary = PlanSummary(
        domain=domain.name,
        table=domain.table,
        mode=UNDO_MODE,
        run_id=run_id,
        created_at=made_at.isoformat(timespec="microseconds"),
        refresh_scope=(),
        refresh_scopes=(),
        files=(),
        rows_read=0,
        rows_to_insert=0,
        rows_rejected=0,
        undo_of=load.run_id,
    )
    statements = [
        Statement("begin", "BEGIN"),
        lock_statement(domain.table),
        pin_schema_statement(domain),
        create_table_statement(
            domain, privileges=UNDO_PRIVILEGES, history_privileges=HISTORY_PRIVILEGES
        ),
        table_changes_statement(domain),
        create_ledger_statement(lock_key(LEDGER_TABLE)),
        Statement(
            "guard",
            guard_sql(
                ledger_table=quote(LEDGER_TABLE), domain=domain.name, created_at=summary.created_at
            ),
        ),
        undo_guard_statement(load, table=table, history=history),
        # The rows it deletes go to the history first, under this run: a redo restores them.
        copy_to_history_statement(
            history=history,
            columns=columns,
            replaced=f"{table} AS target WHERE {wrote}",
            run_id=run_id,
        ),
        counted("delete", f"DELETE FROM {table} AS target WHERE {wrote}", ROWS_DELETED),
        counted(
            "restore",
            f"INSERT INTO {table} ({names})\nSELECT {names} FROM {history}\n"
            f"WHERE {quote(REPLACED_BY_RUN)} = {literal(load.run_id)}",
            ROWS_INSERTED,
        ),
        record_load_statement(
            run_id=run_id,
            domain=domain.name,
            table=domain.table,
            mode=UNDO_MODE,
            config_sha256=config_sha256(domain),
            files=undo_files_sql(load, run_id=run_id, history=history),
            undoes_run=load.run_id,
        ),
        Statement("commit", "COMMIT"),
    ]
    return LoadPlan(
        domain=domain.name,
        table=domain.table,
        mode=UNDO_MODE,
        run_id=run_id,
        statements=tuple(statements),
        rows=CleanRows.of(pl.DataFrame(), ()),
        copy_columns=(),
        rows_to_insert=0,
        rows_read=0,
        rows_rejected=0,
        max_reject_ratio=0.0,
        summary=summary,
    )


__all__ = [
    "UNDO_MODE",
    "UndoneLoad",
    "build_undo_plan",
    "stale_query",
    "undo_files_sql",
    "undo_guard_statement",
    "written_by",
]
