"""The pieces of a self-contained HTML page: inline CSS, tables, status badges, a bar chart.

A page opens from disk with no network: no script, no font, no image or style sheet from
elsewhere; the chart is inline SVG. Every text from the data is escaped (a file name or a cell
value is never markup).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import Any

STYLE = """
:root { color-scheme: light; --ok: #1a7f37; --bad: #b42318; --warn: #9a6700; --muted: #57606a; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", "Noto Sans CJK SC",
       "Microsoft YaHei", sans-serif; margin: 24px auto; max-width: 1180px; padding: 0 16px;
       color: #1f2328; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 18px; margin: 28px 0 6px; }
h3 { font-size: 15px; margin: 16px 0 6px; }
.muted { color: var(--muted); } .mono { font-family: ui-monospace, Menlo, Consolas, monospace; }
table { border-collapse: collapse; margin: 4px 0 12px; }
th, td { border: 1px solid #d0d7de; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f6f8fa; font-weight: 600; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
.badge { display: inline-block; border-radius: 10px; padding: 0 9px; font-size: 13px;
         font-weight: 600; color: #fff; background: var(--muted); vertical-align: middle; }
.badge.ok { background: var(--ok); } .badge.bad { background: var(--bad); }
.badge.warn { background: var(--warn); }
section.domain { border-top: 2px solid #d0d7de; margin-top: 24px; }
ul.warnings li { color: var(--warn); } ul.errors li { color: var(--bad); }
td.before { background: #ffebe9; } td.after { background: #dafbe1; }
dl.facts { display: grid; grid-template-columns: max-content auto; gap: 2px 14px; margin: 6px 0; }
dl.facts dt { color: var(--muted); } dl.facts dd { margin: 0; }
"""

_GOOD = {"succeeded", "loaded", "planned", "already_loaded", "pass", "passed", "ok", "applied"}
_BAD = {"failed", "error", "refused", "fail"}
_WARN = {"warn", "warning", "stopped", "no_delivery", "accepted", "not_run"}


def text(value: object) -> str:
    """``value`` as escaped text; None as an en dash."""
    return "–" if value is None else escape(str(value))


def badge(status: object) -> str:
    """A status as a coloured badge (green good, red bad, amber to look at)."""
    word = str(status)
    kind = "ok" if word in _GOOD else "bad" if word in _BAD else "warn" if word in _WARN else ""
    return f'<span class="badge {kind}">{text(word)}</span>'


def table(
    headers: Sequence[str],
    rows: Iterable[Sequence[object]],
    *,
    numeric: Iterable[int] = (),
    raw: Iterable[int] = (),
    cell_class: Mapping[int, str] | None = None,
) -> str:
    """An HTML table; columns in ``numeric`` align right, columns in ``raw`` are markup already."""
    numbers, markup, classes = set(numeric), set(raw), dict(cell_class or {})
    head = "".join(f"<th>{text(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = []
        for index, value in enumerate(row):
            names = " ".join(
                name for name in ("n" if index in numbers else "", classes.get(index, "")) if name
            )
            attribute = f' class="{names}"' if names else ""
            shown = str(value) if index in markup else text(value)
            cells.append(f"<td{attribute}>{shown}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def facts(pairs: Iterable[tuple[str, object]]) -> str:
    """Label: value lines (values already markup are passed through ``Markup``)."""
    items = "".join(
        f"<dt>{text(label)}</dt><dd>{value.html if isinstance(value, Markup) else text(value)}</dd>"
        for label, value in pairs
        if value is not None
    )
    return f'<dl class="facts">{items}</dl>'


class Markup:
    """Text that is HTML already (built here from escaped parts)."""

    def __init__(self, html: str) -> None:
        self.html = html


def bar_chart(
    categories: Sequence[str],
    series: Mapping[str, Sequence[float | None]],
    *,
    title: str,
    colours: Sequence[str] = ("#0969da", "#8c959f"),
) -> str:
    """Grouped bars as inline SVG: one group per category, one bar per series (None: no bar).

    Each bar carries its number as a label and a ``<title>`` (what a pointer shows).
    """
    width_per_group = 28 * max(1, len(series)) + 24
    chart_width = max(320, 60 + width_per_group * len(categories))
    height, top, bottom, left = 232, 40, 44, 56
    plot = height - top - bottom
    values = [v for numbers in series.values() for v in numbers if v is not None]
    peak = max(values, default=0) or 1
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{chart_width}" '
        f'height="{height}" viewBox="0 0 {chart_width} {height}" aria-label="{text(title)}">',
        f'<text x="{left}" y="16" font-size="13" font-weight="600">{text(title)}</text>',
        f'<line x1="{left}" y1="{top + plot}" x2="{chart_width - 8}" y2="{top + plot}" '
        'stroke="#8c959f"/>',
    ]
    for position, category in enumerate(categories):
        x0 = left + position * width_per_group + 12
        for index, (name, numbers) in enumerate(series.items()):
            value = numbers[position]
            if value is None:
                continue
            bar = plot * value / peak
            x = x0 + index * 28
            y = top + plot - bar
            colour = colours[index % len(colours)]
            number = _number(value)
            label = f"{name} {category}: {number}"
            parts.append(
                f'<rect x="{x}" y="{y:.1f}" width="24" height="{bar:.1f}" fill="{colour}">'
                f"<title>{text(label)}</title></rect>"
                f'<text x="{x + 12}" y="{y - 3:.1f}" font-size="10" text-anchor="middle">'
                f"{number}</text>"
            )
        parts.append(
            f'<text x="{x0 + 14 * len(series)}" y="{top + plot + 16}" font-size="11" '
            f'text-anchor="middle">{text(category)}</text>'
        )
    for index, name in enumerate(series):
        x = left + index * 150
        parts.append(
            f'<rect x="{x}" y="{height - 16}" width="10" height="10" '
            f'fill="{colours[index % len(colours)]}"/>'
            f'<text x="{x + 14}" y="{height - 7}" font-size="11">{text(name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def checks_section(checks: Sequence[Mapping[str, Any]] | None, heading: str = "h3") -> str:
    """The plan's business checks with their numbers (nothing when there are none)."""
    if not checks:
        return ""
    return f"<{heading}>Checks</{heading}>" + table(
        ["check", "severity", "status", "numbers", "message", "accepted"],
        (
            [
                check.get("name"),
                check.get("severity"),
                badge(check.get("status")),
                plain(check.get("numbers")),
                check.get("message"),
                "yes" if check.get("accepted") else "",
            ]
            for check in checks
        ),
        raw=(2,),
    )


def table_changes_section(changes: Sequence[Any] | None, heading: str = "h3") -> str:
    """The plan's table changes, as the statements or facts the summary gives."""
    if not changes:
        return ""
    return (
        f"<{heading}>Table changes</{heading}><ul>"
        + "".join(f'<li class="mono">{text(plain(change))}</li>' for change in changes)
        + "</ul>"
    )


DIFF_COUNTS = (
    ("rows_to_delete", "rows to delete"),
    ("rows_to_insert", "rows to insert"),
    ("keys_new", "keys new"),
    ("keys_changed", "keys changed"),
    ("keys_unchanged", "keys unchanged"),
    ("keys_disappearing", "keys that would disappear"),
    ("rows_removed", "rows that would disappear"),
    ("rows_changed", "rows that would change"),
    ("rows_added", "rows that would be added"),
)


def diff_facts(diff: Mapping[str, Any], heading: str = "h3") -> str:
    """What ``diff=true`` counted against the warehouse, and what pairs its rows."""
    counts: list[tuple[str, object]] = [
        (label, diff[field]) for field, label in DIFF_COUNTS if diff.get(field) is not None
    ]
    if diff.get("matched_by"):
        counts.append(("rows matched by", ", ".join(diff["matched_by"])))
    if diff.get("table_exists") is False:
        counts.append(("table", "does not exist yet"))
    if diff.get("rows_file"):
        counts.append(("every row (JSON lines)", diff["rows_file"]))
    return f"<{heading}>Against the warehouse</{heading}>" + facts(counts)


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def page(title: str, body: str) -> str:
    """A whole HTML document: UTF-8, inline style, nothing fetched."""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        # No request may leave the page, even if a value tried to smuggle one in.
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; img-src data:\">"
        f"<title>{text(title)}</title><style>{STYLE}</style></head>"
        f"<body>{body}</body></html>\n"
    )


def plain(value: Any) -> str:
    """A JSON-ish value as short text: lists joined, mappings as ``k=v``."""
    if isinstance(value, Mapping):
        return ", ".join(f"{key}={plain(item)}" for key, item in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(plain(item) for item in value)
    return "–" if value is None else str(value)


__all__ = [
    "Markup",
    "badge",
    "bar_chart",
    "checks_section",
    "diff_facts",
    "facts",
    "page",
    "plain",
    "table",
    "table_changes_section",
    "text",
]
