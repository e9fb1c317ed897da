"""The node of the apply_plan pipeline: check a saved plan against the warehouse."""

from __future__ import annotations

import logging
from typing import Any

from work_data_hub.config.params import accepted_names
from work_data_hub.load.business_checks import (
    accept_settings,
    final_results,
    log_check_results,
    verdicts,
    with_accepted,
)
from work_data_hub.load.checks import (
    CheckSubject,
    PlanVerdict,
    check_queries,
    force_settings,
    modified_result,
    rejected_rows_result,
)
from work_data_hub.load.plan_file import SavedPlan
from work_data_hub.warehouse.client import WarehouseClient

logger = logging.getLogger(__name__)


def check_saved_plan(
    saved_plan: SavedPlan,
    ledger: WarehouseClient,
    force: bool,
    max_reject_ratio: float = 0.0,
    accept_checks: Any = None,
) -> PlanVerdict:
    """Every declared check on the plan (read-only), the gates execute=true applies included:
    its rejects within ``max_reject_ratio`` and its business checks (``accept_checks`` accepts
    one); ``force`` lifts staleness. Logs the verdict.

    Args:
        saved_plan: The plan file read back (with whether its checksum holds).
        ledger: The warehouse client the checks read through.
        force: Lift the staleness check (only ``True`` does).
        max_reject_ratio: The share of rejected rows an execute run accepts.
        accept_checks: The business checks accepted for this run (a name or a list of names).

    Raises:
        LoadFailedError: The warehouse cannot be reached or refuses a check's read.
    """
    summary = saved_plan.summary
    accepted = tuple(dict.fromkeys([*summary.accepted_checks, *accepted_names(accept_checks)]))
    settings = {**force_settings(force is True), **accept_settings(accepted)}
    summary_results = [
        result
        for result in (
            modified_result(saved_plan.path, summary, saved_plan.intact),
            rejected_rows_result(summary, float(max_reject_ratio or 0)),
        )
        if result is not None
    ]
    subject = CheckSubject.of(summary, saved_plan.steps)
    found = ledger.run_checks(
        domain=summary.domain,
        table=summary.table,
        queries=check_queries(subject),
        settings=settings,
    )
    delivered = [check for check in summary.checks if not check.reads_warehouse]
    judged = final_results(
        delivered, subject.business, verdicts(subject.business, found, rows_staged=False)
    )
    summary = summary.with_checks(with_accepted(judged, accepted))
    verdict = PlanVerdict(saved_plan.path, summary, (*summary_results, *found), settings)
    log_check_results(summary.domain, summary.checks)
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
