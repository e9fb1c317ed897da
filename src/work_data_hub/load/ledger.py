"""The load ledger ``wdh_loads``: one row per load, written by the plan in the load's transaction.

dlt's ``_dlt_loads`` is the anchor; this one also names the files. The row is an ``INSERT`` in
the plan itself, so a plan applied by psql writes the same row as ``execute=true``, and the
ledger and the table can never disagree. Its counts come from the transaction-local settings
the mode's statements keep (see :mod:`work_data_hub.load.modes`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Protocol

from work_data_hub import __version__
from work_data_hub.config.domains import primary_key_name
from work_data_hub.load.checksum import PLACEHOLDER
from work_data_hub.load.modes import ROWS_DELETED, ROWS_INSERTED
from work_data_hub.load.sql import Statement, literal, quote
from work_data_hub.load.steps import Step
from work_data_hub.load.table_changes import TABLE_CHANGES_SETTING

if TYPE_CHECKING:
    from work_data_hub.config import DomainConfig

LEDGER_TABLE = "wdh_loads"
# The plan's guards add the checks they let through (warnings, accepted errors) to this
# transaction-local setting; the ledger row stores it in ``checks``.
CHECKS_SETTING = "wdh.checks"

LEDGER_COLUMNS: tuple[tuple[str, str], ...] = (
    ("run_id", "text NOT NULL"),
    ("domain", "text NOT NULL"),
    ("table_name", "text NOT NULL"),
    ("mode", "text NOT NULL"),
    ("plan_sha256", "text NOT NULL"),
    ("config_sha256", "text NOT NULL"),
    ("files", "jsonb NOT NULL"),
    ("rows_deleted", "bigint NOT NULL"),
    ("rows_inserted", "bigint NOT NULL"),
    ("committed_at", "timestamp with time zone NOT NULL"),
    ("loaded_by", "text NOT NULL"),
    ("tool_version", "text NOT NULL"),
    # Columns without NOT NULL were added after ledgers existed: a plan adds them if missing.
    # The business checks accepted or warned in the load's transaction, with their numbers.
    ("checks", "jsonb"),
    # The run an undo undid (NULL for a load), and the columns a load added to its table.
    ("undoes_run", "text"),
    ("table_changes", "jsonb"),
)
UNDOES_RUN = "undoes_run"
# Columns a ledger made before them lacks: added (nullable) by the plan that first needs them.
ADDED_LEDGER_COLUMNS = tuple(name for name, kind in LEDGER_COLUMNS if "NOT NULL" not in kind)


@dataclass(frozen=True)
class LoadedFile:
    """One file of a load as the ledger names it: path relative to the inbox, its checksum."""

    path: str
    sha256: str | None
    period: str | None
    rows: int


def config_sha256(domain: DomainConfig) -> str:
    """SHA-256 of the domain's declaration (canonical JSON), so a changed config is visible."""
    declaration = json.dumps(
        domain.model_dump(mode="json", by_alias=True),
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(declaration.encode("utf-8")).hexdigest()


def files_json(files: Sequence[LoadedFile]) -> str:
    return json.dumps([asdict(file) for file in files], ensure_ascii=False)


def _ledger_ddl() -> tuple[str, str]:
    columns = ",\n    ".join(f"{quote(name)} {kind}" for name, kind in LEDGER_COLUMNS)
    return (
        f"CREATE TABLE {quote(LEDGER_TABLE)} (\n    {columns},\n"
        f"    CONSTRAINT {quote(primary_key_name(LEDGER_TABLE))} PRIMARY KEY ({quote('plan_sha256')})\n)",
        f"CREATE INDEX {quote(LEDGER_TABLE + '_domain_idx')} ON {quote(LEDGER_TABLE)} "
        f"({quote('domain')}, {quote('committed_at')})",
    )


def _added_columns() -> str:
    """The columns an older ledger may lack, as two text arrays (name, type) for ``unnest``."""
    kinds = dict(LEDGER_COLUMNS)
    added = [(name, kinds[name]) for name in ADDED_LEDGER_COLUMNS]
    return (
        f"ARRAY[{', '.join(literal(name) for name, _ in added)}]::text[], "
        f"ARRAY[{', '.join(literal(kind) for _, kind in added)}]::text[]"
    )


def create_ledger_statement(lock: int) -> Statement:
    """Create ``wdh_loads`` in the target's schema if it is missing, else check the grants.

    DDL runs only when the table is missing (a loader role without CREATE can use an existing
    ledger); ``lock`` serialises the first loads of different domains, which would otherwise
    race to create it.
    """
    ledger = literal(LEDGER_TABLE)
    create_table, create_index = _ledger_ddl()
    body = f"""
DECLARE
    ledger text := pg_catalog.format('%I.%I', pg_catalog.current_schema(), {ledger});
    missing text;
    added record;
BEGIN
    IF pg_catalog.to_regclass(ledger) IS NULL THEN
        PERFORM pg_catalog.pg_advisory_xact_lock({lock});
    END IF;
    IF pg_catalog.to_regclass(ledger) IS NULL THEN
        BEGIN
            EXECUTE {literal(create_table)};
            EXECUTE {literal(create_index)};
        EXCEPTION WHEN duplicate_table THEN
            NULL;  -- the first load of another domain created it meanwhile
        WHEN insufficient_privilege THEN
            RAISE EXCEPTION 'the load ledger % is missing and role % may not create it',
                ledger, current_user
                USING HINT = pg_catalog.format(
                    'GRANT CREATE ON SCHEMA %I TO %I, or let its owner create it once',
                    pg_catalog.current_schema(), current_user);
        END;
        RETURN;
    END IF;
    SELECT pg_catalog.string_agg(wanted, ', ') INTO missing
    FROM pg_catalog.unnest(ARRAY['SELECT', 'INSERT']) AS wanted
    WHERE NOT pg_catalog.has_table_privilege(ledger, wanted);
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'role % lacks % on the load ledger %', current_user, missing, ledger
            USING HINT = pg_catalog.format('GRANT %s ON %s TO %I', missing, ledger, current_user);
    END IF;
    -- A ledger made before a column was added to it gets the column (NULL in older rows);
    -- only when it is missing, so a loader role that does not own the ledger can still load.
    FOR added IN
        SELECT pg_catalog.format('ALTER TABLE %s ADD COLUMN IF NOT EXISTS %I %s',
            ledger, wanted.name, wanted.kind) AS statement
        FROM unnest({_added_columns()}) AS wanted(name, kind)
        WHERE NOT EXISTS (
            SELECT 1 FROM pg_catalog.pg_attribute
            WHERE attrelid = ledger::regclass AND attname = wanted.name AND NOT attisdropped)
    LOOP
        BEGIN
            EXECUTE added.statement;
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE EXCEPTION 'the load ledger % lacks a column and role % may not add it',
                ledger, current_user
                USING HINT = 'run once as the ledger''s owner: ' || added.statement;
        END;
    END LOOP;
END
"""
    return Statement(Step.CREATE_LEDGER, f"DO $wdh_ledger${body}$wdh_ledger$")


def record_load_statement(
    *,
    run_id: str,
    domain: str,
    table: str,
    mode: str,
    config_sha256: str,
    files: Sequence[LoadedFile] | str,
    undoes_run: str | None = None,
) -> Statement:
    """The ledger row; ``plan_sha256`` is the placeholder until the plan is sealed.

    ``files`` are the loaded files, or a SQL expression computing their JSON in the transaction
    (an undo's, see :mod:`work_data_hub.load.undo`); ``undoes_run`` the run an undo undid.
    """
    counted = [
        f"COALESCE(NULLIF(pg_catalog.current_setting('{setting}', true), '')::bigint, 0)"
        for setting in (ROWS_DELETED, ROWS_INSERTED)
    ]
    values = [
        literal(run_id),
        literal(domain),
        literal(table),
        literal(mode),
        literal(PLACEHOLDER),
        literal(config_sha256),
        files if isinstance(files, str) else f"{literal(files_json(files))}::jsonb",
        *counted,
        "pg_catalog.clock_timestamp()",
        "current_user",
        literal(__version__),
        f"COALESCE(NULLIF(pg_catalog.current_setting({literal(CHECKS_SETTING)}, true), ''), "
        "'[]')::jsonb",
        "NULL" if undoes_run is None else literal(undoes_run),
        f"NULLIF(NULLIF(pg_catalog.current_setting('{TABLE_CHANGES_SETTING}', true), ''), "
        "'[]')::jsonb",
    ]
    names = ", ".join(quote(name) for name, _ in LEDGER_COLUMNS)
    return Statement(
        Step.RECORD_LOAD,
        f"INSERT INTO {quote(LEDGER_TABLE)} ({names})\nVALUES ({', '.join(values)})\n"
        f"RETURNING {quote('rows_deleted')}, {quote('rows_inserted')}, {quote('checks')}",
    )


def newest_loads_sql(schema: str) -> str:
    """Per period, the file the newest committed load of a domain (``%(domain)s``) loaded."""
    ledger = f"{quote(schema)}.{quote(LEDGER_TABLE)}"
    # An undo lists the files whose rows it took out as "undone" (no sha256: nothing of theirs
    # is loaded any more) and those whose rows it brought back as loaded.
    return (
        "SELECT DISTINCT ON (file.period) file.period, file.path, "
        "CASE WHEN file.undone THEN NULL ELSE file.sha256 END, load.run_id, load.committed_at, "
        "file.rows\n"
        f"FROM {ledger} AS load, pg_catalog.jsonb_to_recordset(load.files) "
        "AS file(path text, sha256 text, period text, rows bigint, undone boolean)\n"
        "WHERE load.domain = %(domain)s AND file.period IS NOT NULL\n"
        "ORDER BY file.period, load.committed_at DESC, file.undone IS TRUE"
    )


@dataclass(frozen=True)
class NewestLoad:
    """For one period, the file the newest committed load of a domain loaded, and its run."""

    period: str
    path: str
    sha256: str | None
    run_id: str
    committed_at: str
    # The rows that load inserted from this file (the run report's chart of rows per period).
    rows: int | None = None


class LedgerReader(Protocol):
    """What the ingest pipeline needs of the ledger (the dataset provides it)."""

    def newest_loads(self, domain: str, table: str) -> dict[str, NewestLoad]: ...
