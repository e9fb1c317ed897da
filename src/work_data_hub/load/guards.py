"""Guards the plan carries inside its own transaction: a plan is applied once, and never stale.

They run next to the ledger row, after the table lock, so psql, ``execute=true`` and
``apply_plan`` are refused the same way, and a refusal rolls back everything before it:

- ``already applied``: the ledger holds a load whose ``plan_sha256`` is this plan's;
- ``stale``: the ledger holds a load of the same domain committed after the plan was made (its
  rows would bring back what that newer load replaced). A session that sets
  ``wdh.force_stale = on`` (``apply_plan`` with ``force=true``) skips this guard only.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

from work_data_hub.config.business_checks import CheckResult
from work_data_hub.load.business_checks import with_accepted
from work_data_hub.load.sql import literal
from work_data_hub.load.summary import CHECKSUM_PLACEHOLDER, PlanSummary

# A custom setting (a dotted name): a session sets it, the plan's text never changes.
FORCE_STALE_SETTING = "wdh.force_stale"
ALREADY_APPLIED = "already applied"
STALE = "stale"
_TAG = "$wdh_guard$"


def guard_sql(
    *,
    ledger_table: str,
    domain: str,
    created_at: str,
    plan_sha256: str = CHECKSUM_PLACEHOLDER,
) -> str:
    """A ``DO`` block refusing a plan already applied or made before a newer load of its domain.

    ``ledger_table`` is the quoted (possibly schema-qualified) ledger; ``created_at`` the
    plan's ISO timestamp. The checksum is the placeholder until the plan file is rendered.
    """
    made_at = dt.datetime.fromisoformat(created_at).isoformat(timespec="microseconds")
    ledger_name = ledger_table.replace("'", "''")
    body = f"""
DECLARE
    earlier record;
BEGIN
    SELECT run_id, committed_at INTO earlier FROM {ledger_table}
        WHERE plan_sha256 = {literal(plan_sha256)} LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'plan {plan_sha256} was {ALREADY_APPLIED} by run % at % (see {ledger_name}); the table is unchanged',
            earlier.run_id, earlier.committed_at
            USING HINT = 'A plan is applied once. To load the files again, make a new plan '
                         '(kedro run) and review it.';
    END IF;
    IF coalesce(current_setting({literal(FORCE_STALE_SETTING)}, true), '') <> 'on' THEN
        SELECT run_id, committed_at INTO earlier FROM {ledger_table}
            WHERE domain = {literal(domain)}
                AND committed_at > {literal(made_at)}::timestamptz
            ORDER BY committed_at DESC LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'plan is {STALE}: made at %, but run % committed a newer load of domain % at %; the table is unchanged',
                {literal(made_at)}::timestamptz, earlier.run_id, {literal(domain)},
                earlier.committed_at
                USING HINT = 'Make a new plan (kedro run) and review it; or, to apply this one '
                             'anyway, kedro run --pipelines apply_plan --params '
                             'plan=<file>,execute=true,force=true';
        END IF;
    END IF;
