"""The load as data: an ordered list of SQL statements and the rows of its one COPY.

Plan mode writes this list as a psql script and execute mode runs that very file through the
driver, so the two cannot drift. The rows stay where cleaning kept them (one part per file,
see :mod:`work_data_hub.rows`) until the plan file is written, a slice at a time.
Identifiers are quoted by SQLAlchemy's PostgreSQL dialect (no driver is imported); values
travel only inside the COPY rows and as quoted literals of the ledger row.

Safe under any ``search_path``: the first statement pins the transaction's search_path to the
target table's schema (then ``pg_temp``), the stage is always ``pg_temp.<name>``, and messages
name the schema-qualified table. DDL runs only for what is missing, so a loader role with just
the table privileges of its mode can load into existing objects.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import polars as pl

from work_data_hub.config import LINEAGE_COLUMNS, DomainConfig
from work_data_hub.config.business_checks import BusinessCheckResult
from work_data_hub.config.checks import ACCEPT_CHECKS
from work_data_hub.config.domains import primary_key_name, scope_index_name, stage_table
from work_data_hub.load.business_checks import final_results, with_accepted
from work_data_hub.load.checks import (
    BusinessSelect,
    CheckSubject,
    check_queries,
    guard_block,
    guard_sql,
)
from work_data_hub.load.diff import DiffQuery, build_diff_query
from work_data_hub.load.history import (
    copy_to_history_statement,
    create_history_format,
    history_table,
)
from work_data_hub.load.ledger import (
    LEDGER_TABLE,
    LoadedFile,
    config_sha256,
    create_ledger_statement,
    record_load_statement,
)
from work_data_hub.load.modes import (
    LOAD_MODES,
    ROWS_DELETED,
    ROWS_INSERTED,
    LoadTarget,
    replaced_rows,
)
from work_data_hub.load.modes import mode_statements as _mode_statements
from work_data_hub.load.row_diff import RowDiffQuery
from work_data_hub.load.sql import Statement, literal, quote
from work_data_hub.load.steps import Step
from work_data_hub.load.summary import PlanSummary, build_plan_summary
from work_data_hub.load.table_changes import TABLE_CHANGES_SETTING, table_changes_query
from work_data_hub.load.table_changes import table_changes_statement as _table_changes_statement
from work_data_hub.rows import CleanRows

__all__ = ["LoadPlan", "LoadedFile", "Statement", "build_load_plan", "lock_key"]

RUN_ID_PATTERN = re.compile(r"^[0-9A-Za-z_.:-]{1,64}$")
LINEAGE_TYPES = {
    "_source_file": "text NOT NULL",
    "_source_row": "integer NOT NULL",
    "_run_id": "text NOT NULL",
}
# The target's schema-qualified name, as every DO block of the plan computes it.
_QUALIFIED = "pg_catalog.format('%I.%I', pg_catalog.current_schema(), {name})"


@dataclass(frozen=True)
class LoadPlan:
    """Everything needed to apply one domain's load, in order, in one transaction.

    A plan without statements loads nothing: every selected file was already loaded.
    """

    domain: str
    table: str
    mode: str
    run_id: str
    statements: tuple[Statement, ...]
    # The COPY step's rows, in ``copy_columns`` order once written (load.copy_format).
    rows: CleanRows
    copy_columns: tuple[str, ...]
    rows_to_insert: int
    rows_read: int
    rows_rejected: int
    max_reject_ratio: float
    files: tuple[LoadedFile, ...] = field(default_factory=tuple)
    # The SQL types of ``copy_columns`` (the stage's), for the rows' digest (load.rows_digest).
    copy_types: tuple[str, ...] = ()
    # What the plan file's header shows, and the read-only query behind diff=true.
    summary: PlanSummary | None = None
    diff_query: DiffQuery | None = None
    # The read-only query listing the table changes the plan makes (load.table_changes).
    shape_query: str | None = None
    # The row-level difference behind diff=true's review (set by the plan node).
    row_diff_query: RowDiffQuery | None = None
    # What the plan's checks read (its business checks' SELECTs included), for the read-only
    # verdict when the warehouse is read (diff=true, execute=true).
    check_subject: CheckSubject | None = None
    # The domain had nothing to read (docs/contract.md, Discovery): the plan is not written at all.
    no_delivery: bool = False

    @property
    def reject_ratio(self) -> float:
        return self.rows_rejected / self.rows_read if self.rows_read else 0.0

    @property
    def source_files(self) -> tuple[str, ...]:
        return tuple(file.path for file in self.files)

    @property
    def nothing_to_load(self) -> bool:
        return not self.statements


def _do_block(purpose: Step, body: str) -> Statement:
    tag = f"$wdh_{purpose}$"
    if tag in body:
        raise ValueError(f"a name in the domain contains {tag}")
    return Statement(purpose, f"DO {tag}{body}{tag}")


def no_schema_hint(user: str) -> str:
    """What to do when the role's search_path names no existing schema (``user``: the role)."""
    return (
        f"Set the search_path to the warehouse schema: ALTER ROLE {user} SET search_path = "
        "public (your schema), or add ?options=-csearch_path%3Dpublic to WDH_DATABASE__URI."
    )


