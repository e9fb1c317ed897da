"""The delivery status of every domain and month (docs/contract.md, "Delivery calendar"), as data.

Pure: the inbox's files (as discovery sees them), what the ledger says was loaded, the refused
attempts the run reports record, and today's date go in; a grid of states comes out.

A month's state, first rule that holds:

- ``loaded``: the ledger's newest load of the month loaded the file the inbox holds now (or the
  inbox no longer holds one): run, date, file;
- ``refused``: the newest attempt after that load failed, on the very file the inbox holds;
- ``pending``: the inbox holds a file the ledger has not loaded (new, or newer than the loaded);
  ``refused`` and ``pending`` name what the warehouse still holds for the month, if anything;
- ``late``: expected by the calendar, absent, and its due day has passed;
- ``missing``: expected by the calendar, absent, not yet due.

``superseded`` is a file's state inside a month: a delivery that lost to a newer one of the
same month (a higher ``V<n>`` folder, else a newer file), never read; each month lists them.
A month is expected from the calendar's ``first`` up to last month (a month's delivery comes
after it ends). Files from the future (discovery's rule) are not shown as months.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from work_data_hub.config import DomainConfig
from work_data_hub.discovery import DatedFile, FileCandidate, match_domain, newest_per_period
from work_data_hub.load.ledger import NewestLoad
from work_data_hub.months import Month

STATES = ("loaded", "pending", "superseded", "missing", "late", "refused")


@dataclass(frozen=True)
class Attempt:
    """A run that tried to load a domain's month and failed (from its run report)."""

    run_id: str
    started_at: str
    path: str
    sha256: str | None
    step: str | None
    error: str | None


def refused_attempts(reports: list[dict[str, Any]]) -> dict[str, dict[str, Attempt]]:
    """Per domain and month, the newest failed attempt the run reports record."""
    attempts: dict[str, dict[str, Attempt]] = {}
    for report in sorted(reports, key=lambda r: str(r.get("started_at", ""))):
        for name, domain in (report.get("domains") or {}).items():
            if domain.get("status") != "failed":
                continue
            for file in (domain.get("files") or {}).get("selected", []):
                attempts.setdefault(name, {})[file["period"]] = Attempt(
                    run_id=str(report.get("run_id")),
                    started_at=str(report.get("started_at")),
                    path=file["path"],
                    sha256=file.get("sha256"),
                    step=domain.get("failed_step"),
                    error=domain.get("error"),
                )
    return attempts


def _instant(text: str) -> dt.datetime:
    """A run report's ``started_at`` or a ledger's ``committed_at``, comparable (UTC if naive)."""
    moment = dt.datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _month_cell(
    period: str,
    winner: DatedFile | None,
    superseded: list[str],
    loaded: NewestLoad | None,
    attempt: Attempt | None,
    sha256: Callable[[str], str],
    due: dt.date | None,
    today: dt.date,
) -> dict[str, Any]:
    cell: dict[str, Any]
    current_sha = sha256(winner.path) if winner is not None and (loaded or attempt) else None
    if loaded is not None and (winner is None or loaded.sha256 == current_sha):
        cell = {"state": "loaded", "run_id": loaded.run_id, "loaded_at": loaded.committed_at,
                "file": loaded.path}  # fmt: skip
    elif (
        winner is not None
        and attempt is not None
        and attempt.sha256 == current_sha
        and (loaded is None or _instant(attempt.started_at) > _instant(loaded.committed_at))
    ):
        cell = {"state": "refused", "file": winner.path, "run_id": attempt.run_id,
                "step": attempt.step, "error": attempt.error}  # fmt: skip
    elif winner is not None:
        cell = {"state": "pending", "file": winner.path}
    elif due is not None:
        cell = {"state": "late" if today > due else "missing", "due": due.isoformat()}
    else:  # pragma: no cover - a month is only shown when one of the above holds
        raise ValueError(f"month {period} has no file, no load and no calendar")
    if winner is not None and loaded is not None and cell["state"] != "loaded":
        # What the warehouse still holds for the month.
        cell.update(loaded_file=loaded.path, loaded_run_id=loaded.run_id)
    if superseded:
        cell["superseded"] = superseded
    return cell


def domain_status(
    domain: DomainConfig,
    candidates: list[FileCandidate],
    loads: Mapping[str, NewestLoad],
    attempts: Mapping[str, Attempt],
    sha256: Callable[[str], str],
    today: dt.date,
) -> dict[str, dict[str, Any]]:
    """Every month of ``domain`` worth a line, newest first: ``{"YYYY-MM": cell}``."""
    latest = Month.of(today).plus(domain.future_tolerance)
    dated = [f for f in match_domain(candidates, domain.compiled_pattern)
             if Month(f.year, f.month) <= latest]  # fmt: skip
    winners, superseded = newest_per_period(dated)
    by_period = {f.period: f for f in winners}
    lost: dict[str, list[str]] = {}
    for file in superseded:
        lost.setdefault(file.period, []).append(file.path)
    expected: dict[str, dt.date] = {}
    if domain.calendar is not None:
        for month in domain.calendar.expected(Month.of(today).plus(-1)):
            expected[str(month)] = domain.calendar.due_date(month)
    periods = sorted({*by_period, *loads, *expected}, reverse=True)
    return {
        period: _month_cell(
            period,
            by_period.get(period),
            lost.get(period, []),
            loads.get(period),
            attempts.get(period),
            sha256,
            expected.get(period),
            today,
        )
        for period in periods
    }


def grid_table(domains: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> str:
    """The console's view: one line per month, one column per domain, newest month first."""
    names = list(domains)
    periods = sorted({period for cells in domains.values() for period in cells}, reverse=True)
    rows = [["period", *names]]
    for period in periods:
        row = [period]
        for name in names:
            cell = domains[name].get(period)
            if cell is None:
                row.append("")
                continue
            state = cell["state"]
            if state in ("missing", "late"):
                row.append(f"{state} (due {cell['due']})")
            elif state == "loaded":
                row.append(f"loaded {cell['loaded_at'][:10]} {cell['file']}")
            else:
                row.append(f"{state} {cell['file']}")
        rows.append(row)
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )
