"""The plan's summary: what a person reads at the top of a plan file before applying it.

One summary serves the psql script (as SQL comments), the log, the run report and
``apply_plan`` (which reads it back from the file's ``-- summary-json:`` line). Pure: it knows
the plan's facts, never the database.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from work_data_hub.load.checksum import PLACEHOLDER

# The plan's own checksum is written where this placeholder stands (see ``load.checksum``).
CHECKSUM_PLACEHOLDER = PLACEHOLDER
SUMMARY_JSON_PREFIX = "-- summary-json: "
# Refresh scopes listed in the log's summary of a plan; the plan file lists all of them.
LOGGED_SCOPES = 20
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def comment_text(text: str) -> str:
    """``text`` safe inside a one-line SQL comment: control characters become spaces."""
    return _CONTROL.sub(" ", text)


@dataclass(frozen=True)
class PlannedFile:
    """One source workbook of the plan: where it was, which month, its bytes' hash, its rows."""

    path: str
    period: str
    sha256: str | None
    rows: int


@dataclass(frozen=True)
class PlanDiff:
    """What applying the plan would change, read from the warehouse in a read-only transaction.

    The key counts are None for a domain without a unique key.
    """

    rows_to_delete: int
    rows_to_insert: int
    keys_new: int | None = None
    keys_changed: int | None = None
    keys_unchanged: int | None = None
    keys_disappearing: int | None = None
    table_exists: bool = True


@dataclass(frozen=True)
class PlanSummary:
    """The facts a reviewer needs, in the order the plan file shows them."""

    domain: str
    table: str
    mode: str
    run_id: str
    created_at: str
    refresh_scope: tuple[str, ...]
    refresh_scopes: tuple[tuple[str | None, ...], ...]
    files: tuple[PlannedFile, ...]
    rows_read: int
    rows_to_insert: int
    rows_rejected: int
    rejects_file: str | None = None
    plan_sha256: str = CHECKSUM_PLACEHOLDER
    diff: PlanDiff | None = None

    @property
    def made_at(self) -> dt.datetime:
        return dt.datetime.fromisoformat(self.created_at)

    def with_diff(self, diff: PlanDiff) -> PlanSummary:
        return replace(self, diff=diff)

    def with_rejects_file(self, rejects_file: str | None) -> PlanSummary:
        return replace(self, rejects_file=rejects_file)

    def as_dict(self) -> dict[str, Any]:
        """The summary as JSON-ready data (the run report's ``summary`` and the log's fields)."""
        # asdict copies every value deeply: not the (maybe tens of thousands of) scopes.
        data = asdict(replace(self, refresh_scopes=(), files=()))
        data["refresh_scopes"] = [
            dict(zip(self.refresh_scope, scope, strict=True)) for scope in self.refresh_scopes
        ]
        data["refresh_scope"] = list(self.refresh_scope)
        data["files"] = [asdict(file) for file in self.files]
        return data

    def comment_lines(self, *, scopes_shown: int | None = None) -> list[str]:
        """The summary as SQL comment lines (no line breaks inside any value).

        ``scopes_shown`` lists only that many refresh scopes, then says how many more there are.
        """
        scope_names = ", ".join(self.refresh_scope)
        lines = [
            "-- WorkDataHub load plan",
            f"-- domain:        {self.domain}",
            f"-- table:         {self.table}",
            f"-- mode:          {self.mode}",
            f"-- made at:       {self.created_at} by run {self.run_id}",
            f"-- plan_sha256: {self.plan_sha256}",
            f"-- files ({len(self.files)}):",
            *(
                f"--   {file.path}  period {file.period}  rows {file.rows}  "
                f"sha256 {file.sha256 or 'unknown'}"
                for file in self.files
            ),
        ]
        if self.refresh_scope:
            lines.append(
                f"-- replaces {len(self.refresh_scopes)} refresh scope(s) ({scope_names}):"
            )
            shown = self.refresh_scopes[:scopes_shown]
            lines += [
                "--   " + ", ".join("NULL" if value is None else value for value in scope)
                for scope in shown
            ]
            if len(shown) < len(self.refresh_scopes):
                more = len(self.refresh_scopes) - len(shown)
                lines.append(f"--   ... and {more} more (the plan file lists every one)")
        else:
            lines.append(f"-- replaces nothing (mode {self.mode})")
        lines.append(
            f"-- rows to insert: {self.rows_to_insert}; rows read: {self.rows_read}; "
            f"rows rejected: {self.rows_rejected}"
            + (f" (see {self.rejects_file})" if self.rows_rejected and self.rejects_file else "")
        )
        if self.diff is not None:
            lines += _diff_lines(self.diff)
        lines.append(SUMMARY_JSON_PREFIX + json.dumps(self.as_dict(), ensure_ascii=True))
        return [comment_text(line) if line.startswith("--") else line for line in lines]

    def log_text(self) -> str:
        """The summary as the log shows it: the comment lines without the JSON one, and at
        most LOGGED_SCOPES refresh scopes (a delivery can replace thousands)."""
        return "\n".join(
            line.removeprefix("-- ")
            for line in self.comment_lines(scopes_shown=LOGGED_SCOPES)
            if not line.startswith(SUMMARY_JSON_PREFIX)
        )


