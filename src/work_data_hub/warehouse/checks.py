"""Running the checks' SELECTs read-only, in the target table's schema, as the plan would.

The plan pins its search_path to the target table's schema (the existing table's, else the
role's current schema); :data:`PIN_TARGET_SCHEMA` pins the same one inside a ``READ ONLY``
transaction, so the verdict reads the very ledger the plan's guard reads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from work_data_hub.load.checks import CheckQuery, CheckResult, overridden
from work_data_hub.load.ledger import LEDGER_TABLE
from work_data_hub.load.plan import no_schema_hint
from work_data_hub.load.sql import literal, quote
from work_data_hub.warehouse.errors import LoadFailedError

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


class WarehouseSettingError(LoadFailedError):
    """A server setting or grant keeps the load from its tables; the message names the setting
    or the ``GRANT`` to run."""


def pin_target_schema(cursor: Any, table: str) -> str:
    """Pin this transaction's search_path to ``table``'s schema, as the plan will, and name it.

    Raises:
        WarehouseSettingError: The role's search_path names no existing schema (it is empty,
            say), so there is no schema for the table: the message names the setting and the fix.
    """
    cursor.execute(PIN_TARGET_SCHEMA, {"table": quote(table)})
    schema: str | None = cursor.fetchone()[0]
    if schema is None:
        cursor.execute(
            "SELECT pg_catalog.current_setting('search_path'), pg_catalog.quote_ident(current_user)"
        )
        search_path, user = cursor.fetchone()
        raise WarehouseSettingError(
            f"no schema for table {table}: the search_path of role {user} ({search_path!r}) "
            f"names no existing schema. {no_schema_hint(user)}"
        )
    return schema


def missing_ledger_grants(cursor: Any, privileges: Sequence[str] = ("SELECT",)) -> str | None:
    """Why the role may not read the ledger ``wdh_loads`` of the pinned schema, naming the
    ``GRANT`` it needs (as the plan's own check does); None when it may, or when there is none.
    """
    cursor.execute(
        "SELECT ledger.name, current_user, (SELECT pg_catalog.string_agg(wanted, ', ') "
        "FROM pg_catalog.unnest(%(wanted)s::text[]) AS wanted "
        "WHERE NOT pg_catalog.has_table_privilege(ledger.name, wanted)) "
        "FROM (SELECT pg_catalog.format('%%I.%%I', pg_catalog.current_schema(), "
        f"{literal(LEDGER_TABLE)}) AS name) AS ledger "
        "WHERE pg_catalog.to_regclass(ledger.name) IS NOT NULL",
        {"wanted": list(privileges)},
    )
    found = cursor.fetchone()
    if found is None or found[2] is None:
        return None
    ledger, user, missing = found
    return (
        f"role {user} lacks {missing} on the load ledger {ledger}: GRANT SELECT, INSERT ON "
        f"{ledger} TO {user} (a load reads it and writes its row there)"
    )


def run_checks(
    cursor: Any, table: str, queries: Sequence[CheckQuery], settings: Mapping[str, str]
) -> list[CheckResult]:
    """Every violation the ``queries`` find, in a transaction the caller made read-only."""
    pin_target_schema(cursor, table)
    missing = missing_ledger_grants(cursor)
    if missing:
        raise WarehouseSettingError(missing)
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
