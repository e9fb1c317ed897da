"""The load as data: an ordered list of SQL statements and one COPY payload.

Plan mode renders this list as a psql script and execute mode runs the very same list through
the driver, so the two cannot drift. Identifiers are quoted by SQLAlchemy's PostgreSQL dialect
(no driver is imported); values travel only inside the COPY payload.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

import polars as pl

from work_data_hub.config import LINEAGE_COLUMNS, DomainConfig
from work_data_hub.load.copy_format import copy_text
from work_data_hub.load.sql import literal, quote, text_array

_RUN_ID = re.compile(r"^[0-9A-Za-z_.:-]{1,64}$")
_LINEAGE_TYPES = {
    "_source_file": "text NOT NULL",
    "_source_row": "integer NOT NULL",
    "_run_id": "text NOT NULL",
}


@dataclass(frozen=True)
class Statement:
    """One step of the load. ``copy_rows`` marks the COPY whose payload is the plan's rows."""

    purpose: str
    sql: str
    copy_rows: bool = False


@dataclass(frozen=True)
class LoadPlan:
    """Everything needed to apply one domain's load, in order, in one transaction."""

    domain: str
    table: str
    mode: str
    run_id: str
    statements: tuple[Statement, ...]
    copy_payload: bytes
    rows_to_insert: int
    rows_read: int
    rows_rejected: int
    max_reject_ratio: float
    source_files: tuple[str, ...] = field(default_factory=tuple)

    @property
    def reject_ratio(self) -> float:
        return self.rows_rejected / self.rows_read if self.rows_read else 0.0


def check_table_statement(domain: DomainConfig) -> Statement:
    """Fail, naming them, when an existing table lacks a declared column or has another type.

    The load never alters a table: a table made by hand or by an older ``data_sources.yml``
    must be fixed by a person. For ``upsert`` the table must also have a unique constraint on
    exactly the pk columns, which ``ON CONFLICT`` needs. Runs in the plan too, so psql and
    execute fail the same way.
    """
    declared = {name: spec.type for name, spec in domain.columns.items()}
    declared.update({name: _LINEAGE_TYPES[name].split()[0] for name in LINEAGE_COLUMNS})
    target = f"to_regclass({literal(quote(domain.table))})"
    body = f"""
DECLARE
    target regclass := {target};
    problems text;
BEGIN
    SELECT string_agg(
        CASE WHEN found.atttypid IS NULL
            THEN format('column %I is missing (declared %s)', wanted.name, wanted.type)
            ELSE format('column %I is %s, declared %s', wanted.name,
                        format_type(found.atttypid, found.atttypmod), wanted.type)
        END, '; ' ORDER BY wanted.position)
    INTO problems
    FROM unnest({text_array(list(declared))}, {text_array(list(declared.values()))})
        WITH ORDINALITY AS wanted(name, type, position)
    LEFT JOIN pg_attribute AS found
        ON found.attrelid = target AND found.attname = wanted.name
        AND found.attnum > 0 AND NOT found.attisdropped
    WHERE found.atttypid IS NULL OR format_type(found.atttypid, found.atttypmod) <> wanted.type;
    IF problems IS NOT NULL THEN
        RAISE EXCEPTION 'table % does not match data_sources.yml: %', target, problems
            USING HINT = 'WorkDataHub never alters a table: change the table (ALTER TABLE) '
                         'or the domain''s columns, then run again';
    END IF;"""
    if domain.mode == "upsert":
        body += f"""
    IF NOT EXISTS (
        SELECT 1 FROM pg_index AS unique_index
        WHERE unique_index.indrelid = target AND unique_index.indisunique
            AND unique_index.indpred IS NULL AND unique_index.indexprs IS NULL
            AND ARRAY(
                SELECT attname::text FROM pg_attribute
                WHERE attrelid = target AND attnum = ANY(unique_index.indkey) ORDER BY 1
            ) = ARRAY(SELECT unnest({text_array(domain.pk)}) ORDER BY 1)
    ) THEN
        RAISE EXCEPTION 'table % has no unique constraint on its pk (%), which upsert needs',
            target, {literal(", ".join(domain.pk))}
            USING HINT = 'WorkDataHub never alters a table: add the constraint '
                         '(ALTER TABLE ... ADD PRIMARY KEY) and run again';
    END IF;"""
    body += "\nEND\n"
    tag = "$wdh_check$"
    if tag in body:
        raise ValueError(f"domain {domain.name!r}: a name contains {tag}")
    return Statement("check_table", f"DO {tag}{body}{tag}")


