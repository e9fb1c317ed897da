"""The node of the apply_plan pipeline: check a saved plan against the ledger."""

from __future__ import annotations

import logging

from work_data_hub.load.guards import LedgerEntry, PlanVerdict, check_plan
from work_data_hub.load.plan_file import SavedPlan

logger = logging.getLogger(__name__)


def check_saved_plan(saved_plan: SavedPlan, ledger: list[LedgerEntry], force: bool) -> PlanVerdict:
    """Intact (checksum), not already applied, not stale (unless ``force``); logs what it found."""
    verdict = check_plan(
        plan_path=saved_plan.path,
        summary=saved_plan.summary,
        intact=saved_plan.intact,
        ledger=ledger,
        force=force is True,
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
