"""The load modes: one function per mode returning its statements, registered by name.

As in dlt's ``sql_jobs.py`` (one SQL generator per load strategy), a mode is nothing but the
statements that move the staged rows into the target table. ``data_sources.yml`` accepts a
``mode:`` only if it is registered here, so a mode without a function cannot exist.

Adding a mode touches this module (and its test) only::

    @register_load_mode("insert_new", privileges=("SELECT", "INSERT"), needs_unique_key=True)
    def insert_new(target: LoadTarget) -> list[Statement]:
        return [insert_statement(target, conflict="DO NOTHING")]

Each mode's statements record what they changed in the transaction-local settings
``wdh.rows_deleted`` and ``wdh.rows_inserted``, which the ledger row reads (so a plan applied
by psql records the same counts as execute).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from work_data_hub.config.modes import LOAD_MODES, declare_load_mode
from work_data_hub.load.sql import Statement, quote
from work_data_hub.load.steps import Step

ROWS_DELETED = "wdh.rows_deleted"
ROWS_INSERTED = "wdh.rows_inserted"


@dataclass(frozen=True)
class LoadTarget:
    """What a mode's statements need: quoted names and the column roles, no values."""

    table: str
    stage: str
    columns: tuple[str, ...]
    run_id: str
    unique_key: tuple[str, ...] = ()
    refresh_scope: tuple[str, ...] = ()


ModeStatements = Callable[[LoadTarget], list[Statement]]
# A ``FROM`` clause naming ``target`` the table rows a mode is about to delete or overwrite.
ReplacedRows = Callable[[LoadTarget], str]


_STATEMENTS: dict[str, ModeStatements] = {}
_REPLACED: dict[str, ReplacedRows] = {}


def register_load_mode(
    name: str,
    *,
    privileges: tuple[str, ...] | None = None,
    needs_unique_key: bool = False,
    uses_refresh_scope: bool = False,
    replaced: ReplacedRows | None = None,
) -> Callable[[ModeStatements], ModeStatements]:
    """Register ``function`` as the statements of mode ``name`` (see the module docstring).

    A mode declared in :mod:`work_data_hub.config.modes` is registered by name alone; given
    ``privileges`` (the table privileges the loader role needs on an existing target), this
    declares the mode too. ``replaced`` selects the rows the mode deletes or overwrites: the
    plan copies them into the table's history first (a mode declared ``keeps_history``).

    Raises:
        ValueError: The mode is registered twice, or neither declared nor given privileges.
    """
    if name in _STATEMENTS:
        raise ValueError(f"load mode {name!r} is registered twice")
    if privileges is not None:
        declare_load_mode(
            name,
            privileges=privileges,
            needs_unique_key=needs_unique_key,
            uses_refresh_scope=uses_refresh_scope,
            keeps_history=replaced is not None,
        )
    elif name not in LOAD_MODES:
        raise ValueError(f"load mode {name!r} is not declared in work_data_hub.config.modes")

    def register(function: ModeStatements) -> ModeStatements:
        _STATEMENTS[name] = function
        if replaced is not None:
            _REPLACED[name] = replaced
        return function

    return register


def mode_statements(name: str, target: LoadTarget) -> list[Statement]:
    """The statements of mode ``name`` (config validation has refused unregistered names)."""
    return _STATEMENTS[name](target)


def replaced_rows(name: str, target: LoadTarget) -> str | None:
    """The rows mode ``name`` is about to delete or overwrite (None: it replaces none)."""
    replaced = _REPLACED.get(name)
    return replaced(target) if replaced else None


def counted(step: Step, modifying_sql: str, setting: str) -> Statement:
    """``modifying_sql`` (a DELETE or INSERT) with its row count kept in ``setting``.

    Counted by ``GET DIAGNOSTICS`` in a DO block rather than ``RETURNING`` into a CTE, which
    collects a row per changed row (7% of a 500k-row insert).
    """
    tag = f"$wdh_{step}$"
    if tag in modifying_sql:
        raise ValueError(f"a name in the domain contains {tag}")
    return Statement(
        step,
        f"DO {tag}\nDECLARE\n    changed bigint;\nBEGIN\n{modifying_sql};\n"
        "    GET DIAGNOSTICS changed = ROW_COUNT;\n"
        f"    PERFORM pg_catalog.set_config('{setting}', changed::text, true);\nEND\n{tag}",
    )