_HINT_BEFORE_ROLE, _HINT_AFTER_ROLE = no_schema_hint("\x00").split("\x00")


def pin_schema_statement(domain: DomainConfig) -> Statement:
    """Pin this transaction's search_path to the target's schema, then ``pg_temp``.

    The schema is the existing table's, else the one ``CREATE TABLE`` would use. Listing
    ``pg_temp`` last (and naming the stage ``pg_temp.<name>``) means no table of another schema
    can stand in for the target, the ledger or the stage, whatever the role's search_path.
    """
    body = f"""
DECLARE
    target_schema text;
BEGIN
    SELECT namespace.nspname INTO target_schema
    FROM pg_catalog.pg_class AS class
    JOIN pg_catalog.pg_namespace AS namespace ON namespace.oid = class.relnamespace
    WHERE class.oid = pg_catalog.to_regclass({literal(quote(domain.table))})
        AND NOT namespace.nspname LIKE 'pg\\_temp\\_%';
    target_schema := COALESCE(target_schema, pg_catalog.current_schema());
    IF target_schema IS NULL THEN
        RAISE EXCEPTION 'no schema for table %: the search_path of role % (%) names no existing schema',
            {literal(domain.table)}, current_user, pg_catalog.current_setting('search_path')
            USING HINT = {literal(_HINT_BEFORE_ROLE)} || pg_catalog.quote_ident(current_user)
                         || {literal(_HINT_AFTER_ROLE)};
    END IF;
    IF NOT pg_catalog.has_database_privilege(pg_catalog.current_database(), 'TEMPORARY') THEN
        RAISE EXCEPTION 'role % may not create the temporary stage table', current_user
            USING HINT = pg_catalog.format('GRANT TEMPORARY ON DATABASE %I TO %I',
                                           pg_catalog.current_database(), current_user);
    END IF;
    PERFORM pg_catalog.set_config('search_path',
                                  pg_catalog.format('%I, pg_temp', target_schema), true);
    PERFORM pg_catalog.set_config('{ROWS_DELETED}', '0', true);
    PERFORM pg_catalog.set_config('{ROWS_INSERTED}', '0', true);
    PERFORM pg_catalog.set_config('{TABLE_CHANGES_SETTING}', '', true);
END
"""
    return _do_block(Step.PIN_SCHEMA, body)


