"""Running the checks' SELECTs read-only, in the target table's schema, as the plan would.

The plan pins its search_path to the target table's schema (the existing table's, else the
role's current schema); :data:`PIN_TARGET_SCHEMA` pins the same one inside a ``READ ONLY``
transaction, so the verdict reads the very ledger the plan's guard reads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from work_data_hub.load.checks import CheckQuery, CheckResult, overridden
from work_data_hub.load.sql import quote

# The schema the plan would pin (see load.plan.pin_schema_statement), pinned for this transaction.
PIN_TARGET_SCHEMA = """
SELECT target.schema, CASE WHEN target.schema IS NOT NULL THEN pg_catalog.set_config(
    'search_path', pg_catalog.format('%%I, pg_temp', target.schema), true) END
FROM (SELECT COALESCE(
    (SELECT namespace.nspname FROM pg_catalog.pg_class AS class
     JOIN pg_catalog.pg_namespace AS namespace ON namespace.oid = class.relnamespace
     WHERE class.oid = pg_catalog.to_regclass(%(table)s)
        AND NOT namespace.nspname LIKE 'pg\\_temp\\_%%'),
    pg_catalog.current_schema()) AS schema) AS target
"""


def pin_target_schema(cursor: Any, table: str) -> str | None:
    """Pin this transaction's search_path to ``table``'s schema; None: no schema at all."""
    cursor.execute(PIN_TARGET_SCHEMA, {"table": quote(table)})
    schema: str | None = cursor.fetchone()[0]
    return schema


def run_checks(
    cursor: Any, table: str, queries: Sequence[CheckQuery], settings: Mapping[str, str]
) -> list[CheckResult]:
    """Every violation the ``queries`` find, in a transaction the caller made read-only."""
    if pin_target_schema(cursor, table) is None:
        return []
    results: list[CheckResult] = []
    for query in queries:
        cursor.execute(f"SELECT {query.tables_exist_sql()}")
        if not cursor.fetchone()[0]:
            continue
        cursor.execute(query.sql)  # no parameters: the driver leaves its % signs alone
        lifted = overridden(query.check, settings)
        results += [
            CheckResult(query.check, message, hint, lifted) for message, hint in cursor.fetchall()
        ]
    return results
