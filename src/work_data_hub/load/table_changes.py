"""Table changes: a declared column the table lacks is added by the plan; nothing else is altered.

One read-only query compares the declaration with the table (and its history) and returns one
row per change: ``add`` (an ``ALTER TABLE ... ADD COLUMN`` the plan runs, to the table and to
its history) or ``refuse`` (a column retyped, a column the declaration dropped, a lineage column
missing: nothing is altered, and the message carries the SQL a DBA would run). The plan's
``table_changes`` step loops over that query inside the load's transaction; ``diff=true`` runs
the same query read-only, so the plan summary lists the same changes the plan will make.
What the step added is kept in the transaction-local setting ``wdh.table_changes`` (JSON), which
the ledger row records.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from work_data_hub.load.sql import Statement, literal, quote, text_array
from work_data_hub.load.steps import Step

TABLE_CHANGES_SETTING = "wdh.table_changes"
ADD = "add"
REFUSE = "refuse"
_TAG = "$wdh_table_changes$"


@dataclass(frozen=True)
class TableChange:
    """One column the plan adds: to which table (schema-qualified), its type, the statement."""

    table: str
    column: str
    type: str
    sql: str


@dataclass(frozen=True)
class TableShape:
    """What the table-changes query found: the additions and the refusals (their messages)."""

    additions: tuple[TableChange, ...] = ()
    refusals: tuple[str, ...] = ()
    fixes: tuple[str, ...] = ()

    @classmethod
    def from_rows(cls, rows: Sequence[Sequence[Any]]) -> TableShape:
        """The query's rows: ``action, table_name, column_name, column_type, statement, message``."""
        additions = tuple(
            TableChange(table, column, kind, statement)
            for action, table, column, kind, statement, _ in rows
            if action == ADD
        )
        refused = [
            (statement, message) for action, *_, statement, message in rows if action == REFUSE
        ]
        return cls(
            additions,
            tuple(message for _, message in refused),
            tuple(statement for statement, _ in refused),
        )