def create_table_statement(domain: DomainConfig, subject: CheckSubject) -> Statement:
    """Create the table if it is missing, and its history when the plan writes history
    (``subject.history_privileges``); then check the loader's grants on what existed before.
    """
    declared = [f"{quote(name)} {spec.type}" for name, spec in domain.columns.items()]
    lineage = [f"{quote(name)} {LINEAGE_TYPES[name]}" for name in LINEAGE_COLUMNS]
    key = ", ".join(quote(column) for column in domain.unique_key or [])
    constraint = (
        [f"CONSTRAINT {quote(primary_key_name(domain.table))} PRIMARY KEY ({key})"]
        if domain.unique_key
        else []
    )
    create = (
        f"CREATE TABLE {quote(domain.table)} (\n    "
        + ",\n    ".join([*declared, *lineage, *constraint])
        + "\n)"
    )
    history = _QUALIFIED.format(name=literal(history_table(domain.table)))
    create_history = f"""
    -- The history beside it: what this plan deletes or overwrites is copied there first.
    IF pg_catalog.to_regclass({history}) IS NULL THEN
        BEGIN
            EXECUTE pg_catalog.format({literal(create_history_format())}, {history}, target);
        EXCEPTION WHEN duplicate_table THEN
            NULL;
        WHEN insufficient_privilege THEN
            RAISE EXCEPTION 'history table % is missing and role % may not create it',
                {history}, current_user
                USING HINT = pg_catalog.format(
                    'GRANT CREATE ON SCHEMA %I TO %I, or create it once as the table''s owner: ',
                    pg_catalog.current_schema(), current_user) || pg_catalog.format(
                    {literal(create_history_format())}, {history}, target);
        END;
    END IF;"""
    # The checks of this step (the loader's grants) run on a table that existed before.
    body = f"""
DECLARE
    target text := {_QUALIFIED.format(name=literal(domain.table))};
    created boolean := false;
BEGIN
    IF pg_catalog.to_regclass(target) IS NULL THEN
        BEGIN
            EXECUTE {literal(create)};
            created := true;
        EXCEPTION WHEN duplicate_table THEN
            NULL;  -- created meanwhile by a concurrent run (the lock comes first; belt and braces)
        WHEN insufficient_privilege THEN
            RAISE EXCEPTION 'table % is missing and role % may not create it', target, current_user
                USING HINT = pg_catalog.format(
                    'GRANT CREATE ON SCHEMA %I TO %I, or create the table as its owner',
                    pg_catalog.current_schema(), current_user);
        END;
    END IF;{create_history if subject.history_privileges else ""}
    IF NOT created THEN{guard_block(check_queries(subject, step="create_table"))}    END IF;
END
"""
    return _do_block(Step.CREATE_TABLE, body)


def _shape(domain: DomainConfig) -> dict[str, Any]:
    return {
        "table": domain.table,
        "history": history_table(domain.table),
        "declared": {name: spec.type for name, spec in domain.columns.items()},
        "lineage": {name: LINEAGE_TYPES[name].split()[0] for name in LINEAGE_COLUMNS},
    }


def table_changes_statement(domain: DomainConfig) -> Statement:
    """Add the declared columns the table lacks (and to its history); refuse any other change.

    For ``upsert`` the table must also have a unique constraint on exactly the unique_key
    columns, which ``ON CONFLICT`` needs. Runs in the plan, so psql and execute do the same.
    """
    mode = LOAD_MODES[domain.mode]
    return _table_changes_statement(
        **_shape(domain),
        unique_key=(domain.unique_key or ()) if mode.needs_unique_key else (),
        mode=domain.mode,
    )


def table_shape_query(domain: DomainConfig) -> str:
    """The read-only query behind the table-changes step (``diff=true`` and execute read it)."""
    return table_changes_query(**_shape(domain))


def create_scope_index_statement(domain: DomainConfig) -> Statement | None:
    """An index for the delete's scope, created only if missing (None: the key serves)."""
    scope = domain.refresh_scope
    if not scope or not LOAD_MODES[domain.mode].uses_refresh_scope:
        return None
    if (domain.unique_key or [])[: len(scope)] == scope:
        return None  # the primary key's index leads with the scope columns
    name = scope_index_name(domain.table)
    create = (
        f"CREATE INDEX {quote(name)} ON {quote(domain.table)} "
        f"({', '.join(quote(column) for column in scope)})"
    )
    body = f"""
DECLARE
    index_name text := {_QUALIFIED.format(name=literal(name))};
BEGIN
    IF pg_catalog.to_regclass(index_name) IS NULL THEN
        EXECUTE {literal(create)};
    END IF;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE EXCEPTION 'index % is missing and role % may not create it (only the table''s owner can)',
        index_name, current_user
        USING HINT = 'create it once as the owner: ' || {literal(create)};
END
"""
    return _do_block(Step.CREATE_SCOPE_INDEX, body)


