"""The plan as a script for ``psql -v ON_ERROR_STOP=1 -f PLAN``, sealed with its own checksum.

Layout (read back by :mod:`work_data_hub.load.plan_file`): the summary as SQL comments (with
the ``-- plan_sha256:`` line), then each step as a ``-- step`` comment giving the exact byte
lengths of its SQL and rows, the SQL, and after a ``COPY`` its rows and ``\\.``.

The file is written once, front to back, and hashed as it is written: the rows a slice at a
time (never the whole payload in memory), the header and the SQL with the checksum's
placeholder in its slots, which get the digest last (same length, written in place).
"""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass, replace
from typing import BinaryIO

from work_data_hub.load.checksum import HEADER_PREFIX, PLACEHOLDER
from work_data_hub.load.copy_format import copy_length, write_copy_text
from work_data_hub.load.plan import LoadPlan, Statement
from work_data_hub.load.plan_file import END_OF_ROWS, END_OF_SQL, step_header
from work_data_hub.load.rows_digest import ROWS_DIGEST_PLACEHOLDER, RowsDigest
from work_data_hub.load.summary import PlanSummary, comment_text
from work_data_hub.rows import ROWS_PER_SLICE

_PLACEHOLDER = PLACEHOLDER.encode("ascii")


@dataclass(frozen=True)
class WrittenPlan:
    """What writing a plan gave: its ``plan_sha256`` and the statements as written (sealed)."""

    plan_sha256: str
    statements: tuple[Statement, ...]


@dataclass(frozen=True)
class SealedPlan:
    """The plan file's bytes and its ``plan_sha256`` (see :mod:`work_data_hub.load.checksum`)."""

    script: bytes
    plan_sha256: str
    statements: tuple[Statement, ...]


def _filled(statement: Statement, placeholder: str, value: str) -> Statement:
    if placeholder not in statement.sql:
        return statement
    return Statement(
        statement.purpose, statement.sql.replace(placeholder, value), statement.copy_rows
    )


def _header(plan: LoadPlan, summary: PlanSummary | None) -> list[str]:
    if summary is not None:
        lines = replace(summary, plan_sha256=PLACEHOLDER).comment_lines()
    else:
        lines = [
            f"-- WorkDataHub load plan: domain {comment_text(plan.domain)}, "
            f"table {comment_text(plan.table)}, mode {plan.mode}, run {plan.run_id}",
            f"-- rows to insert: {plan.rows_to_insert}; rows read: {plan.rows_read}; "
            f"rows rejected: {plan.rows_rejected}",
            f"{HEADER_PREFIX}{PLACEHOLDER}",
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


class _HashingWriter:
    """Writes to ``handle`` and hashes what it wrote; remembers where placeholders went."""

    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle
        self._hasher = hashlib.sha256()
        self.position = 0
        self.slots: list[int] = []

    def write(self, data: bytes) -> int:
        # polars' CSV writer may hand over a memoryview: its len is its bytes (format "B").
        self._handle.write(data)
        self._hasher.update(data)
        self.position += len(data)
        return len(data)

    def write_with_slots(self, data: bytes) -> None:
        """Header and SQL: each placeholder in them is a slot for the digest."""
        found = data.find(_PLACEHOLDER)
        while found >= 0:
            self.slots.append(self.position + found)
            found = data.find(_PLACEHOLDER, found + len(_PLACEHOLDER))
        self.write(data)

    def hexdigest(self) -> str:
        return self._hasher.hexdigest()


def write_plan(
    plan: LoadPlan,
    handle: BinaryIO,
    summary: PlanSummary | None = None,
    *,
    rows_per_slice: int = ROWS_PER_SLICE,
) -> WrittenPlan:
    """Write the plan to ``handle`` (seekable, at its start), sealed; return its checksum.

    ``summary`` (default: the plan's own) is what the header shows, e.g. with a diff added.
    The rows never sit in memory whole: their length (the step line's) is counted a slice at a
    time, then they are written a slice at a time.

    Args:
        plan: The plan.
        handle: A seekable binary file, at the position the plan starts.
        summary: The summary the header shows (default: the plan's own).
        rows_per_slice: How many rows are rendered at a time.
    """
    shown = summary or plan.summary
    start = handle.tell()
    out = _HashingWriter(handle)
    out.write_with_slots("\n".join(_header(plan, shown)).encode("utf-8"))
    columns = list(plan.copy_columns)
    # Hashed as they are written (no second read); the statements after the COPY get it.
    digest = RowsDigest(list(zip(columns, plan.copy_types, strict=True)))
    rows_digest: str | None = None
    statements = []
    for planned in plan.statements:
        statement = (
            _filled(planned, ROWS_DIGEST_PLACEHOLDER, rows_digest) if rows_digest else planned
        )
        statements.append(statement)
        sql = statement.sql.encode("utf-8")
        if not statement.copy_rows:
            out.write(step_header(statement.purpose, sql, None))
            out.write_with_slots(sql)
            out.write(END_OF_SQL)
            continue
        length = sum(copy_length(rows, columns) for rows in plan.rows.frames(rows_per_slice))
        out.write(step_header(statement.purpose, sql, length))
        out.write_with_slots(sql)
        out.write(END_OF_SQL)
        rows_start = out.position
        for rows in plan.rows.frames(rows_per_slice):
            write_copy_text(rows, columns, out)
            digest.update(rows)
        rows_digest = digest.hexdigest()
        written = out.position - rows_start
        if written != length:
            # A bug guard: the step line announced another length (psql would misread the file).
            raise RuntimeError(f"the COPY rows are {written} bytes, the step line says {length}")
        out.write(END_OF_ROWS)
    checksum = out.hexdigest()
    for slot in out.slots:
        handle.seek(start + slot)
        handle.write(checksum.encode("ascii"))
    handle.seek(0, os.SEEK_END)
    return WrittenPlan(
        checksum, tuple(_filled(statement, PLACEHOLDER, checksum) for statement in statements)
    )


def seal(plan: LoadPlan, summary: PlanSummary | None = None) -> SealedPlan:
    """The plan file's bytes, in memory (tests and small plans; the dataset writes a file).

    Args:
        plan: The plan.
        summary: The summary the header shows (default: the plan's own).
    """
    buffer = io.BytesIO()
    written = write_plan(plan, buffer, summary)
    return SealedPlan(buffer.getvalue(), written.plan_sha256, written.statements)


def render_psql(plan: LoadPlan, summary: PlanSummary | None = None) -> bytes:
    """The plan as a script for ``psql -v ON_ERROR_STOP=1 -f PLAN``.

    Args:
        plan: The plan.
        summary: The summary the header shows (default: the plan's own).
    """
    return seal(plan, summary).script
