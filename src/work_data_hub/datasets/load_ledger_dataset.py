"""``LoadLedgerDataset``: what the ledger ``wdh_loads`` says a domain has already loaded.

With ``execute`` the dataset connects when it is loaded, which is before any workbook is opened:
a wrong address stops the run there. Plan-only runs never connect (and never import the
driver): their ledger is empty, so they plan every selected file.
"""

from __future__ import annotations

import logging
from typing import Any

from kedro.io import AbstractDataset, DatasetError

from work_data_hub.config.warehouse import WarehouseConfigError, resolve_address
from work_data_hub.datasets.postgres_load_dataset import strict_bool
from work_data_hub.datasets.warehouse_connection import connect, interruptible, server_reason
from work_data_hub.errors import WorkDataHubError
from work_data_hub.load.ledger import LEDGER_TABLE, NewestLoad, newest_loads_sql
from work_data_hub.load.sql import quote

logger = logging.getLogger(__name__)

# The schema the plan would pin (see load.plan.pin_schema_statement), and whether it has a ledger.
_LEDGER_SCHEMA = """
SELECT schema, pg_catalog.to_regclass(pg_catalog.format('%%I.%%I', schema, %(ledger)s)) IS NOT NULL
FROM (SELECT COALESCE(
    (SELECT namespace.nspname FROM pg_catalog.pg_class AS class
     JOIN pg_catalog.pg_namespace AS namespace ON namespace.oid = class.relnamespace
     WHERE class.oid = pg_catalog.to_regclass(%(table)s)
        AND NOT namespace.nspname LIKE 'pg\\_temp\\_%%'),
    pg_catalog.current_schema()) AS schema) AS target
"""


class LedgerReadError(WorkDataHubError, DatasetError):
    """The ledger cannot be read (the message names the warehouse, never the password)."""


class LoadLedger:
    """The ledger as one domain's run sees it; ``newest_loads`` reads it once and disconnects."""

    def __init__(self, connection: Any = None, address: Any = None) -> None:
        self._connection = connection
        self._address = address
        # What ``newest_loads`` read (None: not read), for the run report.
        self.last_read: dict[str, NewestLoad] | None = None

    def newest_loads(self, domain: str, table: str) -> dict[str, NewestLoad]:
        """Per period, what the newest committed load of ``domain`` loaded (empty: plan-only)."""
        if self._connection is None:
            return {}
        try:
            with interruptible(), self._connection.cursor() as cursor:
                cursor.execute(_LEDGER_SCHEMA, {"ledger": LEDGER_TABLE, "table": quote(table)})
                schema, exists = cursor.fetchone()
                if schema is None or not exists:
                    return {}
                cursor.execute(newest_loads_sql(schema), {"domain": domain})
                self.last_read = {
                    period: NewestLoad(period, path, sha256, run_id, str(committed_at), rows)
                    for period, path, sha256, run_id, committed_at, rows in cursor.fetchall()
                }
                return self.last_read
        except Exception as exc:
            if not hasattr(exc, "pgcode"):
                raise
            raise LedgerReadError(
                f"{domain}: cannot read the load ledger {LEDGER_TABLE}: "
                f"{server_reason(exc, self._address.url)}"
            ) from None
        finally:
            self.close()

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


class LoadLedgerDataset(AbstractDataset[None, LoadLedger]):
    """Loads a :class:`LoadLedger`: connected when ``execute``, empty otherwise.

    Example catalog entry::

        "{domain}.load_ledger":
          type: work_data_hub.datasets.load_ledger_dataset.LoadLedgerDataset
          execute: ${runtime_params:execute, ${globals:execute}}
          credentials: warehouse
          connect_timeout: 10

    The address is resolved as for the load (see :mod:`work_data_hub.config.warehouse`).
    """

    def __init__(
        self,
        *,
        execute: bool = False,
        credentials: dict[str, Any] | None = None,
        connect_timeout: int = 10,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._execute = strict_bool(execute, "execute")
        self._credentials = dict(credentials or {})
        self._connect_timeout = connect_timeout
        self.metadata = metadata

    def load(self) -> LoadLedger:
        if not self._execute:
            return LoadLedger()
        try:
            address = resolve_address(self._credentials)
        except WarehouseConfigError as exc:
            raise LedgerReadError(f"{exc}; nothing was read or loaded.") from None
        with interruptible():
            connection = connect(
                address, connect_timeout=self._connect_timeout, purpose="read the load ledger"
            )
        return LoadLedger(connection, address)

    def save(self, data: None) -> None:
        raise DatasetError("LoadLedgerDataset is read-only: the load's plan writes the ledger")

    def _describe(self) -> dict[str, Any]:
        return {"execute": self._execute, "ledger": LEDGER_TABLE}