def business_check_statement(
    subject: CheckSubject, accepted_checks: Sequence[str]
) -> Statement | None:
    """The domain's business checks, guarding the load (None: the domain has none to run).

    The checks ``accept_checks`` accepted when the plan was made are added to the session's
    ``wdh.accept_checks`` for this transaction, so psql applies the plan as it was reviewed.
    """
    block = guard_block(check_queries(subject, step="business_check"))
    if not subject.business:
        return None
    accept = ""
    if accepted_checks:
        setting = literal(ACCEPT_CHECKS.setting)
        current = f"COALESCE(pg_catalog.current_setting({setting}, true), '')"
        accept = (
            f"\n    PERFORM pg_catalog.set_config({setting}, "
            f"{literal(','.join(accepted_checks))} || ',' || {current}, true);"
        )
    return _do_block(Step.BUSINESS_CHECK, f"\nBEGIN{accept}\n{block}END\n")


def lock_key(table: str) -> int:
    """A stable signed 64-bit advisory-lock key for one target table."""
    digest = hashlib.sha256(f"work_data_hub:{table}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def lock_statement(table: str) -> Statement:
    """Queue behind any other load of the table, and say so (who holds it, since when).

    The NOTICE reaches psql's output and the run's log while the load waits.
    """
    key = lock_key(table)
    unsigned = key & 0xFFFFFFFFFFFFFFFF
    body = f"""
DECLARE
    holder record;
BEGIN
    IF pg_catalog.pg_try_advisory_xact_lock({key}) THEN
        RETURN;
    END IF;
    SELECT activity.pid, activity.usename, activity.application_name, activity.xact_start
    INTO holder
    FROM pg_catalog.pg_locks AS held
    LEFT JOIN pg_catalog.pg_stat_activity AS activity ON activity.pid = held.pid
    WHERE held.locktype = 'advisory' AND held.granted AND held.objsubid = 1
        AND held.classid = {unsigned >> 32} AND held.objid = {unsigned & 0xFFFFFFFF}
    LIMIT 1;
    RAISE NOTICE '%', pg_catalog.format(
        'waiting for the lock on table %s: another load holds it (pid %s, user %s, '
        'application %s, its transaction started %s)', {literal(table)},
        COALESCE(holder.pid::text, 'unknown'), COALESCE(holder.usename::text, 'unknown'),
        COALESCE(NULLIF(holder.application_name, ''), 'unknown'),
        COALESCE(holder.xact_start::text, 'unknown'));
    PERFORM pg_catalog.pg_advisory_xact_lock({key});
END
"""
    return _do_block(Step.LOCK, body)


def opening_statements(
    domain: DomainConfig,
    subject: CheckSubject,
    *,
    scope_index: Statement | None = None,
    staging: Sequence[Statement] = (),
) -> list[Statement]:
    """Every plan's first steps, up to its guard: nothing has changed a row when they end.

    ``staging`` (a load's: its temporary stage, the COPY and the check of the staged rows) comes
    before the guard. No statement before the rows names the plan's own checksum (the guard's
    "already applied" does), so execute can send them, rows included, while the file is being
    written and hashed (see :mod:`work_data_hub.load.psql`).
    """
    return [
        Statement(Step.BEGIN, "BEGIN"),
        # First, so that the catalog lookups below see what a run this one waited for made.
        lock_statement(domain.table),
        pin_schema_statement(domain),
        create_table_statement(domain, subject),
        table_changes_statement(domain),
        *([scope_index] if scope_index else []),
        create_ledger_statement(lock_key(LEDGER_TABLE)),
        *staging,
        # Before any row changes: a plan applied before, or made before a newer load of the
        # domain (and an undo's own checks), stops here (psql too).
        Statement(Step.GUARD, guard_sql(subject)),
    ]


def _loaded_files(rows: CleanRows, files: Sequence[LoadedFile] | None) -> tuple[LoadedFile, ...]:
    if files is not None:
        return tuple(files)
    # Without a manifest (tests, benchmarks) the ledger still names each file and its rows.
    counts = sorted(rows.rows_per_file().items())
    return tuple(LoadedFile(path, None, None, n) for path, n in counts)


def copy_columns(domain: DomainConfig) -> tuple[str, ...]:
    """The columns the plan's COPY stages, in order: the domain's, then the lineage."""
    return (*domain.columns, "_source_file", "_source_row")


def build_load_plan(
    rows: CleanRows | pl.DataFrame,
    domain: DomainConfig,
    *,
    run_id: str,
    rows_read: int,
    rows_rejected: int,
    max_reject_ratio: float,
    files: Sequence[LoadedFile] | None = None,
    created_at: dt.datetime | None = None,
    checks: Sequence[BusinessCheckResult] = (),
    business: Sequence[BusinessSelect] = (),
    accepted_checks: Sequence[str] = (),
) -> LoadPlan:
    """The statements that load ``rows`` into the domain's table by its mode.

    ``files`` are the files the rows come from, as the ledger records them; an empty sequence
    means every selected file was already loaded, and the plan has nothing to do.
    ``created_at`` (default: now) is when the plan was made: its guard refuses it once a load of
    the domain committed later (see :mod:`work_data_hub.load.checks`). ``checks`` are what
    the business checks found in the delivery, ``business`` their SELECTs (the plan's
    ``business_check`` step runs them), ``accepted_checks`` what ``accept_checks`` accepted
    (see :mod:`work_data_hub.load.business_checks`).

    Args:
        rows: The clean rows (a DataFrame is counted by the domain's refresh scope here).
        domain: The target table, its columns and its load mode.
        run_id: The run's id (1-64 letters, digits or ``_.:-``), recorded in every row.
        rows_read: Rows read from the workbooks (the summary and the reject limit).
        rows_rejected: Rows rejected.
        max_reject_ratio: The share of rejected rows an execute run accepts.
        files: The files the rows come from (default: named from the rows).
        created_at: When the plan was made (default: now).
        checks: What the business checks found in the delivery.
        business: The business checks' SELECTs (the plan's ``business_check`` step).
        accepted_checks: What ``accept_checks`` accepted.

    Raises:
        ValueError: ``run_id`` is malformed, the rows were counted for another refresh scope,
            or a name in the domain contains the plan's dollar-quote tag.
    """
    if not RUN_ID_PATTERN.match(run_id):
        raise ValueError(f"run_id {run_id!r} must be 1-64 letters, digits or _.:-")
    if isinstance(rows, pl.DataFrame):
        rows = CleanRows.of(rows, domain.refresh_scope)
    if rows.refresh_scope != tuple(domain.refresh_scope):
        raise ValueError(
            f"the rows' scopes were counted for {list(rows.refresh_scope)}, "
            f"not the domain's refresh_scope {domain.refresh_scope}"
        )
    loaded = _loaded_files(rows, files)
    staged_columns = list(copy_columns(domain))
    staged_types = [
        *(spec.type for spec in domain.columns.values()),
        *(LINEAGE_TYPES[name].split()[0] for name in ("_source_file", "_source_row")),
    ]
    mode = LOAD_MODES[domain.mode]
    summary = build_plan_summary(
        domain=domain.name,
        table=domain.table,
        mode=domain.mode,
        run_id=run_id,
        refresh_scope=domain.refresh_scope,
        refresh_scopes=rows.scopes,
        uses_refresh_scope=mode.uses_refresh_scope,
        files=loaded,
        rows_to_insert=len(rows),
        rows_read=rows_read,
        rows_rejected=rows_rejected,
        created_at=created_at or dt.datetime.now(dt.UTC),
        checks=with_accepted(final_results(checks, business, None), accepted_checks),
        accepted_checks=accepted_checks,
    )
    subject = CheckSubject(
        domain.name, domain.table, domain.mode, summary.created_at, run_id, business=tuple(business)
    )
    plan = LoadPlan(
        domain=domain.name,
        table=domain.table,
        mode=domain.mode,
        run_id=run_id,
        statements=(),
        rows=rows,
        copy_columns=tuple(staged_columns),
        copy_types=tuple(staged_types),
        rows_to_insert=0,
        rows_read=rows_read,
        rows_rejected=rows_rejected,
        max_reject_ratio=max_reject_ratio,
        files=loaded,
        summary=summary,
        shape_query=table_shape_query(domain),
        diff_query=build_diff_query(
            domain,
            unique_key=domain.unique_key,
            refresh_scope=domain.refresh_scope if mode.uses_refresh_scope else [],
        ),
        check_subject=subject,
    )
    if files is not None and not loaded:
        return plan
    stage = f"pg_temp.{quote(stage_table(domain.name))}"
    # A NULL scope or key value would escape the delete (NULL = NULL is not true) and
    # duplicate rows; cleaning rejects such rows, and the stage refuses any that slip through.
    staged_declared = [
        f"{quote(name)} {spec.type}" + (" NOT NULL" if name in domain.non_null_columns else "")
        for name, spec in domain.columns.items()
    ] + [
        f"{quote('_source_file')} text",
        f"{quote('_source_row')} integer",
    ]
    scope_index = create_scope_index_statement(domain)
    # The statements' checks also see the staged columns (the digest of the staged rows).
    staged_subject = replace(subject, staged=tuple(zip(staged_columns, staged_types, strict=True)))
    staging = [
        Statement(
            Step.CREATE_STAGE,
            f"CREATE TEMPORARY TABLE {stage} (\n    "
            + ",\n    ".join(staged_declared)
            + "\n) ON COMMIT DROP",
        ),
        Statement(
            Step.COPY,
            f"COPY {stage} ({', '.join(quote(c) for c in staged_columns)}) FROM STDIN",
            copy_rows=True,
        ),
        # The staged rows are the rows the plan declares (its digest, written after the rows),
        # or the plan was edited: psql refuses it here too, before any row changes.
        Statement(Step.CHECK_ROWS, guard_sql(staged_subject, step="copy")),
    ]
    statements = opening_statements(domain, subject, scope_index=scope_index, staging=staging)
    business_step = business_check_statement(replace(subject, rows_staged=True), accepted_checks)
    # After the COPY, before any row changes: a refused check rolls everything back.
    statements += [business_step] if business_step else []
    target = LoadTarget(
        table=quote(domain.table),
        stage=stage,
        columns=tuple(staged_columns),
        run_id=run_id,
        unique_key=tuple(domain.unique_key or ()),
        refresh_scope=tuple(domain.refresh_scope),
    )
    replaced = replaced_rows(domain.mode, target)
    if replaced is not None:
        # Before any row changes: what the mode is about to delete or overwrite, exactly.
        statements.append(
            copy_to_history_statement(
                history=quote(history_table(domain.table)),
                columns=[*staged_columns, "_run_id"],
                replaced=replaced,
                run_id=run_id,
            )
        )
    statements += _mode_statements(domain.mode, target)
    statements += [
        record_load_statement(
            run_id=run_id,
            domain=domain.name,
            table=domain.table,
            mode=domain.mode,
            config_sha256=config_sha256(domain),
            files=loaded,
        ),
        Statement(Step.COMMIT, "COMMIT"),
    ]
    return LoadPlan(
        **{
            **plan.__dict__,
            "statements": tuple(statements),
            "rows_to_insert": len(rows),
        }
    )