def _diff_lines(diff: PlanDiff) -> list[str]:
    lines = [
        "-- against the warehouse (diff=true, read-only):"
        + ("" if diff.table_exists else " the table does not exist yet"),
        f"--   rows to delete: {diff.rows_to_delete}",
        f"--   rows to insert: {diff.rows_to_insert}",
    ]
    if diff.keys_new is not None:
        lines.append(
            f"--   keys: {diff.keys_new} new, {diff.keys_changed} changed, "
            f"{diff.keys_unchanged} unchanged, {diff.keys_disappearing} would disappear"
        )
    return lines


def build_plan_summary(
    *,
    domain: str,
    table: str,
    mode: str,
    run_id: str,
    refresh_scope: list[str],
    refresh_scopes: Sequence[tuple[str | None, ...]],
    uses_refresh_scope: bool,
    files: Sequence[Any],
    rows_to_insert: int,
    rows_read: int,
    rows_rejected: int,
    created_at: dt.datetime,
) -> PlanSummary:
    """The summary of a plan that loads ``rows_to_insert`` clean rows.

    Args:
        domain: The domain.
        table: Its target table.
        mode: Its load mode.
        run_id: The run that makes the plan.
        refresh_scope: The refresh-scope columns.
        refresh_scopes: The distinct refresh-scope values of the rows, as text, sorted.
        uses_refresh_scope: Whether the mode replaces by refresh scope.
        files: The plan's files (``path``, ``period``, ``sha256``, ``rows``), as the ledger
            records them.
        rows_to_insert: The clean rows the plan loads.
        rows_read: Rows read from the workbooks.
        rows_rejected: Rows rejected.
        created_at: When the plan was made.
    """
    return PlanSummary(
        domain=domain,
        table=table,
        mode=mode,
        run_id=run_id,
        created_at=created_at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
        refresh_scope=tuple(refresh_scope) if uses_refresh_scope else (),
        refresh_scopes=tuple(refresh_scopes) if uses_refresh_scope else (),
        files=tuple(
            PlannedFile(file.path, file.period or "", file.sha256, int(file.rows)) for file in files
        ),
        rows_read=rows_read,
        rows_to_insert=rows_to_insert,
        rows_rejected=rows_rejected,
    )


def read_summary(plan_text: bytes) -> PlanSummary | None:
    """The summary a plan file carries (its ``-- summary-json:`` line), or None if it has none."""
    marker = ("\n" + SUMMARY_JSON_PREFIX).encode()
    start = plan_text.find(marker)
    if start < 0:
        return None
    start += len(marker)
    end = plan_text.find(b"\n", start)
    try:
        data = json.loads(plan_text[start : end if end >= 0 else None])
        return summary_from_dict(data)
    except (ValueError, KeyError, TypeError):
        return None


def summary_from_dict(data: dict[str, Any]) -> PlanSummary:
    scope = tuple(data["refresh_scope"])
    diff = data.get("diff")
    return PlanSummary(
        domain=data["domain"],
        table=data["table"],
        mode=data["mode"],
        run_id=data["run_id"],
        created_at=data["created_at"],
        refresh_scope=scope,
        refresh_scopes=tuple(
            tuple(entry[name] for name in scope) for entry in data["refresh_scopes"]
        ),
        files=tuple(PlannedFile(**file) for file in data["files"]),
        rows_read=int(data["rows_read"]),
        rows_to_insert=int(data["rows_to_insert"]),
        rows_rejected=int(data["rows_rejected"]),
        rejects_file=data.get("rejects_file"),
        plan_sha256=data["plan_sha256"],
        diff=PlanDiff(**diff) if diff else None,
    )


__all__ = [
    "CHECKSUM_PLACEHOLDER",
    "PlanDiff",
    "PlanSummary",
    "PlannedFile",
    "build_plan_summary",
    "read_summary",
    "summary_from_dict",
]
