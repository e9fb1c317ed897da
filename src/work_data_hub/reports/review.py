"""The review of a plan: what a person reads before applying it, as a page and a workbook.

Rendered from the plan's summary as data (``PlanSummary.as_dict()`` or the plan file's
``summary-json`` line): the plan's facts, its files, the checks and their numbers, the table
changes, and the rows it removes, changes and adds against the warehouse, each changed cell
with its value before and after and its address in the delivery. A summary without a field
(no diff read, no checks declared) shows what it has. Any plan's summary will do: an ingest
plan with ``diff=true``, a saved plan checked by ``apply_plan``, an undo plan.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import IO, Any

from work_data_hub.reports.html import (
    badge,
    checks_section,
    diff_facts,
    facts,
    page,
    plain,
    table,
    table_changes_section,
    text,
)

KINDS = (
    ("removed", "Rows that would disappear", "rows_removed"),
    ("changed", "Rows that would change", "rows_changed"),
    ("added", "Rows that would be added", "rows_added"),
)
SCOPES_SHOWN = 50


# --- the page ---------------------------------------------------------------------------------


def render_review_page(summary: Mapping[str, Any]) -> str:
    """The review of one plan as a self-contained HTML page."""
    domain = str(summary.get("domain", ""))
    diff: Mapping[str, Any] = summary.get("diff") or {}
    title = f"Review of the {domain} plan"
    scopes = summary.get("refresh_scopes") or []
    body = [
        f"<h1>{text(title)} {badge(summary.get('mode'))}</h1>",
        facts(
            [
                ("table", summary.get("table")),
                ("mode", summary.get("mode")),
                ("made at", f"{summary.get('created_at')} by run {summary.get('run_id')}"),
                ("plan_sha256", summary.get("plan_sha256")),
                ("undoes run", summary.get("undo_of")),
                ("rows read", summary.get("rows_read")),
                ("rows to insert", summary.get("rows_to_insert")),
                ("rows rejected", summary.get("rows_rejected")),
                ("rejects", summary.get("rejects_file")),
                (
                    "refresh scopes",
                    f"{len(scopes)} ({', '.join(summary.get('refresh_scope') or [])})"
                    if summary.get("refresh_scope")
                    else None,
                ),
            ]
        ),
        _files(summary.get("files") or []),
        _scopes(scopes),
        checks_section(summary.get("checks"), "h2"),
        table_changes_section(summary.get("table_changes"), "h2"),
        _against(diff),
    ]
    for kind, heading, count_field in KINDS:
        body.append(
            _rows(kind, heading, diff.get(count_field), diff.get(kind) or [], diff.get("rows_file"))
        )
    return page(title, "".join(body))


def _files(files: Sequence[Mapping[str, Any]]) -> str:
    if not files:
        return ""
    return "<h2>Files</h2>" + table(
        ["file", "period", "sheet", "rows", "sha256"],
        (
            [f.get("path"), f.get("period"), f.get("sheet"), f.get("rows"), f.get("sha256")]
            for f in files
        ),
        numeric=(3,),
    )


def _scopes(scopes: Sequence[Mapping[str, Any]]) -> str:
    if not scopes:
        return ""
    names = list(scopes[0])
    html = "<h2>Refresh scopes replaced</h2>" + table(
        names, ([scope.get(n) for n in names] for scope in scopes[:SCOPES_SHOWN])
    )
    if len(scopes) > SCOPES_SHOWN:
        html += f'<p class="muted">and {len(scopes) - SCOPES_SHOWN} more (see the plan file)</p>'
    return html


def _against(diff: Mapping[str, Any]) -> str:
    if not diff:
        return (
            '<h2>Against the warehouse</h2><p class="muted">not read: run with diff=true to '
            "see the rows this plan removes, changes and adds</p>"
        )
    return diff_facts(diff, "h2")


def _rows(
    kind: str,
    heading: str,
    count: Any,
    rows: Sequence[Mapping[str, Any]],
    rows_file: str | None,
) -> str:
    if not rows:
        return ""
    total = int(count or len(rows))
    html = f"<h2>{text(heading)} ({total})</h2>"
    if kind == "changed":
        lines = [
            [
                _key(row),
                cell.get("column"),
                cell.get("before"),
                cell.get("after"),
                cell.get("address") or "",
            ]
            for row in rows
            for cell in row.get("cells") or []
        ]
        html += table(
            ["key", "column", "before", "after", "cell"],
            lines,
            cell_class={2: "before", 3: "after"},
        )
    else:
        side = "before" if kind == "removed" else "after"
        columns = [cell.get("column") for cell in (rows[0].get("cells") or [])]
        html += table(
            ["key", "from", *columns],
            (
                [_key(row), row.get("source"), *(c.get(side) for c in row.get("cells") or [])]
                for row in rows
            ),
            cell_class={i: side for i in range(2, 2 + len(columns))},
        )
    if total > len(rows):
        html += f'<p class="muted">{text(_not_listed(len(rows), total, rows_file))}</p>'
    return html


def _not_listed(listed: int, total: int, rows_file: str | None) -> str:
    """What a list cut at ``listed`` of ``total`` rows says, and where they all are."""
    said = f"the first {listed} listed, and {total - listed} more not listed"
    return f"{said}; every one is in {rows_file}" if rows_file else said


def _key(row: Mapping[str, Any]) -> str:
    return ", ".join(
        f"{name}={'NULL' if value is None else value}"
        for name, value in (row.get("key") or {}).items()
    )


# --- the workbook ------------------------------------------------------------------------------


def write_review_workbook(target: IO[bytes], summary: Mapping[str, Any]) -> None:
    """The review as a workbook: a sheet ``plan``, then one sheet per kind of row change."""
    import xlsxwriter  # noqa: PLC0415  (only a review writes a workbook)

    workbook = xlsxwriter.Workbook(
        target,
        {"strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False},
    )
    formats = {
        "bold": workbook.add_format({"bold": True, "bottom": 1}),
        "before": workbook.add_format({"bg_color": "#FFEBE9"}),
        "after": workbook.add_format({"bg_color": "#DAFBE1"}),
    }
    diff: Mapping[str, Any] = summary.get("diff") or {}
    _plan_sheet(workbook.add_worksheet("plan"), formats, summary, diff)
    for kind, _, count_field in KINDS:
        if diff.get(count_field) is not None:
            _rows_sheet(workbook.add_worksheet(kind), formats, kind, diff, count_field)
    workbook.close()


_PLAN_FIELDS = (
    "domain",
    "table",
    "mode",
    "run_id",
    "created_at",
    "plan_sha256",
    "undo_of",
    "rows_read",
    "rows_to_insert",
    "rows_rejected",
    "rejects_file",
)
_DIFF_FIELDS = ("rows_to_delete", "rows_removed", "rows_changed", "rows_added", "keys_unchanged")


def _plan_sheet(
    sheet: Any, formats: Mapping[str, Any], summary: Mapping[str, Any], diff: Mapping[str, Any]
) -> None:
    bold = formats["bold"]
    lines: list[tuple[str, Any]] = [
        (field, summary[field]) for field in _PLAN_FIELDS if summary.get(field) is not None
    ]
    lines += [(field, diff[field]) for field in _DIFF_FIELDS if diff.get(field) is not None]
    if diff.get("matched_by"):
        lines.append(("matched_by", ", ".join(diff["matched_by"])))
    lines += [("table change", change) for change in summary.get("table_changes") or []]
    for index, (label, value) in enumerate(lines):
        sheet.write_string(index, 0, label, bold)
        sheet.write(index, 1, value if isinstance(value, int | float) else plain(value))
    row = len(lines) + 1
    for entries in (summary.get("files") or [], summary.get("checks") or []):
        if not entries:
            continue
        names = list(entries[0])
        sheet.write_row(row, 0, names, bold)
        for entry in entries:
            row += 1
            sheet.write_row(row, 0, [plain(entry.get(name)) for name in names])
        row += 2
    sheet.set_column(0, 0, 18)
    sheet.set_column(1, 8, 40)


def _rows_sheet(
    sheet: Any, formats: Mapping[str, Any], kind: str, diff: Mapping[str, Any], count_field: str
) -> None:
    rows: Sequence[Mapping[str, Any]] = diff.get(kind) or []
    key_names = list((rows[0].get("key") or {}) if rows else diff.get("matched_by") or [])
    line = 0
    if kind == "changed":
        sheet.write_row(0, 0, [*key_names, "column", "before", "after", "cell"], formats["bold"])
        for entry in rows:
            keys = [(entry.get("key") or {}).get(name) for name in key_names]
            for cell in entry.get("cells") or []:
                line += 1
                sheet.write_row(line, 0, [*keys, cell.get("column")])
                sheet.write(line, len(keys) + 1, cell.get("before"), formats["before"])
                sheet.write(line, len(keys) + 2, cell.get("after"), formats["after"])
                sheet.write(line, len(keys) + 3, cell.get("address"))
    else:
        side = "before" if kind == "removed" else "after"
        columns = [cell.get("column") for cell in (rows[0].get("cells") or [])] if rows else []
        sheet.write_row(0, 0, [*key_names, "from", *columns], formats["bold"])
        for line, entry in enumerate(rows, start=1):
            keys = [(entry.get("key") or {}).get(name) for name in key_names]
            sheet.write_row(line, 0, [*keys, entry.get("source")])
            for offset, cell in enumerate(entry.get("cells") or []):
                sheet.write(line, len(keys) + 1 + offset, cell.get(side), formats[side])
    total = int(diff.get(count_field) or 0)
    if total > len(rows):
        sheet.write_string(line + 2, 0, _not_listed(len(rows), total, diff.get("rows_file")))
    sheet.freeze_panes(1, 0)
    sheet.set_column(0, max(0, len(key_names) + 8), 16)


__all__ = ["render_review_page", "write_review_workbook"]
