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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError

from work_data_hub.config.project import project_path
from work_data_hub.config.warehouse import WarehouseConfigError, configured_address
from work_data_hub.datasets.owner_only import open_owner_only
from work_data_hub.load.ledger import NewestLoad
from work_data_hub.warehouse.ledger import LedgerReadError

logger = logging.getLogger(__name__)

NO_WAREHOUSE = (
    "not read: no warehouse is configured and there is no local warehouse (data/warehouse)"
)
# The local warehouse's data folder, as warehouse/embedded.py keeps it (not imported: SQLAlchemy).
LOCAL_WAREHOUSE_VERSION_FILE = Path("data") / "warehouse" / "PG_VERSION"


@dataclass
class StatusLedger:
    """The ledger as the status reads it: one read-only session per domain, or none at all.

    Args:
        credentials: The ``warehouse`` credentials entry, or None: no warehouse to read.
        connect_timeout: Seconds to wait for the server when connecting.
    """

    credentials: dict[str, Any] | None
    source: str
    connect_timeout: int = 10

    def newest_loads(self, domain: str, table: str) -> dict[str, NewestLoad]:
        """Per month, what the newest committed load of ``domain`` loaded (empty: no ledger)."""
        if self.credentials is None:
            return {}
        from work_data_hub.warehouse.client import WarehouseClient  # noqa: PLC0415

        client = WarehouseClient(self.credentials, connect_timeout=self.connect_timeout)
        return client.open_ledger().newest_loads(domain, table)


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
            configured = configured_address(self._credentials)
        except WarehouseConfigError as exc:
            raise LedgerReadError(
                f"{exc}; the status was not made.", settings=exc.fields["settings"]
            ) from None
        if configured is not None:
            return StatusLedger(self._credentials, f"read ({configured.describe()})")
        if (project_path() / LOCAL_WAREHOUSE_VERSION_FILE).is_file():
            return StatusLedger(self._credentials, "read (embedded, data/warehouse)")
        return StatusLedger(None, NO_WAREHOUSE)

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
