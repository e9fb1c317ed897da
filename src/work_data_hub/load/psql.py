"""The plan as a script for ``psql -v ON_ERROR_STOP=1 -f PLAN``, sealed with its own checksum.

Layout (read back by :mod:`work_data_hub.load.plan_file`): the summary as SQL comments (with
the ``-- plan_sha256:`` line), then each step as a ``-- step`` comment giving the exact byte
lengths of its SQL and rows, the SQL, and after a ``COPY`` its rows and ``\\.``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from work_data_hub.load.checksum import HEADER_PREFIX, PLACEHOLDER, digest
from work_data_hub.load.plan import LoadPlan, Statement
from work_data_hub.load.plan_file import step_header
from work_data_hub.load.summary import PlanSummary, comment_text


@dataclass(frozen=True)
class SealedPlan:
    """The plan file's bytes and its ``plan_sha256`` (see :mod:`work_data_hub.load.checksum`)."""

    script: bytes
    plan_sha256: str
    statements: tuple[Statement, ...]


def _with_checksum(statement: Statement, checksum: str) -> Statement:
    if PLACEHOLDER not in statement.sql:
        return statement
    return Statement(
        statement.purpose, statement.sql.replace(PLACEHOLDER, checksum), statement.copy_rows
    )


def _header(plan: LoadPlan, summary: PlanSummary | None, checksum: str) -> list[str]:
    if summary is not None:
        lines = replace(summary, plan_sha256=checksum).comment_lines()
    else:
        lines = [
            f"-- WorkDataHub load plan: domain {comment_text(plan.domain)}, "
            f"table {comment_text(plan.table)}, mode {plan.mode}, run {plan.run_id}",
            f"-- rows to insert: {plan.rows_to_insert}; rows read: {plan.rows_read}; "
            f"rows rejected: {plan.rows_rejected}",
            f"{HEADER_PREFIX}{checksum}",
        ]
    if plan.nothing_to_load:
        lines.append("-- nothing to load: every selected file is already loaded (see the ledger)")
    return [
        *lines,
        "-- apply with: psql -v ON_ERROR_STOP=1 -f <this file> <database>",
        "\\set ON_ERROR_STOP on",
        "\\encoding UTF8",
        "",
    ]


def _parts(plan: LoadPlan, summary: PlanSummary | None, checksum: str) -> list[bytes]:
    parts = ["\n".join(_header(plan, summary, checksum)).encode("utf-8")]
    for statement in plan.statements:
        sql = _with_checksum(statement, checksum).sql.encode("utf-8")
        rows = plan.copy_payload if statement.copy_rows else None
        parts += [step_header(statement.purpose, sql, rows), sql, b";\n"]
        if rows is not None:
            parts += [rows, b"\\.\n"]
    return parts


def seal(plan: LoadPlan, summary: PlanSummary | None = None) -> SealedPlan:
    """Render the plan with the placeholder, hash it, and write the digest into its slots.

    ``summary`` (default: the plan's own) is what the header shows, e.g. with a diff added.
    """
    shown = summary or plan.summary
    checksum = digest(_parts(plan, shown, PLACEHOLDER))
    statements = tuple(_with_checksum(statement, checksum) for statement in plan.statements)
    return SealedPlan(b"".join(_parts(plan, shown, checksum)), checksum, statements)


def render_psql(plan: LoadPlan, summary: PlanSummary | None = None) -> bytes:
    """The plan as a script for ``psql -v ON_ERROR_STOP=1 -f PLAN``."""
    return seal(plan, summary).script
