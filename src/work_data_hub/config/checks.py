"""What a check IS: its name, what it reads, its severity, its override (declarations only).

A check is declared here once and implemented in :mod:`work_data_hub.load.checks`, where its
read-only SELECT is registered against this declaration (one row per violation, with a ready
``message``). That one SELECT becomes both the guard inside the plan's transaction and the
verdict ``apply_plan`` and ``diff=true`` print, so the two cannot drift. Importing this module
imports no implementation (and no polars).

An override is a session setting the plan reads with ``current_setting(setting, true)``: the
plan's text never changes, a session (or ``PGOPTIONS`` for psql) lifts the refusal. An
overridden check, or one of severity ``warn``, is reported and does not refuse.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict

# What a check looks at: the files delivered, the plan (its file and literals), the warehouse.
Reads = Literal["delivery", "plan", "warehouse"]
Severity = Literal["error", "warn"]
# Where the check is evaluated: in the database (its SELECT guards the plan and builds the
# verdict), by verifying the plan file's checksum (no SQL can see the file), or from the
# plan's summary (its counts).
Evaluated = Literal["sql", "checksum", "summary"]
# The plan steps a check's guard can run in: "guard" (once the rows are staged and checked,
# before any row changes), "create_table" (once the target is known to exist), "copy" (right
# after the COPY, once the rows are staged) or "business_check" (after the guard, before the
# first DELETE).
GuardStep = Literal["guard", "create_table", "copy", "business_check"]


class CheckOptions(BaseModel):
    """The options of a check (none by default); subclass to declare some."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class Override:
    """How a person lifts a check's refusal: a session setting and the parameter that sets it.

    ``by_name``: the setting lists the names of accepted checks (comma-separated) rather than
    being ``on``.
    """

    setting: str
    param: str
    by_name: bool = False


# apply_plan's force=true sets it; psql: PGOPTIONS="-c wdh.force_stale=on".
FORCE_STALE = Override(setting="wdh.force_stale", param="force=true")
# Business checks a reviewer accepted: apply_plan's accept_checks=<name>[;<name>...].
ACCEPT_CHECKS = Override(setting="wdh.accept_checks", param="accept_checks=<name>", by_name=True)


@dataclass(frozen=True)
class CheckDeclaration:
    """One check: everything about it but its SQL."""

    name: str
    reads: Reads
    # What to do about a violation (the refusal's HINT when the SELECT gives none).
    hint: str
    severity: Severity = "error"
    override: Override | None = None
    evaluated: Evaluated = "sql"
    guard_step: GuardStep = "guard"
    options: type[CheckOptions] = CheckOptions


CHECKS: dict[str, CheckDeclaration] = {}


def declare_check(declaration: CheckDeclaration) -> CheckDeclaration:
    """Add ``declaration`` to :data:`CHECKS`; a name declared twice is a programming error."""
    if declaration.name in CHECKS:
        raise ValueError(f"check {declaration.name!r} is declared twice")
    CHECKS[declaration.name] = declaration
    return declaration


MODIFIED = declare_check(
    CheckDeclaration(
        name="modified",
        reads="plan",
        hint="A changed plan is never applied, even with force=true. Make a new plan with kedro run.",
        evaluated="checksum",
    )
)
ALREADY_APPLIED = declare_check(
    CheckDeclaration(
        name="already applied",
        reads="warehouse",
        hint="A plan is applied once. To load the files again, make a new plan (kedro run) "
        "and review it.",
    )
)
STALE = declare_check(
    CheckDeclaration(
        name="stale",
        reads="warehouse",
        hint="Make a new plan (kedro run) and review it; or, to apply this one anyway, "
        "kedro run --pipelines apply_plan --params plan=<file>,execute=true,force=true",
        override=FORCE_STALE,
    )
)
# Evaluated from the plan's summary by apply_plan, as execute=true does before it connects.
REJECTED_ROWS = declare_check(
    CheckDeclaration(
        name="rejected rows",
        reads="plan",
        hint="Correct the workbook, or tolerate that share with max_reject_ratio=<share> "
        "(given to apply_plan as to execute=true).",
        evaluated="summary",
    )
)
MISSING_GRANTS = declare_check(
    CheckDeclaration(
        name="missing grants",
        reads="warehouse",
        hint="Grant the loader role its mode's privileges on the table.",
        guard_step="create_table",
    )
)
MODIFIED_ROWS = declare_check(
    CheckDeclaration(
        name="modified rows",
        reads="plan",
        hint="The plan was modified after it was made (its COPY rows are not the rows it "
        "declares), so it is not applied, with psql or otherwise. Make a new plan with kedro run "
        "and review it.",
        guard_step="copy",
    )
)

# An undo plan's checks (see work_data_hub.load.undo): they find nothing in any other plan.
UNDO_TARGET = declare_check(
    CheckDeclaration(
        name="undo target",
        reads="warehouse",
        hint="Name a run from the ledger (wdh_loads.run_id) that loaded this domain.",
    )
)
UNDONE_ALREADY = declare_check(
    CheckDeclaration(
        name="undone already",
        reads="warehouse",
        hint="A load is undone once; to bring it back, undo that undo "
        "(kedro run --pipelines undo --params run=<the undo's run id>).",
    )
)
UNDO_STALE = declare_check(
    CheckDeclaration(
        name="undo stale",
        reads="warehouse",
        hint="Undo the later run(s) first; or, to apply this undo anyway, "
        "kedro run --pipelines apply_plan --params plan=<file>,execute=true,force=true",
        override=FORCE_STALE,
    )
)
