"""``PlanLedgerDataset``: the warehouse a saved plan's checks read (apply_plan).

Example catalog entry::

    apply_plan.ledger:
      type: work_data_hub.datasets.plan_ledger_dataset.PlanLedgerDataset
      credentials: warehouse

Checking connects once, in a ``READ ONLY`` transaction (:mod:`work_data_hub.warehouse`).
"""

from __future__ import annotations

from typing import Any

from kedro.io import AbstractDataset, DatasetError

from work_data_hub.load.ledger import LEDGER_TABLE
from work_data_hub.warehouse.client import WarehouseClient

__all__ = ["PlanLedgerDataset"]


class PlanLedgerDataset(AbstractDataset[None, WarehouseClient]):
    """The warehouse the checks of a saved plan read (read-only); connects when they run.

    Args:
        credentials: The ``warehouse`` credentials entry (``con``), if any.
        connect_timeout: Seconds to wait for the server when connecting.
        metadata: Kedro's free-form metadata (Kedro-Viz shows it).
    """

    def __init__(
        self,
        *,
        credentials: dict[str, Any] | None = None,
        connect_timeout: int = 10,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._client = WarehouseClient(credentials, connect_timeout=connect_timeout)
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"table": LEDGER_TABLE}

    def load(self) -> WarehouseClient:
        return self._client

    def save(self, data: None) -> None:
        raise DatasetError("PlanLedgerDataset is read-only: loads write the ledger themselves")
