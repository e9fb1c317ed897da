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

from work_data_hub.load.sql import literal
from work_data_hub.load.summary import CHECKSUM_PLACEHOLDER

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
    body = f"""
DECLARE
    earlier record;
BEGIN
    SELECT run_id, committed_at INTO earlier FROM {ledger_table}
        WHERE plan_sha256 = {literal(plan_sha256)} LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'plan {plan_sha256} was {ALREADY_APPLIED} by run % at %; the table is unchanged',
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
