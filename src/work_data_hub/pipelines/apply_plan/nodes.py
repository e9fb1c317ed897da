"""The node of the apply_plan pipeline: check a saved plan against the ledger."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from work_data_hub.config.params import accepted_names
from work_data_hub.load.guards import LedgerEntry, PlanVerdict, check_plan
from work_data_hub.load.plan_file import SavedPlan

logger = logging.getLogger(__name__)


def check_saved_plan(
    saved_plan: SavedPlan,
    ledger: list[LedgerEntry],
    force: bool,
    max_reject_ratio: float = 0.0,
    accept_checks: Sequence[str] | str | None = None,
) -> PlanVerdict:
    """Intact (checksum), not already applied, not stale (unless ``force``), its rejects within
    ``max_reject_ratio``; logs what it found. The business checks are evaluated against the
    warehouse when the verdict is saved (the dataset reads it, read-only)."""
    verdict = check_plan(
        plan_path=saved_plan.path,
        summary=saved_plan.summary,
        intact=saved_plan.intact,
        ledger=ledger,
        force=force is True,
        max_reject_ratio=float(max_reject_ratio or 0.0),
        accepted_checks=accepted_names(accept_checks),
    )
    logger.info(
        "Plan %s:\n%s\n%s",
        saved_plan.path,
        saved_plan.summary.log_text(),
        verdict.text,
        extra={
            "event": "plan_check",
            "plan": saved_plan.path,
            "summary": saved_plan.summary.as_dict(),
            "refusals": verdict.refusals,
        },
    )
    return verdict