def table_changes_query(
    *, table: str, history: str, declared: Mapping[str, str], lineage: Mapping[str, str]
) -> str:
    """The read-only query comparing ``declared`` and ``lineage`` columns (name -> type) with
    ``table`` and its ``history`` (unquoted names; the history is looked up in the table's schema).
    """
    names = [*declared, *lineage]
    kinds = [*declared.values(), *lineage.values()]
    flags = (
        "ARRAY[" + ", ".join(["false"] * len(declared) + ["true"] * len(lineage)) + "]::boolean[]"
    )
    # Multi-argument unnest is FROM-clause syntax: it cannot be schema-qualified.
    return f"""WITH wanted AS (
    SELECT * FROM unnest({text_array(names)}, {text_array(kinds)}, {flags})
        WITH ORDINALITY AS wanted(name, type, lineage, position)
), target AS (
    SELECT class.oid AS relation, class.relnamespace AS namespace,
        pg_catalog.format('%I.%I', namespace.nspname, class.relname) AS name,
        pg_catalog.format('%I.%I', namespace.nspname, {literal(history)}) AS history_name
    FROM pg_catalog.pg_class AS class
    JOIN pg_catalog.pg_namespace AS namespace ON namespace.oid = class.relnamespace
    WHERE class.oid = pg_catalog.to_regclass({literal(quote(table))})
), history AS (
    SELECT class.oid AS relation FROM pg_catalog.pg_class AS class JOIN target
        ON class.relnamespace = target.namespace AND class.relname = {literal(history)}
), found AS (
    SELECT attribute.attname::text AS name, attribute.attnum AS position,
        pg_catalog.format_type(attribute.atttypid, attribute.atttypmod) AS type
    FROM pg_catalog.pg_attribute AS attribute JOIN target ON attribute.attrelid = target.relation
    WHERE attribute.attnum > 0 AND NOT attribute.attisdropped
), kept AS (
    SELECT attribute.attname::text AS name,
        pg_catalog.format_type(attribute.atttypid, attribute.atttypmod) AS type
    FROM pg_catalog.pg_attribute AS attribute JOIN history ON attribute.attrelid = history.relation
    WHERE attribute.attnum > 0 AND NOT attribute.attisdropped
), expected AS (
    -- The table's columns once the additions are made, typed as declared.
    SELECT name, COALESCE(wanted.type, found.type) AS type,
        COALESCE(wanted.position, 10000 + found.position) AS position
    FROM wanted FULL JOIN found USING (name)
    WHERE found.name IS NOT NULL OR NOT wanted.lineage
), change AS (
    SELECT {literal(REFUSE)} AS action, target.name AS table_name, wanted.name AS column_name,
        wanted.type AS column_type,
        pg_catalog.format('ALTER TABLE %s ALTER COLUMN %I TYPE %s USING %I::%s',
            target.name, wanted.name, wanted.type, wanted.name, wanted.type)
        || COALESCE((SELECT pg_catalog.format('; ALTER TABLE %s ALTER COLUMN %I TYPE %s USING %I::%s',
            target.history_name, wanted.name, wanted.type, wanted.name, wanted.type)
            FROM kept WHERE kept.name = wanted.name), '') AS statement,
        pg_catalog.format('column %I is %s, declared %s', wanted.name, found.type, wanted.type)
            AS message,
        wanted.position
    FROM wanted JOIN found USING (name) CROSS JOIN target
    WHERE found.type <> wanted.type
    UNION ALL
    SELECT {literal(REFUSE)}, target.name, wanted.name, wanted.type,
        pg_catalog.format('ALTER TABLE %s ADD COLUMN %I %s', target.name, wanted.name, wanted.type),
        pg_catalog.format('lineage column %I is missing', wanted.name), wanted.position
    FROM wanted CROSS JOIN target
    WHERE wanted.lineage AND NOT EXISTS (SELECT 1 FROM found WHERE found.name = wanted.name)
    UNION ALL
    SELECT {literal(REFUSE)}, target.name, found.name, found.type,
        pg_catalog.format('ALTER TABLE %s DROP COLUMN %I', target.name, found.name),
        pg_catalog.format('column %I (%s) is in the table and no longer declared',
            found.name, found.type),
        10000 + found.position
    FROM found CROSS JOIN target
    WHERE NOT EXISTS (SELECT 1 FROM wanted WHERE wanted.name = found.name)
    UNION ALL
    SELECT {literal(REFUSE)}, target.history_name, kept.name, expected.type,
        pg_catalog.format('ALTER TABLE %s ALTER COLUMN %I TYPE %s USING %I::%s',
            target.history_name, kept.name, expected.type, kept.name, expected.type),
        pg_catalog.format('history column %I is %s, the table''s is %s',
            kept.name, kept.type, expected.type),
        expected.position
    FROM kept JOIN expected USING (name) CROSS JOIN target
    WHERE kept.type <> expected.type
        AND NOT EXISTS (SELECT 1 FROM wanted JOIN found USING (name)
                        WHERE wanted.name = kept.name AND found.type <> wanted.type)
    UNION ALL
    SELECT {literal(ADD)}, target.name, wanted.name, wanted.type,
        pg_catalog.format('ALTER TABLE %s ADD COLUMN %I %s', target.name, wanted.name, wanted.type),
        pg_catalog.format('column %I (%s) is declared and the table lacks it',
            wanted.name, wanted.type),
        wanted.position
    FROM wanted CROSS JOIN target
    WHERE NOT wanted.lineage AND NOT EXISTS (SELECT 1 FROM found WHERE found.name = wanted.name)
    UNION ALL
    SELECT {literal(ADD)}, target.history_name, expected.name, expected.type,
        pg_catalog.format('ALTER TABLE %s ADD COLUMN %I %s',
            target.history_name, expected.name, expected.type),
        pg_catalog.format('history column %I (%s) is missing', expected.name, expected.type),
        20000 + expected.position
    FROM expected CROSS JOIN target CROSS JOIN history
    WHERE NOT EXISTS (SELECT 1 FROM kept WHERE kept.name = expected.name)
)
SELECT action, table_name, column_name, column_type, statement, message FROM change
ORDER BY action DESC, position"""


