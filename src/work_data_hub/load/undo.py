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

Its ``guard`` step runs, besides every plan's checks (already applied, stale since made), the
undo's own (declared in :mod:`work_data_hub.config.checks`, SQL in
:mod:`work_data_hub.load.checks`), under the table's lock:

- ``undo target``: the run wrote no load of the domain;
- ``undone already``: the load was undone (naming the undo; undo that one to bring it back);
- ``undo stale``: a later run replaced rows the load wrote (naming it), so the undo would not
  give the table as it was before the load. ``force=true`` (``wdh.force_stale = on``) lifts
  this one only.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from work_data_hub.config import LINEAGE_COLUMNS, DomainConfig
from work_data_hub.load.checks import CheckSubject
from work_data_hub.load.history import (
    REPLACED_BY_RUN,
    UNDO_MODE,
    copy_to_history_statement,
    history_table,
    written_by,
)
from work_data_hub.load.ledger import (
    LEDGER_TABLE,
    UNDOES_RUN,
    config_sha256,
    record_load_statement,
)
from work_data_hub.load.modes import ROWS_DELETED, ROWS_INSERTED, counted
from work_data_hub.load.plan import (
    RUN_ID_PATTERN,
    LoadPlan,
    opening_statements,
    table_shape_query,
)
from work_data_hub.load.sql import Statement, literal, quote
from work_data_hub.load.steps import Step
from work_data_hub.load.summary import PlanSummary
from work_data_hub.rows import CleanRows


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


def loads_of_run_sql() -> str:
    """The ledger rows of run ``%(run)s`` (in the pinned schema), as :class:`UndoneLoad` fields.

    ``undoes_run`` is read through ``to_jsonb``: a ledger made before that column existed
    gets it from the next plan, and reads as NULL until then.
    """
    return (
        "SELECT load.run_id, load.domain, load.table_name, load.mode, load.committed_at, "
        f"pg_catalog.to_jsonb(load) ->> {literal(UNDOES_RUN)}\n"
        f"FROM {quote(LEDGER_TABLE)} AS load WHERE load.run_id = %(run)s ORDER BY load.domain"
    )


def undo_counts_sql(load: UndoneLoad, domain: DomainConfig) -> str:
    """Read-only: how many rows the undo would delete (rows the load wrote) and restore."""
    table = quote(domain.table)
    history = quote(history_table(domain.table))
    wrote = written_by(load.run_id, domain=domain.name, history=history, row="target")
    return (
        f"SELECT (SELECT pg_catalog.count(*) FROM {table} AS target WHERE {wrote}),\n"
        f"    (SELECT pg_catalog.count(*) FROM {history} "
        f"WHERE {quote(REPLACED_BY_RUN)} = {literal(load.run_id)})"
    )


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
    columns = [*domain.columns, *LINEAGE_COLUMNS]
    names = ", ".join(quote(column) for column in columns)
    wrote = written_by(load.run_id, domain=domain.name, history=history, row="target")
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
    subject = CheckSubject.of(summary)
    statements = [
        # The guard: applied once, not stale, the run known, not undone yet, no later run
        # replaced its rows (see the module docstring).
        *opening_statements(domain, subject),
        # The rows it deletes go to the history first, under this run: a redo restores them.
        copy_to_history_statement(
            history=history,
            columns=columns,
            replaced=f"{table} AS target WHERE {wrote}",
            run_id=run_id,
        ),
        counted(Step.DELETE, f"DELETE FROM {table} AS target WHERE {wrote}", ROWS_DELETED),
        counted(
            Step.RESTORE,
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
        Statement(Step.COMMIT, "COMMIT"),
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
        shape_query=table_shape_query(domain),
        check_subject=subject,
    )


__all__ = [
    "UndoneLoad",
    "build_undo_plan",
    "loads_of_run_sql",
    "undo_counts_sql",
    "undo_files_sql",
]