def lock_key(table: str) -> int:
    """A stable signed 64-bit advisory-lock key for one target table."""
    digest = hashlib.sha256(f"work_data_hub:{table}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def build_load_plan(
    rows: pl.DataFrame,
    domain: DomainConfig,
    *,
    run_id: str,
    rows_read: int,
    rows_rejected: int,
    max_reject_ratio: float,
) -> LoadPlan:
    """The statements that load ``rows`` into the domain's table by its mode."""
    if not _RUN_ID.match(run_id):
        raise ValueError(f"run_id {run_id!r} must be 1-64 letters, digits or _.:-")
    table = quote(domain.table)
    stage = quote(f"wdh_stage_{domain.name}")
    data_columns = list(domain.columns)
    staged_columns = [*data_columns, "_source_file", "_source_row"]
    declared = [f"{quote(name)} {spec.type}" for name, spec in domain.columns.items()]
    lineage = [f"{quote(name)} {_LINEAGE_TYPES[name]}" for name in LINEAGE_COLUMNS]
    pk = ", ".join(quote(column) for column in domain.pk)
    constraint = (
        [f"CONSTRAINT {quote(domain.table + '_pk')} PRIMARY KEY ({pk})"] if domain.unique_pk else []
    )
    statements = [
        Statement("begin", "BEGIN"),
        Statement("lock", f"SELECT pg_advisory_xact_lock({lock_key(domain.table)})"),
        Statement(
            "create_table",
            f"CREATE TABLE IF NOT EXISTS {table} (\n    "
            + ",\n    ".join([*declared, *lineage, *constraint])
            + "\n)",
        ),
        check_table_statement(domain),
    ]
    if not domain.unique_pk:
        statements.append(
            Statement(
                "create_scope_index",
                f"CREATE INDEX IF NOT EXISTS {quote(domain.table + '_scope_idx')} ON {table} ({pk})",
            )
        )
    # A NULL key would escape the delete scope (NULL = NULL is not true) and duplicate rows;
    # cleaning rejects such rows, and the stage refuses any that slip through.
    staged_declared = [
        f"{quote(name)} {spec.type}" + (" NOT NULL" if name in domain.pk else "")
        for name, spec in domain.columns.items()
    ] + [
        f"{quote('_source_file')} text",
        f"{quote('_source_row')} integer",
    ]
    statements += [
        Statement(
            "create_stage",
            f"CREATE TEMPORARY TABLE {stage} (\n    "
            + ",\n    ".join(staged_declared)
            + "\n) ON COMMIT DROP",
        ),
        Statement(
            "copy",
            f"COPY {stage} ({', '.join(quote(c) for c in staged_columns)}) FROM STDIN",
            copy_rows=True,
        ),
    ]
    if domain.mode == "delete_insert":
        matches = " AND ".join(f"target.{quote(c)} = scope.{quote(c)}" for c in domain.pk)
        statements.append(
            Statement(
                "delete",
                f"DELETE FROM {table} AS target USING (SELECT DISTINCT {pk} FROM {stage}) AS scope "
                f"WHERE {matches}",
            )
        )
    target_columns = ", ".join(quote(c) for c in [*staged_columns, "_run_id"])
    selected = ", ".join(quote(c) for c in staged_columns)
    insert = (
        f"INSERT INTO {table} ({target_columns})\n"
        f"SELECT {selected}, '{run_id}' FROM {stage} ORDER BY {quote('_source_file')}, {quote('_source_row')}"
    )
    if domain.mode == "upsert":
        updates = ", ".join(
            f"{quote(c)} = EXCLUDED.{quote(c)}"
            for c in [*staged_columns, "_run_id"]
            if c not in domain.pk
        )
        insert += f"\nON CONFLICT ({pk}) DO UPDATE SET {updates}"
    statements += [Statement("insert", insert), Statement("commit", "COMMIT")]
    return LoadPlan(
        domain=domain.name,
        table=domain.table,
        mode=domain.mode,
        run_id=run_id,
        statements=tuple(statements),
        copy_payload=copy_text(rows, staged_columns),
        rows_to_insert=len(rows),
        rows_read=rows_read,
        rows_rejected=rows_rejected,
        max_reject_ratio=max_reject_ratio,
        source_files=tuple(sorted(rows["_source_file"].unique().to_list())) if len(rows) else (),
    )
