"""The node of the apply_plan pipeline: check a saved plan against the warehouse."""

from __future__ import annotations

import logging

from work_data_hub.load.checks import (
    CheckSubject,
    PlanVerdict,
    check_queries,
    force_settings,
    modified_result,
)
from work_data_hub.load.plan_file import SavedPlan
from work_data_hub.warehouse.client import WarehouseClient

logger = logging.getLogger(__name__)


def check_saved_plan(saved_plan: SavedPlan, ledger: WarehouseClient, force: bool) -> PlanVerdict:
    """Every declared check on the plan (read-only); ``force`` lifts staleness. Logs the verdict.

    Args:
        saved_plan: The plan file read back (with whether its checksum holds).
        ledger: The warehouse client the checks read through.
        force: Lift the staleness check (only ``True`` does).

    Raises:
        LoadFailedError: The warehouse cannot be reached or refuses a check's read.
    """
    summary = saved_plan.summary
    settings = force_settings(force is True)
    modified = modified_result(saved_plan.path, summary, saved_plan.intact)
    subject = CheckSubject.of(summary)
    found = ledger.run_checks(
        domain=summary.domain,
        table=summary.table,
        queries=check_queries(subject),
        settings=settings,
    )
    verdict = PlanVerdict(
        saved_plan.path, summary, tuple([modified] if modified else []) + tuple(found), settings
    )
    logger.info(
        "Plan %s:\n%s\n%s",
        saved_plan.path,
        summary.log_text(),
        verdict.text,
        extra={
            "event": "plan_check",
            "plan": saved_plan.path,
            "summary": summary.as_dict(),
            "refusals": verdict.refusals,
        },
    )
    return verdict
