"""``LoadLedgerDataset``: what the ledger ``wdh_loads`` says a domain has already loaded.

With ``execute`` the dataset connects when it is loaded, which is before any workbook is opened:
a wrong address stops the run there. Plan-only runs never connect (and never import the
driver): their ledger is empty, so they plan every selected file.
"""

from __future__ import annotations

from typing import Any

from kedro.io import AbstractDataset, DatasetError

from work_data_hub.datasets.flags import strict_bool
from work_data_hub.load.ledger import LEDGER_TABLE
from work_data_hub.warehouse.client import WarehouseClient
from work_data_hub.warehouse.ledger import LedgerReadError, LoadLedger

__all__ = ["LedgerReadError", "LoadLedger", "LoadLedgerDataset"]


class LoadLedgerDataset(AbstractDataset[None, LoadLedger]):
    """Loads a :class:`LoadLedger`: connected when ``execute``, empty otherwise.

    Example catalog entry::

        "{domain}.load_ledger":
          type: work_data_hub.datasets.load_ledger_dataset.LoadLedgerDataset
          execute: ${runtime_params:execute, ${globals:execute}}
          credentials: warehouse
          connect_timeout: 10

    The address is resolved as for the load (see :mod:`work_data_hub.config.warehouse`).

    Args:
        execute: Whether the run loads (then the ledger is read); ``true`` or ``false`` only.
        credentials: The ``warehouse`` credentials entry (``con``), if any.
        connect_timeout: Seconds to wait for the server when connecting.
        metadata: Kedro's free-form metadata (Kedro-Viz shows it).

    Raises:
        DatasetError: ``execute`` is not a boolean.
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
        self._client = WarehouseClient(credentials, connect_timeout=connect_timeout)
        self.metadata = metadata

    def load(self) -> LoadLedger:
        return self._client.open_ledger() if self._execute else LoadLedger()

    def save(self, data: None) -> None:
        raise DatasetError("LoadLedgerDataset is read-only: the load's plan writes the ledger")

    def _describe(self) -> dict[str, Any]:
        return {"execute": self._execute, "ledger": LEDGER_TABLE}
