"""What the ledger ``wdh_loads`` says a domain has loaded, read in the target table's schema.

The ledger is read where the plan writes it: in the schema the plan pins (the existing table's,
else the role's current one, :func:`work_data_hub.warehouse.checks.pin_target_schema`), inside a
``READ ONLY`` transaction.
"""

from __future__ import annotations

from typing import Any

from kedro.io import DatasetError

from work_data_hub.config.warehouse import WarehouseAddress
from work_data_hub.errors import WorkDataHubError
from work_data_hub.load.ledger import LEDGER_TABLE, NewestLoad, newest_loads_sql
from work_data_hub.load.sql import literal
from work_data_hub.warehouse.checks import missing_ledger_grants, pin_target_schema
from work_data_hub.warehouse.connection import interruptible, server_reason


class LedgerReadError(WorkDataHubError, DatasetError):
    """The ledger cannot be read (the message names the warehouse, never the password).

    Args:
        message: Why, and that nothing was read or loaded.
        domain: The domain whose ledger was read, when known.
        warehouse: Which warehouse (never the password), when known.
        settings: The address settings at fault, when the address is misconfigured.
    """

    def __init__(
        self,
        message: str,
        *,
        domain: str | None = None,
        warehouse: str | None = None,
        settings: list[str] | None = None,
    ) -> None:
        super().__init__(message, domain=domain, warehouse=warehouse, settings=settings)


class LoadLedger:
    """The ledger as one domain's run sees it; ``newest_loads`` reads it once and disconnects.

    Args:
        connection: An open connection (the client's), or None: a plan-only run's empty ledger.
        address: Where ``connection`` goes (named in errors, never with its password).
    """

    def __init__(self, connection: Any = None, address: WarehouseAddress | None = None) -> None:
        self._connection = connection
        self._address = address
        # What ``newest_loads`` read (None: not read), for the run report's chart.
        self.last_read: dict[str, NewestLoad] | None = None

    def newest_loads(self, domain: str, table: str) -> dict[str, NewestLoad]:
        """Per period, what the newest committed load of ``domain`` loaded (empty: plan-only).

        Args:
            domain: The domain whose loads are read.
            table: Its target table (the ledger is read in that table's schema).

        Raises:
            LedgerReadError: The server refused the read.
        """
        if self._connection is None:
            return {}
        try:
            with interruptible(), self._connection.cursor() as cursor:
                cursor.execute("BEGIN READ ONLY")
                try:
                    schema = pin_target_schema(cursor, table)
                    cursor.execute(f"SELECT pg_catalog.to_regclass({literal(LEDGER_TABLE)})")
                    if cursor.fetchone()[0] is None:
                        return {}
                    missing = missing_ledger_grants(cursor)
                    if missing:
                        raise LedgerReadError(f"{domain}: cannot read the load ledger: {missing}")
                    cursor.execute(newest_loads_sql(schema), {"domain": domain})
                    self.last_read = {
                        period: NewestLoad(period, path, sha256, run_id, str(committed_at), rows)
                        for period, path, sha256, run_id, committed_at, rows in cursor.fetchall()
                    }
                    return self.last_read
                finally:
                    if not self._connection.closed:
                        cursor.execute("ROLLBACK")
        except Exception as exc:
            if not hasattr(exc, "pgcode") or self._address is None:
                raise
            raise LedgerReadError(
                f"{domain}: cannot read the load ledger {LEDGER_TABLE}: {server_reason(exc)}",
                domain=domain,
                warehouse=self._address.describe(),
            ) from None
        finally:
            self.close()

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
