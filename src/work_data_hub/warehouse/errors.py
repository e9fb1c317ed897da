"""What the warehouse client raises; each message names the warehouse, never the password."""

from __future__ import annotations

from typing import Any

from kedro.io import DatasetError

from work_data_hub.errors import WorkDataHubError
from work_data_hub.load.steps import Step


class LoadFailedError(WorkDataHubError, DatasetError):
    """The database refused the load; the transaction was rolled back, nothing changed.

    Args:
        message: What happened and what to do (no password).
        domain: The domain whose load failed, when known.
        table: Its target table, when known.
        step: The plan step that failed, when the plan had started.
        warehouse: Which warehouse (host, port, database; never the password).
        rolled_back: False when the connection was lost at COMMIT (the outcome is unknown).
    """

    def __init__(
        self,
        message: str,
        *,
        domain: str | None = None,
        table: str | None = None,
        step: Step | None = None,
        warehouse: str | None = None,
        rolled_back: bool = True,
    ) -> None:
        super().__init__(message)
        self.domain = domain
        self.table = table
        self.step = step
        self.warehouse = warehouse
        self.rolled_back = rolled_back

    @property
    def fields(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "table": self.table,
            "step": str(self.step) if self.step is not None else None,
            "warehouse": self.warehouse,
            "rolled_back": self.rolled_back,
        }
