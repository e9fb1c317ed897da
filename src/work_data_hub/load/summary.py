"""The plan's summary: what a person reads at the top of a plan file before applying it.

One summary serves the psql script (as SQL comments), the log, the run report and
``apply_plan`` (which reads it back from the file's ``-- summary-json:`` line). Pure: it knows
the plan's facts, never the database.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from work_data_hub.config.business_checks import BusinessCheckResult
from work_data_hub.load.checksum import PLACEHOLDER
from work_data_hub.load.table_changes import TableChange

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
    """One source workbook of the plan: where it was, which month, its bytes' hash, its rows;
    the sheet read and the Excel column(s) each declared column came from, when known."""

    path: str
    period: str
    sha256: str | None
    rows: int
    sheet: str | None = None
    columns: dict[str, list[str]] | None = None

    def address(self, column: str, row: int) -> str | None:
        """Where ``column`` of Excel row ``row`` is in this file: ``规模明细!H17``."""
        letters = (self.columns or {}).get(column)
        if not letters or self.sheet is None:
            return None
        return ", ".join(f"{self.sheet}!{letter}{row}" for letter in letters)


@dataclass(frozen=True)
class CellChange:
    """One cell a plan changes: its column, value before and after (as text), and where the
    new value is in the delivery (``规模明细!H17``; None for a row that disappears)."""

    column: str
    before: str | None
    after: str | None
    address: str | None = None


@dataclass(frozen=True)
class RowChange:
    """A row a plan adds, removes or changes, named by its key (or refresh scope and source
    row); ``source`` says where it comes from (the delivery's or the table's lineage).

    Its cells: every column of an added row (before None) or a removed one (after None), and
    only the changed columns of a changed row.
    """

    key: dict[str, str | None]
    source: str | None
    cells: tuple[CellChange, ...] = ()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RowChange:
        return cls(
            key=dict(data["key"]),
            source=data.get("source"),
            cells=tuple(CellChange(**cell) for cell in data.get("cells", ())),
        )

    def text(self) -> str:
        """``plan_code=P0002, report_date=2024-11-01``: the key as one line."""
        return ", ".join(
            f"{name}={'NULL' if value is None else value}" for name, value in self.key.items()
        )


@dataclass(frozen=True)
class PlanDiff:
    """What applying the plan would change, read from the warehouse in a read-only transaction.

    The key counts are None for a domain without a unique key. The row-level difference
    (``rows_added`` .. ``changed``) is there when it was read: the counts are complete, the
    listed rows the first :data:`ROWS_LISTED` of each kind, in key order; ``matched_by`` names
    what pairs a delivered row with a table row (the unique key, or scope and source row).
    ``rows_file`` names the JSON-lines file that holds every one of them, in the same order,
    when the run wrote one (beside its run report).
    """

    rows_to_delete: int
    rows_to_insert: int
    keys_new: int | None = None
    keys_changed: int | None = None
    keys_unchanged: int | None = None
    keys_disappearing: int | None = None
    table_exists: bool = True
    matched_by: tuple[str, ...] = ()
    rows_added: int | None = None
    rows_removed: int | None = None
    rows_changed: int | None = None
    added: tuple[RowChange, ...] = ()
    removed: tuple[RowChange, ...] = ()
    changed: tuple[RowChange, ...] = ()
    rows_file: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PlanDiff:
        plain = {name: value for name, value in data.items() if name not in ROW_KINDS}
        plain["matched_by"] = tuple(plain.get("matched_by", ()))
        return replace(
            cls(**plain),
            added=_rows(data, "added"),
            removed=_rows(data, "removed"),
            changed=_rows(data, "changed"),
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready; the listed rows built directly (``asdict`` is slow on thousands)."""
        data = asdict(replace(self, added=(), removed=(), changed=()))
        for kind in ROW_KINDS:
            data[kind] = [
                {
                    "key": dict(row.key),
                    "source": row.source,
                    "cells": [
                        {
                            "column": cell.column,
                            "before": cell.before,
                            "after": cell.after,
                            "address": cell.address,
                        }
                        for cell in row.cells
                    ],
                }
                for row in getattr(self, kind)
            ]
        return data

    @property
    def rows_compared(self) -> bool:
        return self.rows_changed is not None

    def with_rows_file(self, path: str) -> PlanDiff:
        return replace(self, rows_file=path)


