"""The plan as a script for ``psql -v ON_ERROR_STOP=1 -f PLAN``."""

from __future__ import annotations

import re

from work_data_hub.load.plan import LoadPlan


def _comment(text: str) -> str:
    return re.sub(r"[\x00-\x1f\x7f]", " ", text)


def render_psql(plan: LoadPlan) -> bytes:
    """The plan as a script for ``psql -v ON_ERROR_STOP=1 -f PLAN``."""
    header = [
        f"-- WorkDataHub load plan: domain {_comment(plan.domain)}, table {_comment(plan.table)}, "
        f"mode {plan.mode}, run {plan.run_id}",
        f"-- rows to insert: {plan.rows_to_insert}; rows read: {plan.rows_read}; "
        f"rows rejected: {plan.rows_rejected}",
        *(f"-- source file: {_comment(name)}" for name in plan.source_files),
        "-- apply with: psql -v ON_ERROR_STOP=1 -f <this file> <database>",
        "\\set ON_ERROR_STOP on",
        "\\encoding UTF8",
        "",
    ]
    parts = ["\n".join(header).encode("utf-8")]
    for statement in plan.statements:
        parts.append(f"{statement.sql};\n".encode())
        if statement.copy_rows:
            parts.append(plan.copy_payload)
            parts.append(b"\\.\n")
    return b"".join(parts)
