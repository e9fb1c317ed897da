"""``diff=true``: what a plan would change, asked of the warehouse in one read-only query.

Pure: builds the query and reads its answer; the dataset runs it in a ``READ ONLY``
transaction. A read-only transaction may not create even a temporary table, so the plan's rows
travel as one text array per column (``unnest``), taken from the clean rows
(``CleanRows.text_columns``, the text COPY sends), and PostgreSQL casts them to the declared
types, comparing values exactly as the load would store them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from work_data_hub.config import DomainConfig
from work_data_hub.load.row_diff import STAGE
from work_data_hub.load.sql import literal, quote
from work_data_hub.load.summary import PlanDiff

STAGED = f"pg_temp.{quote(STAGE)}"


@dataclass(frozen=True)
class DiffQuery:
    """The read-only query for one domain, and which columns of the rows feed its arrays."""

    table: str
    sql: str
    payload_columns: tuple[str, ...]
    keyed: bool
    # The same counts read from the plan's rows staged by COPY (load.row_diff.STAGE).
    staged_sql: str = ""

    @property
    def table_check(self) -> str:
        """Whether the table exists (then ``sql`` can run)."""
        return f"SELECT to_regclass({literal(quote(self.table))}) IS NOT NULL"

    def answer(self, row: Sequence[int | None], rows_to_insert: int) -> PlanDiff:
        """The query's one row as a :class:`PlanDiff`."""
        deleted, new, changed, unchanged, disappearing = (int(value or 0) for value in row)
        if not self.keyed:
            return PlanDiff(rows_to_delete=deleted, rows_to_insert=rows_to_insert)
        return PlanDiff(deleted, rows_to_insert, new, changed, unchanged, disappearing)

    def answer_without_table(self, rows_to_insert: int) -> PlanDiff:
        if not self.keyed:
            return PlanDiff(0, rows_to_insert, table_exists=False)
        return PlanDiff(0, rows_to_insert, rows_to_insert, 0, 0, 0, table_exists=False)


def build_diff_query(
    domain: DomainConfig,
    *,
    unique_key: list[str] | None,
    refresh_scope: list[str],
) -> DiffQuery:
    """Counts rows_to_delete and, with a unique key, keys new / changed / unchanged / gone.

    ``refresh_scope`` is empty for a mode that replaces nothing (then nothing is deleted).

    Its parameters are one ``text[]`` per data column, in ``payload_columns`` order, taken
    from the plan's rows.

    Args:
        domain: The target table and its columns.
        unique_key: The key that tells new, changed, unchanged and gone rows apart, if any.
        refresh_scope: The refresh-scope columns the mode replaces by (empty: none).
    """
    data_columns = list(domain.columns)
    typed = ", ".join(
        f"new_text.{quote(f'c{position}')}::{spec.type} AS {quote(name)}"
        for position, (name, spec) in enumerate(domain.columns.items())
    )
    arrays = ", ".join("%s::text[]" for _ in data_columns)
    names = ", ".join(quote(f"c{position}") for position in range(len(data_columns)))
    table = quote(domain.table)
    if refresh_scope:
        scope_columns = ", ".join(quote(column) for column in refresh_scope)
        replaced = (
            f"SELECT target.* FROM {table} AS target "
            f"JOIN (SELECT DISTINCT {scope_columns} FROM new) AS scope USING ({scope_columns})"
        )
    else:
        replaced = f"SELECT * FROM {table} WHERE false"
    parts = [
        f"WITH new AS (SELECT {typed} FROM unnest({arrays}) AS new_text({names})),",
        f"replaced AS ({replaced})",
        "SELECT (SELECT count(*) FROM replaced) AS rows_to_delete",
    ]
    if unique_key:
        keys = ", ".join(quote(column) for column in unique_key)
        compared = [column for column in data_columns if column not in unique_key]
        differs = (
            "ROW("
            + ", ".join(f"new.{quote(c)}" for c in compared)
            + ") IS DISTINCT FROM ROW("
            # Read through to_jsonb: a declared column the table lacks yet (a table change
            # the plan makes) reads as NULL instead of failing the query.
            + ", ".join(
                f"(pg_catalog.to_jsonb(target) ->> {literal(c)})::{domain.columns[c].type}"
                for c in compared
            )
            + ")"
            if compared
            else "false"
        )
        parts += [
            f", (SELECT count(*) FROM new WHERE NOT EXISTS "
            f"(SELECT 1 FROM {table} AS target WHERE {_same(unique_key)})) AS keys_new",
            f", (SELECT count(*) FROM new JOIN {table} AS target USING ({keys}) "
            f"WHERE {differs}) AS keys_changed",
            f", (SELECT count(*) FROM new JOIN {table} AS target USING ({keys}) "
            f"WHERE NOT ({differs})) AS keys_unchanged",
            f", (SELECT count(*) FROM replaced AS target WHERE NOT EXISTS "
            f"(SELECT 1 FROM new WHERE {_same(unique_key)})) AS keys_disappearing",
        ]
    else:
        parts.append(", NULL, NULL, NULL, NULL")
    staged = f"WITH new AS (SELECT {', '.join(quote(c) for c in data_columns)} FROM {STAGED}),"
    return DiffQuery(
        table=domain.table,
        staged_sql="\n".join([staged, *parts[1:]]),
        sql="\n".join(parts),
        payload_columns=tuple(data_columns),
        keyed=bool(unique_key),
    )


def _same(columns: list[str]) -> str:
    return " AND ".join(f"target.{quote(c)} = new.{quote(c)}" for c in columns)


__all__ = ["DiffQuery", "build_diff_query"]
