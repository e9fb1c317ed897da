"""A plan's summary as a few lines of text: counts, scopes, checks, what the diff counted.

What Kedro-Viz shows on a domain's plan node (the newest plan written for it). No cell value
appears: the named rows of a diff are left to the review.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from work_data_hub.reports.html import plain

SCOPES_SHOWN = 10


def plan_preview_text(summary: Mapping[str, Any], plan_path: str) -> str:
    """The lines for one plan's summary (``PlanSummary.as_dict()``)."""
    files = summary.get("files") or []
    periods = sorted({str(file.get("period")) for file in files if file.get("period")})
    lines = [
        f"newest plan: {plan_path}",
        f"made at {summary.get('created_at')} by run {summary.get('run_id')}",
        f"table {summary.get('table')}, mode {summary.get('mode')}",
        f"files: {len(files)}" + (f" (periods {', '.join(periods)})" if periods else ""),
        f"rows read {summary.get('rows_read')}, rejected {summary.get('rows_rejected')}, "
        f"to insert {summary.get('rows_to_insert')}",
    ]
    scopes = summary.get("refresh_scopes") or []
    if summary.get("refresh_scope"):
        shown = "; ".join(plain(scope) for scope in scopes[:SCOPES_SHOWN])
        more = f"; and {len(scopes) - SCOPES_SHOWN} more" if len(scopes) > SCOPES_SHOWN else ""
        lines.append(f"replaces {len(scopes)} refresh scope(s): {shown}{more}")
    for check in summary.get("checks") or []:
        lines.append(
            f"check {check.get('name')} ({check.get('severity')}): {check.get('status')}"
            + (f", {plain(check.get('numbers'))}" if check.get("numbers") else "")
            + (" (accepted)" if check.get("accepted") else "")
        )
    for change in summary.get("table_changes") or []:
        lines.append(f"table change: {plain(change)}")
    diff = summary.get("diff") or {}
    if diff:
        counted = [
            f"{label} {diff[field]}"
            for field, label in (
                ("rows_to_delete", "rows to delete"),
                ("rows_removed", "removed"),
                ("rows_changed", "changed"),
                ("rows_added", "added"),
            )
            if diff.get(field) is not None
        ]
        lines.append("against the warehouse: " + ", ".join(counted))
    return "\n".join(lines)


__all__ = ["plan_preview_text"]
