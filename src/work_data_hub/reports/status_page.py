"""The delivery status as one self-contained HTML page: month x domain, colour-coded.

Everything is inline (styles, no scripts, no fonts, no images), so the page opens offline from
the file system and shows the same in any browser. Each cell names its state in words as well
as by colour, with what it rests on (run and date, file, due day, the refusal's reason).
"""

from __future__ import annotations

from html import escape
from typing import Any

# (background, text) per state; the words are shown too, so colour is never the only cue.
COLOURS = {
    "loaded": ("#c8e6c9", "#1b5e20"),
    "pending": ("#bbdefb", "#0d47a1"),
    "superseded": ("#eeeeee", "#424242"),
    "missing": ("#fff3cd", "#7a5b00"),
    "late": ("#ffcdd2", "#b71c1c"),
    "refused": ("#e1bee7", "#4a148c"),
}

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #212121; }
table { border-collapse: collapse; }
th, td { border: 1px solid #bdbdbd; padding: 0.4em 0.7em; vertical-align: top; text-align: left; }
th { background: #f5f5f5; white-space: nowrap; }
.state { font-weight: bold; }
.detail { font-size: 0.85em; }
.legend span { display: inline-block; padding: 0.2em 0.6em; margin-right: 0.4em; }
""" + "".join(
    f".{state} {{ background: {background}; color: {text}; }}\n"
    for state, (background, text) in COLOURS.items()
)


def _details(cell: dict[str, Any]) -> list[str]:
    state = cell["state"]
    if state == "loaded":
        lines = [f"run {cell['run_id']}", f"at {cell['loaded_at']}", cell["file"]]
    elif state == "refused":
        lines = [cell["file"], f"run {cell['run_id']}", f"{cell.get('error') or ''}"]
    elif state == "pending":
        lines = [cell["file"]]
    else:
        lines = [f"due {cell['due']}"]
    if "loaded_file" in cell:
        lines.append(f"still loaded: {cell['loaded_file']} (run {cell['loaded_run_id']})")
    lines += [f"superseded: {path}" for path in cell.get("superseded", [])]
    return [line for line in lines if line]


def _cell(cell: dict[str, Any] | None) -> str:
    if cell is None:
        return "<td></td>"
    state = escape(cell["state"])
    details = "<br>".join(escape(line) for line in _details(cell))
    return (
        f'<td class="{state}" data-state="{state}"><div class="state">{state}</div>'
        f'<div class="detail">{details}</div></td>'
    )


def render_status_page(status: dict[str, Any]) -> str:
    """The page for ``status`` (the shape of status.json)."""
    domains: dict[str, dict[str, Any]] = status["domains"]
    periods = sorted({period for cells in domains.values() for period in cells}, reverse=True)
    header = "".join(f"<th>{escape(name)}</th>" for name in domains)
    rows = "\n".join(
        f"<tr><th>{escape(period)}</th>"
        + "".join(_cell(cells.get(period)) for cells in domains.values())
        + "</tr>"
        for period in periods
    )
    legend = "".join(f'<span class="{state}">{state}</span>' for state in COLOURS)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>WorkDataHub delivery status</title>
<style>{_STYLE}</style>
</head>
<body>
<h1>Delivery status</h1>
<p>As of {escape(str(status.get("today", "")))}; made {escape(str(status.get("made_at", "")))}.
Ledger: {escape(str(status.get("ledger", "")))}. Refusals: {escape(str(status.get("refusals", "")))}.
</p>
<p class="legend">{legend}</p>
<table>
<tr><th>period</th>{header}</tr>
{rows}
</table>
</body>
</html>
"""
