"""The status pipeline's datasets: the ledger read-only, the run reports, the pages it writes.

- :class:`StatusLedgerDataset`: what the ledger says each domain loaded, read in read-only
  sessions, and only from a warehouse that is there: a configured one, or the local embedded
  one when ``data/warehouse`` already exists (it is never created for a status);
- :class:`RunReportsDataset`: the run reports (JSON) under a folder, oldest first: the ledger
  records loads only, the reports also the attempts that failed;
- :class:`OwnerOnlyTextDataset`: a text file written readable by its owner only, like every
  other output (the status names files and runs).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError

from work_data_hub.config.project import project_path
from work_data_hub.config.warehouse import (
    WarehouseAddress,
    WarehouseConfigError,
    configured_address,
    resolve_address,
)
from work_data_hub.datasets.embedded_warehouse import WAREHOUSE_FOLDER
from work_data_hub.datasets.load_ledger_dataset import LedgerReadError, LoadLedger
from work_data_hub.datasets.owner_only import open_owner_only
from work_data_hub.datasets.warehouse_connection import connect, interruptible
from work_data_hub.load.ledger import NewestLoad

logger = logging.getLogger(__name__)

NO_WAREHOUSE = (
    "not read: no warehouse is configured and there is no local warehouse (data/warehouse)"
)


@dataclass
class StatusLedger:
    """The ledger as the status reads it: one read-only session per domain, or none at all."""

    address: WarehouseAddress | None
    connect_timeout: int = 10
    source: str = field(init=False)

    def __post_init__(self) -> None:
        self.source = f"read ({self.address.describe()})" if self.address else NO_WAREHOUSE

    def newest_loads(self, domain: str, table: str) -> dict[str, NewestLoad]:
        """Per month, what the newest committed load of ``domain`` loaded (empty: no ledger)."""
        if self.address is None:
            return {}
        with interruptible():
            connection = connect(
                self.address, connect_timeout=self.connect_timeout, purpose="read the load ledger"
            )
        connection.set_session(readonly=True, autocommit=True)
        return LoadLedger(connection, self.address).newest_loads(domain, table)


class StatusLedgerDataset(AbstractDataset[None, StatusLedger]):
    """Loads a :class:`StatusLedger`; never writes, never starts a warehouse that is not there.

    Example catalog entry::

        status_ledger:
          type: work_data_hub.datasets.status.StatusLedgerDataset
          credentials: warehouse

    Args:
        credentials: the ``warehouse`` credentials entry (``con``), as for the loads.
        connect_timeout: seconds to wait for the warehouse.

    Raises:
        LedgerReadError: the configured warehouse settings are invalid.
    """

    def __init__(
        self,
        *,
        credentials: dict[str, Any] | None = None,
        connect_timeout: int = 10,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._credentials = dict(credentials or {})
        self._connect_timeout = connect_timeout
        self.metadata = metadata

    def load(self) -> StatusLedger:
        try:
            address = configured_address(self._credentials)
            if address is None and (project_path() / WAREHOUSE_FOLDER / "PG_VERSION").is_file():
                address = resolve_address(self._credentials)
        except WarehouseConfigError as exc:
            raise LedgerReadError(f"{exc}; the status was not made.") from None
        return StatusLedger(address, self._connect_timeout)

    def save(self, data: None) -> None:
        raise DatasetError("StatusLedgerDataset is read-only")

    def _describe(self) -> dict[str, Any]:
        return {"ledger": "read-only"}


class RunReportsDataset(AbstractDataset[None, list[dict[str, Any]]]):
    """Loads every run report (``run_*.json``) under ``path``, oldest first; none: empty.

    Example catalog entry::

        status_run_reports:
          type: work_data_hub.datasets.status.RunReportsDataset
          path: data/08_reporting/run_reports

    Args:
        path: the folder the run reports are written to.
    """

    def __init__(self, *, path: str, metadata: dict[str, Any] | None = None) -> None:
        self._path = Path(path)
        self.metadata = metadata

    def load(self) -> list[dict[str, Any]]:
        reports = []
        for report in sorted(self._path.glob("run_*.json")):
            try:
                reports.append(json.loads(report.read_text(encoding="utf-8")))
            except (OSError, ValueError) as exc:
                logger.warning("Run report %s cannot be read (%s); left out", report, exc)
        return reports

    def save(self, data: None) -> None:
        raise DatasetError("RunReportsDataset is read-only: the run-report hook writes them")

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path)}


class OwnerOnlyTextDataset(AbstractDataset[str, str]):
    """A UTF-8 text file, created readable by its owner only and replaced on each save.

    Example catalog entry::

        status_html:
          type: work_data_hub.datasets.status.OwnerOnlyTextDataset
          filepath: data/08_reporting/status/status.html

    Args:
        filepath: where the file is written.
    """

    def __init__(self, *, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        self._filepath = Path(filepath)
        self.metadata = metadata

    def load(self) -> str:
        return self._filepath.read_text(encoding="utf-8")

    def save(self, data: str) -> None:
        with os.fdopen(open_owner_only(self._filepath), "w", encoding="utf-8") as handle:
            handle.write(data)

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}