def insert_statement(target: LoadTarget, *, conflict: str = "") -> Statement:
    """Every staged row into the target, stamped with the run id, in source order.

    No ORDER BY: the stage is a temporary table filled by one COPY in source order, and
    PostgreSQL scans a temporary table from its first block, never in parallel nor joined to
    another scan midway (synchronized scans are for shared tables), so rows come out as they
    went in. Sorting 500k rows cost a third of the insert.
    """
    columns = [*target.columns, "_run_id"]
    selected = ", ".join(quote(column) for column in target.columns)
    sql = (
        f"INSERT INTO {target.table} ({', '.join(quote(c) for c in columns)})\n"
        f"SELECT {selected}, '{target.run_id}' FROM {target.stage}"
    )
    if conflict:
        sql += f"\n{conflict}"
    return counted(Step.INSERT, sql, ROWS_INSERTED)


def _matches(columns: tuple[str, ...], other: str) -> str:
    return " AND ".join(f"target.{quote(column)} = {other}.{quote(column)}" for column in columns)


def _scopes(target: LoadTarget) -> str:
    scope = ", ".join(quote(column) for column in target.refresh_scope)
    return f"(SELECT DISTINCT {scope} FROM {target.stage}) AS scope"


def rows_in_scope(target: LoadTarget) -> str:
    """The target rows whose refresh-scope values occur among the staged rows."""
    return (
        f"{target.table} AS target JOIN {_scopes(target)} "
        f"ON {_matches(target.refresh_scope, 'scope')}"
    )


def rows_with_staged_keys(target: LoadTarget) -> str:
    """The target rows whose unique key a staged row has (the rows an upsert overwrites)."""
    return (
        f"{target.table} AS target JOIN {target.stage} AS new "
        f"ON {_matches(target.unique_key, 'new')}"
    )


def delete_scope_statement(target: LoadTarget) -> Statement:
    """Delete every target row whose refresh-scope values occur among the staged rows.

    Set-based against the stage, so 100k scope combinations cost one join, not an IN list.
    """
    sql = (
        f"DELETE FROM {target.table} AS target "
        f"USING {_scopes(target)} WHERE {_matches(target.refresh_scope, 'scope')}"
    )
    return counted(Step.DELETE, sql, ROWS_DELETED)


@register_load_mode("delete_insert", replaced=rows_in_scope)
def delete_insert(target: LoadTarget) -> list[Statement]:
    """Replace every refresh-scope combination present in the new rows, then insert them."""
    return [delete_scope_statement(target), insert_statement(target)]


@register_load_mode("append")
def append(target: LoadTarget) -> list[Statement]:
    """Insert only; the same file appended twice is there twice (the ledger skips reruns)."""
    return [insert_statement(target)]


@register_load_mode("upsert", replaced=rows_with_staged_keys)
def upsert(target: LoadTarget) -> list[Statement]:
    """Insert, or update the row with the same unique key (``ON CONFLICT ... DO UPDATE``)."""
    key = set(target.unique_key)
    updates = ", ".join(
        f"{quote(column)} = EXCLUDED.{quote(column)}"
        for column in [*target.columns, "_run_id"]
        if column not in key
    )
    conflict = (
        f"ON CONFLICT ({', '.join(quote(c) for c in target.unique_key)}) DO UPDATE SET {updates}"
    )
    return [insert_statement(target, conflict=conflict)]


_undefined = sorted(set(LOAD_MODES) - set(_STATEMENTS))
if _undefined:
    raise RuntimeError(f"declared load mode(s) without statements in load/modes.py: {_undefined}")
_no_history = sorted(
    name for name, mode in LOAD_MODES.items() if mode.keeps_history != (name in _REPLACED)
)
if _no_history:
    raise RuntimeError(
        f"load mode(s) {_no_history}: declared keeps_history, and no replaced rows registered "
        "in load/modes.py (or the other way round)"
    )

__all__ = [
    "LOAD_MODES",
    "ROWS_DELETED",
    "ROWS_INSERTED",
    "LoadTarget",
    "counted",
    "insert_statement",
    "mode_statements",
    "register_load_mode",
    "replaced_rows",
]
