"""The plan as a script for ``psql -v ON_ERROR_STOP=1 -f PLAN`` (layout: ``load.plan_file``)."""

from __future__ import annotations

from work_data_hub.load.plan import LoadPlan
from work_data_hub.load.plan_file import seal, step_header
from work_data_hub.load.summary import PlanSummary, comment_text


def render_psql(plan: LoadPlan, summary: PlanSummary | None = None) -> bytes:
    """The plan as a sealed psql script: its summary, then each step with its byte lengths.

    ``summary`` (default: the plan's own) is what the header shows, e.g. with a diff added.
    """
    shown = summary or plan.summary
    header = (
        shown.comment_lines()
        if shown is not None
        else [
            f"-- WorkDataHub load plan: domain {comment_text(plan.domain)}, "
            f"table {comment_text(plan.table)}, mode {plan.mode}, run {plan.run_id}"
        ]
    )
    header += [
        "-- apply with: psql -v ON_ERROR_STOP=1 -f <this file> <database>",
        "\\set ON_ERROR_STOP on",
        "\\encoding UTF8",
        "",
    ]
    parts = ["\n".join(header).encode("utf-8")]
    for statement in plan.statements:
        sql = statement.sql.encode("utf-8")
        rows = plan.copy_payload if statement.copy_rows else None
        parts += [step_header(statement.purpose, sql, rows), sql, b";\n"]
        if rows is not None:
            parts += [rows, b"\\.\n"]
    sealed, _ = seal(b"".join(parts))
    return sealed