def table_changes_statement(
    *,
    table: str,
    history: str,
    declared: Mapping[str, str],
    lineage: Mapping[str, str],
    unique_key: Sequence[str] = (),
    mode: str = "",
) -> Statement:
    """The plan's step: refuse what a person must change, else add the missing columns.

    With ``unique_key`` (``upsert``) the table must also have a unique constraint on exactly
    those columns, which ``ON CONFLICT`` needs. Does nothing when the table was just created.
    """
    query = table_changes_query(table=table, history=history, declared=declared, lineage=lineage)
    body = f"""
DECLARE
    target_name text := pg_catalog.format('%I.%I', pg_catalog.current_schema(), {literal(table)});
    change record;
    refusals text[] := '{{}}';
    fixes text[] := '{{}}';
    additions text[] := '{{}}';
    changes jsonb := '[]'::jsonb;
    addition text;
BEGIN
    FOR change IN {query}
    LOOP
        IF change.action = {literal(REFUSE)} THEN
            refusals := refusals || change.message;
            fixes := fixes || (change.statement || ';');
        ELSE
            additions := additions || change.statement;
            changes := changes || pg_catalog.jsonb_build_object('table', change.table_name,
                'column', change.column_name, 'type', change.column_type,
                'sql', change.statement);
        END IF;
    END LOOP;
    IF pg_catalog.cardinality(refusals) > 0 THEN
        RAISE EXCEPTION 'table % does not match data_sources.yml: %', target_name,
            pg_catalog.array_to_string(refusals, '; ') ||
            CASE WHEN pg_catalog.cardinality(additions) > 0
                THEN '; once fixed, the load adds: ' || pg_catalog.array_to_string(additions, '; ')
                ELSE '' END
            USING HINT = 'WorkDataHub adds a declared column a table lacks and alters nothing '
                         'else. As the table''s owner run: '
                         || pg_catalog.array_to_string(fixes, ' ')
                         || ' or change the domain''s columns back; then run again';
    END IF;
    FOREACH addition IN ARRAY additions
    LOOP
        BEGIN
            EXECUTE addition;
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE EXCEPTION 'table % lacks a declared column and role % may not alter it',
                target_name, current_user
                USING HINT = 'only the table''s owner can add it: ' || addition;
        END;
    END LOOP;
    PERFORM pg_catalog.set_config({literal(TABLE_CHANGES_SETTING)}, changes::text, true);"""
    if unique_key:
        body += f"""
    IF NOT EXISTS (
        SELECT 1 FROM pg_catalog.pg_index AS unique_index
        WHERE unique_index.indrelid = target_name::regclass AND unique_index.indisunique
            AND unique_index.indpred IS NULL AND unique_index.indexprs IS NULL
            AND ARRAY(
                SELECT attname::text FROM pg_catalog.pg_attribute
                WHERE attrelid = target_name::regclass AND attnum = ANY(unique_index.indkey)
                ORDER BY 1
            ) = ARRAY(SELECT pg_catalog.unnest({text_array(list(unique_key))}) ORDER BY 1)
    ) THEN
        RAISE EXCEPTION
            'table % has no unique constraint on its unique_key (%), which {mode} needs',
            target_name, {literal(", ".join(unique_key))}
            USING HINT = 'WorkDataHub never adds a constraint: add it as the table''s owner '
                         '(ALTER TABLE ... ADD PRIMARY KEY) and run again';
    END IF;"""
    body += "\nEND\n"
    if _TAG in body:
        raise ValueError(f"table {table!r}: a name contains {_TAG}")
    return Statement(Step.TABLE_CHANGES, f"DO {_TAG}{body}{_TAG}")


__all__ = [
    "TABLE_CHANGES_SETTING",
    "TableChange",
    "TableShape",
    "table_changes_query",
    "table_changes_statement",
]