def _rows(data: dict[str, Any], kind: str) -> tuple[RowChange, ...]:
    return tuple(RowChange.from_dict(row) for row in data.get(kind, ()))


# The row-level difference lists at most this many rows of each kind (the counts are complete).
ROWS_LISTED = 1_000
ROW_KINDS = ("removed", "changed", "added")
# Rows named in the log (and the plan file's comments) per kind.
LOGGED_ROWS = 20


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
    # The columns the plan adds, as read from the warehouse (None: not read, see diff=true).
    table_changes: tuple[TableChange, ...] | None = None
    # An undo plan: the run whose load it undoes.
    undo_of: str | None = None
    # The business checks' results (config.business_checks) and the checks accept_checks
    # named when the plan was made.
    checks: tuple[BusinessCheckResult, ...] = ()
    accepted_checks: tuple[str, ...] = ()

    @property
    def made_at(self) -> dt.datetime:
        return dt.datetime.fromisoformat(self.created_at)

    @property
    def refusing_checks(self) -> tuple[BusinessCheckResult, ...]:
        """The failed error checks nobody accepted: they refuse the load."""
        return tuple(check for check in self.checks if check.refuses)

    def with_checks(self, checks: Sequence[BusinessCheckResult]) -> PlanSummary:
        return replace(self, checks=tuple(checks))

    def with_diff(self, diff: PlanDiff) -> PlanSummary:
        return replace(self, diff=diff)

    def with_rejects_file(self, rejects_file: str | None) -> PlanSummary:
        return replace(self, rejects_file=rejects_file)

    def with_table_changes(self, changes: tuple[TableChange, ...]) -> PlanSummary:
        return replace(self, table_changes=changes)

    def with_sources(self, sources: dict[str, tuple[str, dict[str, list[str]]]]) -> PlanSummary:
        """The files with their sheet and the Excel columns of each declared column
        (``sources[path] = (sheet, columns)``), so that a change names its cell."""
        files = tuple(
            replace(file, sheet=sources[file.path][0], columns=sources[file.path][1])
            if file.path in sources
            else file
            for file in self.files
        )
        return replace(self, files=files)

    def as_dict(self) -> dict[str, Any]:
        """The summary as JSON-ready data (the run report's ``summary`` and the log's fields)."""
        # asdict copies every value deeply: not the (maybe tens of thousands of) scopes.
        data = asdict(replace(self, refresh_scopes=(), files=(), checks=(), diff=None))
        data["diff"] = self.diff.as_dict() if self.diff is not None else None
        data["checks"] = [check.as_dict() for check in self.checks]
        data["accepted_checks"] = list(self.accepted_checks)
        data["refresh_scopes"] = [
            dict(zip(self.refresh_scope, scope, strict=True)) for scope in self.refresh_scopes
        ]
        data["refresh_scope"] = list(self.refresh_scope)
        data["files"] = [asdict(file) for file in self.files]
        return data

    def comment_lines(
        self,
        *,
        scopes_shown: int | None = None,
        brief_checks: bool = False,
        with_json: bool = True,
    ) -> list[str]:
        """The summary as SQL comment lines (no line breaks inside any value).

        ``scopes_shown`` lists only that many refresh scopes, then says how many more there are;
        ``with_json`` ends with the ``summary-json`` line (all of it, as data).
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
        if self.undo_of is not None:
            lines.append(
                f"-- undoes run {self.undo_of}: deletes the rows its load wrote and restores the "
                "rows it replaced, from the history"
            )
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
        elif self.undo_of is None:
            lines.append(f"-- replaces nothing (mode {self.mode})")
        lines.append(
            f"-- rows to insert: {self.rows_to_insert}; rows read: {self.rows_read}; "
            f"rows rejected: {self.rows_rejected}"
            + (f" (see {self.rejects_file})" if self.rows_rejected and self.rejects_file else "")
        )
        if self.diff is not None:
            lines += _diff_lines(self.diff)
        if self.table_changes is not None:
            lines += _table_change_lines(self.table_changes)
        lines += _check_lines(self.checks, self.accepted_checks, brief=brief_checks)
        if with_json:
            lines.append(SUMMARY_JSON_PREFIX + json.dumps(self.as_dict(), ensure_ascii=True))
        return [comment_text(line) if line.startswith("--") else line for line in lines]

    def log_text(self) -> str:
        """The summary as the log shows it: the comment lines without the JSON one, and at
        most LOGGED_SCOPES refresh scopes (a delivery can replace thousands)."""
        return "\n".join(
            line.removeprefix("-- ")
            for line in self.comment_lines(
                scopes_shown=LOGGED_SCOPES, brief_checks=True, with_json=False
            )
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
    if diff.rows_compared:
        lines.append(
            f"--   rows (matched by {', '.join(diff.matched_by)}): {diff.rows_removed} would "
            f"disappear, {diff.rows_changed} change, {diff.rows_added} are new"
        )
        every = sum(count or 0 for count in (diff.rows_removed, diff.rows_changed, diff.rows_added))
        if diff.rows_file and every:
            lines.append(f"--   all {every}, with their values before and after: {diff.rows_file}")
        for kind, count, said in (
            ("removed", diff.rows_removed, "would disappear"),
            ("changed", diff.rows_changed, "would change"),
        ):
            rows: tuple[RowChange, ...] = getattr(diff, kind)
            if not rows:
                continue
            lines.append(f"--   {said}:")
            for row in rows[:LOGGED_ROWS]:
                changes = (
                    ""
                    if kind == "removed"
                    else "; "
                    + "; ".join(
                        f"{cell.column}: {_shown(cell.before)} -> {_shown(cell.after)}"
                        + (f" ({cell.address})" if cell.address else "")
                        for cell in row.cells
                    )
                )
                lines.append(f"--     {row.text()}{changes}")
            more = (count or 0) - min(len(rows), LOGGED_ROWS)
            if more > 0:
                where = (
                    "all in the file named above"
                    if diff.rows_file
                    else f"the review lists the first {ROWS_LISTED:,}"
                )
                lines.append(f"--     ... and {more} more ({where})")
    return lines


def _table_change_lines(changes: tuple[TableChange, ...]) -> list[str]:
    if not changes:
        return ["-- table changes: none"]
    return [
        f"-- table changes ({len(changes)}, in the load's transaction):",
        *(f"--   {change.sql}" for change in changes),
    ]


def _shown(value: str | None) -> str:
    return "NULL" if value is None else repr(value)


def _check_lines(
    checks: Sequence[BusinessCheckResult], accepted: Sequence[str], *, brief: bool = False
) -> list[str]:
    """The business checks' lines; ``brief`` (the log): only those that found something."""
    if brief:
        checks = [c for c in checks if c.status in ("failed", "warned", "accepted")]
    if not checks and not accepted:
        return []
    lines = [f"-- business checks ({len(checks)}):"]
    lines += [
        f"--   {check.name} ({check.severity}): {check.status}"
        + (f": {check.message}" if check.status != "passed" else "")
        for check in checks
    ]
    if accepted:
        lines.append(
            f"-- accepted (accept_checks={','.join(accepted)}): their error verdict lets the "
            "load through; the ledger row records them with their numbers"
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
    checks: Sequence[BusinessCheckResult] = (),
    accepted_checks: Sequence[str] = (),
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
        checks=tuple(checks),
        accepted_checks=tuple(accepted_checks),
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


def read_summary_file(path: str | os.PathLike[str]) -> PlanSummary | None:
    """The summary at the top of the plan file at ``path``, reading only its header lines."""
    with open(path, "rb") as handle:
        for line in handle:
            if line.startswith(SUMMARY_JSON_PREFIX.encode()):
                return read_summary(b"\n" + line)
            if not line.startswith(b"--"):
                return None
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
        diff=PlanDiff.from_dict(diff) if diff else None,
        table_changes=(
            tuple(TableChange(**change) for change in data["table_changes"])
            if data.get("table_changes") is not None
            else None
        ),
        undo_of=data.get("undo_of"),
        checks=tuple(BusinessCheckResult.from_dict(check) for check in data.get("checks") or ()),
        accepted_checks=tuple(data.get("accepted_checks") or ()),
    )


__all__ = [
    "CHECKSUM_PLACEHOLDER",
    "ROWS_LISTED",
    "CellChange",
    "PlanDiff",
    "PlanSummary",
    "PlannedFile",
    "RowChange",
    "build_plan_summary",
    "read_summary",
    "read_summary_file",
    "summary_from_dict",
]
