"""The node of the undo pipeline: read what the run loaded (read-only) and plan its undo."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace

from kedro.io import DatasetError

from work_data_hub.config import DomainConfig
from work_data_hub.errors import WorkDataHubError
from work_data_hub.load.checks import PlanVerdict, force_settings
from work_data_hub.load.plan import LoadPlan
from work_data_hub.load.undo import build_undo_plan, undo_counts_sql
from work_data_hub.warehouse.client import WarehouseClient

logger = logging.getLogger(__name__)

_HOW = "kedro run --pipelines undo --params run=<run id>[,domain=<name>][,execute=true]"


class UndoRefusedError(WorkDataHubError, DatasetError):
    """The run cannot be undone (unknown, several domains, undone already, stale); nothing
    was written.

    Args:
        message: Why, and what to do.
        run: The run to undo (None when none was named).
        domain: The domain asked for or found, when known.
        checks: The names of the checks that refused the undo.
    """

    def __init__(
        self,
        message: str,
        *,
        run: str | None,
        domain: str | None = None,
        checks: list[str] | None = None,
    ) -> None:
        super().__init__(message, run=run, domain=domain, checks=list(checks or []))


def plan_undo(
    warehouse: WarehouseClient,
    run: str | None,
    domain: str | None,
    force: bool,
    run_id: str,
    *,
    domains: Mapping[str, DomainConfig],
) -> LoadPlan:
    """The plan undoing run ``run``'s load (of ``domain``, when the run loaded several).

    Reads the ledger and the table read-only: what the undo would delete and restore and what
    its checks find go into the plan's summary; a refusal (``force`` lifts staleness only)
    stops here, before any plan is written.
    """
    if not run:
        raise UndoRefusedError(
            f"undo needs the run to undo (wdh_loads.run_id): {_HOW}", run=None, domain=domain
        )
    loads = warehouse.loads_of_run(str(run), [config.table for config in domains.values()])
    if domain:
        loads = [load for load in loads if load.domain == domain]
    if not loads:
        scope = f" into domain {domain}" if domain else ""
        raise UndoRefusedError(
            f"run {run} loaded nothing{scope}: wdh_loads has no row of it. Name a run_id from "
            f"the ledger: {_HOW}",
            run=str(run),
            domain=domain,
        )
    if len(loads) > 1:
        names = ", ".join(load.domain for load in loads)
        raise UndoRefusedError(
            f"run {run} loaded {len(loads)} domains ({names}); each is undone by its own plan: "
            f"add domain=<name> ({_HOW})",
            run=str(run),
        )
    load = loads[0]
    config = domains.get(load.domain)
    if config is None:
        raise UndoRefusedError(
            f"run {run} loaded domain {load.domain}, which data_sources.yml no longer declares",
            run=str(run),
            domain=load.domain,
        )
    plan = build_undo_plan(load, config, run_id=run_id)
    assert plan.summary is not None
    settings = force_settings(force is True)
    counts, found, shape = warehouse.preview_undo(plan, undo_counts_sql(load, config), settings)
    summary = plan.summary.with_diff(counts).with_table_changes(shape.additions)
    verdict = PlanVerdict(f"the undo of run {run}", summary, tuple(found), settings)
    logger.info(
        "Undo of run %s (%s, mode %s, committed at %s):\n%s\n%s",
        run,
        load.domain,
        load.mode,
        load.committed_at,
        summary.log_text(),
        verdict.text,
        extra={"event": "undo_check", "summary": summary.as_dict(), "refusals": verdict.refusals},
    )
    if verdict.refusals:
        raise UndoRefusedError(
            f"{verdict.text} Nothing was written.",
            run=str(run),
            domain=load.domain,
            checks=[result.check.name for result in found if result.refuses],
        )
    return replace(plan, summary=summary)
