"""The status node: the grid (grid.py) from the inbox, the ledger and the run reports."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from work_data_hub.config import DomainConfig
from work_data_hub.discovery import FileCandidate
from work_data_hub.months import today
from work_data_hub.pipelines.status.grid import domain_status, grid_table, refused_attempts
from work_data_hub.reports.status_page import render_status_page

if TYPE_CHECKING:
    # The dataset module reaches the warehouse code: a plan-only run must not import it.
    from work_data_hub.datasets.status import StatusLedger

logger = logging.getLogger(__name__)

REFUSALS_SOURCE = "from the run reports (the ledger records loads only)"


def delivery_status(
    inbox_files: dict[str, Any],
    inbox: str,
    ledger: StatusLedger,
    run_reports: list[dict[str, Any]],
    *,
    domains: dict[str, DomainConfig],
) -> tuple[str, str]:
    """The status as JSON text and as the HTML page; the grid is logged for the console."""
    root = Path(inbox)
    candidates = []
    for partition in inbox_files:
        stat = (root / partition).stat()
        candidates.append(FileCandidate(partition, stat.st_size, stat.st_mtime))
    hashes: dict[str, str] = {}

    def sha256(path: str) -> str:
        if path not in hashes:
            with (root / path).open("rb") as handle:
                hashes[path] = hashlib.file_digest(handle, "sha256").hexdigest()
        return hashes[path]

    day = today()
    attempts = refused_attempts(run_reports)
    grid = {
        name: domain_status(
            domain,
            candidates,
            ledger.newest_loads(name, domain.table),
            attempts.get(name, {}),
            sha256,
            day,
        )
        for name, domain in domains.items()
    }
    status = {
        "today": day.isoformat(),
        "made_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "inbox": inbox,
        "ledger": ledger.source,
        "refusals": REFUSALS_SOURCE,
        "domains": grid,
    }
    logger.info(
        "Delivery status as of %s (ledger %s):\n%s",
        day.isoformat(),
        ledger.source,
        grid_table(grid),
        extra={"event": "delivery_status", "domains": grid},
    )
    return json.dumps(status, ensure_ascii=False, indent=2), render_status_page(status)
