"""What applying a plan did, as the warehouse client reports it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class LoadResult:
    """What one save did: where the plan is and, when executed, what PostgreSQL reported."""

    plan_path: str
    executed: bool
    rows_deleted: int | None = None
    rows_inserted: int | None = None
    transaction_seconds: float | None = None
    plan_sha256: str | None = None
    nothing_to_load: bool = False
    # The plan's summary (load.summary) as data, for the run report and the log.
    summary: dict[str, Any] | None = None
    # Which warehouse was loaded: "embedded, data/warehouse" or the configured host and database.
    warehouse: str | None = None
    # The checks the transaction let through (warned, or accepted), as its ledger row keeps them.
    recorded_checks: tuple[dict[str, Any], ...] = ()
    # Execute's seconds per step of the transaction, and inside the COPY step those of the rows'
    # writing: copy_length, copy_render and copy_digest (in threads beside the COPY), copy_waited
    # (the COPY waiting for a rendered slice), digest_waited; verify_plan (reading back).
    step_seconds: dict[str, float] | None = None
