"""The run report as one HTML page: what the JSON report says, for a person to look at.

Rendered from the report's data only (the JSON the run hook writes), so the page and the JSON
never disagree. Fields other parts of the run add later (checks, table changes, the named
diff) are shown when present and skipped when absent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from work_data_hub.reports.html import (
    Markup,
    badge,
    bar_chart,
    checks_section,
    diff_facts,
    facts,
    page,
    plain,
    table,
    table_changes_section,
    text,
)

COUNTS = (
    ("rows_read", "read"),
    ("rows_skipped", "skipped"),
    ("rows_rejected", "rejected"),
    ("rows_clean", "clean"),
    ("rows_planned", "planned"),
    ("rows_deleted", "deleted"),
    ("rows_inserted", "inserted"),
)
# Named rows of a diff listed on the page; the report's rows file (``diff.rows_file``) holds
# them all.
DIFF_ROWS_SHOWN = 200


def render_run_report(report: Mapping[str, Any]) -> str:
    """The page for one run report (the dict written as the run's JSON)."""
    run_id = str(report.get("run_id", ""))
    domains: Mapping[str, Mapping[str, Any]] = report.get("domains", {})
    header = (
        f"<h1>WorkDataHub run {text(run_id)} {badge(report.get('status'))}</h1>"
        + facts(
            [
                ("started", report.get("started_at")),
                ("seconds", report.get("seconds")),
                ("pipelines", plain(report.get("pipelines"))),
                ("environment", report.get("env")),
                ("parameters", plain(_given(report.get("params") or {}))),
            ]
        )
        + (
            f'<ul class="errors"><li>{text(report["error"])}</li></ul>'
            if report.get("error")
            else ""
        )
    )
    overview = table(
        ["domain", "status", "files", *(label for _, label in COUNTS)],
        (
            [
                Markup(f'<a href="#{text(name)}">{text(name)}</a>').html,
                badge(domain.get("status")),
                len(domain.get("files", {}).get("selected", [])) if "files" in domain else "–",
                *(_count(domain.get(field)) for field, _ in COUNTS),
            ]
            for name, domain in domains.items()
        ),
        numeric=range(2, 3 + len(COUNTS)),
        raw=(0, 1),
    )
    sections = "".join(_domain_section(name, domain) for name, domain in domains.items())
    return page(f"WorkDataHub run {run_id}", header + "<h2>Domains</h2>" + overview + sections)


def _given(params: Mapping[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in params.items() if value not in (None, "")}


def _count(value: Any) -> str:
    return "–" if value is None else str(value)


def _domain_section(name: str, domain: Mapping[str, Any]) -> str:
    summary: Mapping[str, Any] = domain.get("summary") or {}
    parts = [
        f'<section class="domain" id="{text(name)}"><h2>{text(name)} '
        f"{badge(domain.get('status'))}</h2>",
        facts(
            [
                ("table", domain.get("table")),
                ("mode", domain.get("mode")),
                ("executed", domain.get("executed")),
                ("warehouse", domain.get("warehouse")),
                ("plan", domain.get("plan_file")),
                ("rejects", domain.get("rejects_file")),
                ("rejects marked in the delivery", domain.get("rejects_workbooks")),
                ("review", domain.get("review_page")),
            ]
        ),
        _problems(domain, summary),
        table(
            [label for _, label in COUNTS],
            [[_count(domain.get(field)) for field, _ in COUNTS]],
            numeric=range(len(COUNTS)),
        ),
        _files(domain, summary),
        _chart(domain, summary),
        checks_section(summary.get("checks") or domain.get("checks")),
        table_changes_section(summary.get("table_changes")),
        _rejects(domain.get("rejects_by_reason")),
        _diff(domain.get("diff") or summary.get("diff")),
        _timings(domain.get("seconds") or {}),
        "</section>",
    ]
    return "".join(parts)


def _problems(domain: Mapping[str, Any], summary: Mapping[str, Any]) -> str:
    errors = []
    if domain.get("error"):
        errors.append(f"failed at step {domain.get('failed_step')}: {domain['error']}")
    warnings = []
    if domain.get("unknown_columns"):
        warnings.append(
            "headers no declaration names (ignored): " + plain(domain["unknown_columns"])
        )
    if domain.get("absent_columns"):
        warnings.append(
            "optional columns without a header (loaded as NULL): " + plain(domain["absent_columns"])
        )
    for check in summary.get("checks") or domain.get("checks") or []:
        if str(check.get("status")) in ("warn", "warning", "accepted"):
            warnings.append(f"check {check.get('name')}: {check.get('message')}")
    for warning in domain.get("warnings") or []:
        warnings.append(plain(warning))
    html = ""
    if errors:
        html += '<ul class="errors">' + "".join(f"<li>{text(e)}</li>" for e in errors) + "</ul>"
    if warnings:
        html += (
            '<h3>Warnings</h3><ul class="warnings">'
            + "".join(f"<li>{text(w)}</li>" for w in warnings)
            + "</ul>"
        )
    return html


def _files(domain: Mapping[str, Any], summary: Mapping[str, Any]) -> str:
    files = domain.get("files") or {}
    planned = {file["path"]: file.get("rows") for file in summary.get("files") or []}
    read = domain.get("files_read") or {}
    rows = []
    for state, key in (
        ("selected", "selected"),
        ("already loaded", "already_loaded"),
        ("superseded", "superseded"),
        ("not selected", "not_selected"),
    ):
        for file in files.get(key) or []:
            path = file.get("path")
            rows.append(
                [
                    state,
                    path,
                    file.get("period"),
                    (read.get(path) or {}).get("sheet"),
                    _count((read.get(path) or {}).get("rows_read")),
                    _count(planned.get(path)),
                    (file.get("sha256") or "")[:12],
                ]
            )
    if not rows:
        return ""
    return "<h3>Files</h3>" + table(
        ["", "file", "period", "sheet", "rows read", "rows planned", "sha256"],
        rows,
        numeric=(4, 5),
    )


def _chart(domain: Mapping[str, Any], summary: Mapping[str, Any]) -> str:
    """Rows per period: this delivery, and the last load of each period when the ledger was read."""
    delivered: dict[str, float] = {}
    for file in summary.get("files") or []:
        delivered[str(file.get("period"))] = delivered.get(str(file.get("period")), 0) + float(
            file.get("rows") or 0
        )
    if not delivered:
        read = domain.get("files_read") or {}
        for file in (domain.get("files") or {}).get("selected") or []:
            rows = (read.get(file.get("path")) or {}).get("rows_read")
            if rows is not None:
                period = str(file.get("period"))
                delivered[period] = delivered.get(period, 0) + float(rows)
    ledger: Mapping[str, Mapping[str, Any]] = domain.get("ledger") or {}
    if not delivered:
        return ""
    periods = sorted(delivered)
    series: dict[str, Sequence[float | None]] = {"this delivery": [delivered[p] for p in periods]}
    if ledger:
        series["last load"] = [
            float(ledger[p]["rows"]) if p in ledger and ledger[p].get("rows") is not None else None
            for p in periods
        ]
    return "<h3>Rows per period</h3>" + bar_chart(periods, series, title="rows per period")


def _rejects(by_reason: Sequence[Mapping[str, Any]] | None) -> str:
    if not by_reason:
        return ""
    return "<h3>Rejects by reason</h3>" + table(
        ["column", "reason", "cells", "rows"],
        ([r.get("column"), r.get("reason"), r.get("cells"), r.get("rows")] for r in by_reason),
        numeric=(2, 3),
    )


def _diff(diff: Mapping[str, Any] | None) -> str:
    if not diff:
        return ""
    html = diff_facts(diff)
    for kind, label, count_field in (
        ("removed", "would disappear", "rows_removed"),
        ("changed", "would change", "rows_changed"),
        ("added", "would be added", "rows_added"),
    ):
        rows = diff.get(kind) or []
        if not rows:
            continue
        total = int(diff.get(count_field) or len(rows))
        shown = rows[:DIFF_ROWS_SHOWN]
        html += f"<h4>{text(label)} ({total})</h4>" + table(
            ["key", "changes"],
            ([plain(row.get("key")), _changes(row.get("cells"))] for row in shown),
        )
        if total > len(shown):
            where = (
                f"every one in {diff['rows_file']}"
                if diff.get("rows_file")
                else f"the report lists the first {len(rows)}"
            )
            html += (
                f'<p class="muted">the first {len(shown)} shown, and {total - len(shown)} more '
                f"({text(where)})</p>"
            )
    return html


def _changes(cells: Sequence[Mapping[str, Any]] | None) -> str:
    return "; ".join(
        f"{cell.get('column')}: {plain(cell.get('before'))} → {plain(cell.get('after'))}"
        for cell in cells or []
    )


def _timings(seconds: Mapping[str, Any]) -> str:
    if not seconds:
        return ""
    return "<h3>Seconds per step</h3>" + table(
        list(seconds), [[seconds[step] for step in seconds]], numeric=range(len(seconds))
    )


__all__ = ["render_run_report"]