END
"""
    if _TAG in body:
        raise ValueError(f"domain {domain!r}: a name contains {_TAG}")
    return f"DO {_TAG}{body}{_TAG}"


@dataclass(frozen=True)
class LedgerEntry:
    """One committed load, as ``wdh_loads`` records it (the fields the checks need)."""

    plan_sha256: str
    domain: str
    run_id: str
    committed_at: dt.datetime


@dataclass(frozen=True)
class PlanVerdict:
    """What checking a saved plan found. ``refusals`` is empty when it may be applied."""

    plan_path: str
    summary: PlanSummary
    intact: bool
    applied_by: LedgerEntry | None
    newer_loads: tuple[LedgerEntry, ...]
    forced: bool
    # The gates execute=true applies too: the share of rejects, and the business checks.
    max_reject_ratio: float = 0.0
    accepted_checks: tuple[str, ...] = ()
    checks: tuple[CheckResult, ...] = ()

    @property
    def stale(self) -> bool:
        return bool(self.newer_loads)

    def with_checks(self, checks: tuple[CheckResult, ...]) -> PlanVerdict:
        """The verdict once the checks were evaluated against the warehouse (read-only)."""
        return replace(self, checks=with_accepted(checks, self.accepted_checks))

    @property
    def reject_ratio(self) -> float:
        summary = self.summary
        return summary.rows_rejected / summary.rows_read if summary.rows_read else 0.0

    # The names a LoadPlan gives them, so the run report reads a verdict like a plan.
    @property
    def table(self) -> str:
        return self.summary.table

    @property
    def mode(self) -> str:
        return self.summary.mode

    @property
    def rows_to_insert(self) -> int:
        return self.summary.rows_to_insert

    @property
    def refusals(self) -> list[str]:
        reasons = []
        if not self.intact:
            reasons.append(
                f"modified: {self.plan_path} no longer matches its checksum "
                f"{self.summary.plan_sha256}; a changed plan is never applied, even with "
                "force=true. Make a new plan with kedro run."
            )
        if self.applied_by is not None:
            reasons.append(
                f"{ALREADY_APPLIED}: run {self.applied_by.run_id} applied this plan at "
                f"{self.applied_by.committed_at.isoformat()}; a plan is applied once."
            )
        if self.stale and not self.forced:
            newest = self.newer_loads[-1]
            reasons.append(
                f"{STALE}: the plan was made at {self.summary.created_at}, and run "
                f"{newest.run_id} committed a newer load of {self.summary.domain} at "
                f"{newest.committed_at.isoformat()}; make a new plan, or pass force=true to "
                "apply this one anyway."
            )
        if self.summary.rows_rejected and self.reject_ratio > self.max_reject_ratio:
            reasons.append(
                f"rejected rows: {self.summary.rows_rejected} of {self.summary.rows_read} rows "
                f"were rejected ({self.reject_ratio:.2%}, above max_reject_ratio "
                f"{self.max_reject_ratio:.2%}), as execute=true would refuse; pass "
                "max_reject_ratio to apply_plan to tolerate that share."
            )
        reasons += [
            f"check {check.name} ({check.kind}) failed: {check.message}; accept it with "
            f"accept_checks={check.name}."
            for check in self.checks
            if check.refuses
        ]
        return reasons

    @property
    def text(self) -> str:
        """The verdict in one paragraph, as the log and the refusal show it."""
        refusals = self.refusals
        if refusals:
            return "The plan is refused: " + " ".join(refusals)
        forced = (
            f" (stale: {len(self.newer_loads)} newer load(s); force=true applies it anyway)"
            if self.stale
            else ""
        )
        noted = "".join(
            f" Check {check.name}: {check.status}: {check.message}."
            for check in self.checks
            if check.status in ("warned", "accepted")
        )
        return (
            f"The plan is intact, not applied yet and not stale{forced}, and passes its "
            f"checks: it can be applied.{noted}"
        )


def check_plan(
    *,
    plan_path: str,
    summary: PlanSummary,
    intact: bool,
    ledger: list[LedgerEntry],
    force: bool,
    max_reject_ratio: float = 0.0,
    accepted_checks: tuple[str, ...] = (),
) -> PlanVerdict:
    """The checks ``apply_plan`` makes before applying; the plan's own guards repeat two of them."""
    applied = next((entry for entry in ledger if entry.plan_sha256 == summary.plan_sha256), None)
    made_at = summary.made_at
    accepted_checks = tuple(dict.fromkeys([*summary.accepted_checks, *accepted_checks]))
    newer = tuple(
        sorted(
            (
                entry
                for entry in ledger
                if entry.domain == summary.domain
                and entry.committed_at > made_at
                and entry is not applied
            ),
            key=lambda entry: entry.committed_at,
        )
    )
    return PlanVerdict(
        plan_path,
        summary,
        intact,
        applied,
        newer,
        forced=force,
        max_reject_ratio=max_reject_ratio,
        accepted_checks=accepted_checks,
        checks=with_accepted(summary.checks, accepted_checks),
    )
