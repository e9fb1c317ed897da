"""The plan as a script for ``psql -v ON_ERROR_STOP=1 -f PLAN``, sealed with its own checksum.

Layout (read back by :mod:`work_data_hub.load.plan_file`): the summary as SQL comments (with
the ``-- plan_sha256:`` line), then each step as a ``-- step`` comment giving the exact byte
lengths of its SQL and rows, the SQL, and after a ``COPY`` its rows and ``\\.``.

The file is written once, front to back, and hashed as it is written: the rows a slice at a
time (never the whole payload in memory), the header and the SQL with the checksum's
placeholder in its slots, which get the digest last (same length, written in place). A thread
renders the rows' COPY text a slice or two ahead of the writer, so the writer, and with it the
server, waits for the next slice at most; another takes the rows' digest behind it (the
statements after the rows need it, the rows do not).

Execute hands the writer a :class:`PlanSink`: each statement goes to the server once it is in
the file, and the COPY rows piece by piece as they are written, up to the first statement that
names the plan's own checksum (the guard's "already applied"), which only the finished file
knows. The caller runs the rest from the finished file, once it has verified it.
"""

from __future__ import annotations

import hashlib
import io
import os
import queue
import threading
import time
from collections import deque
from contextlib import suppress
from dataclasses import dataclass, field, replace
from typing import BinaryIO, Protocol

from work_data_hub.load.checksum import HEADER_PREFIX, PLACEHOLDER
from work_data_hub.load.copy_format import copy_length, write_copy_text
from work_data_hub.load.plan import LoadPlan, Statement
from work_data_hub.load.plan_file import END_OF_ROWS, END_OF_SQL, step_header
from work_data_hub.load.rows_digest import ROWS_DIGEST_PLACEHOLDER, RowsDigest
from work_data_hub.load.summary import PlanSummary, comment_text
from work_data_hub.rows import ROWS_PER_SLICE

_PLACEHOLDER = PLACEHOLDER.encode("ascii")
# Rendered slices waiting for the writer: memory holds these, the one being rendered and the
# one being written.
SLICES_AHEAD = 2


class RowsStream(Protocol):
    """The COPY rows as the driver reads them: ``read(size)`` until it gives ``b""``."""

    def read(self, size: int = -1, /) -> bytes: ...


class PlanSink(Protocol):
    """Where the writer sends each statement once it is in the file (execute's transaction).

    A sink records a failure of the server and ignores what follows, rather than raising: the
    file is still written whole, for review.
    """

    def execute(self, statement: Statement) -> None:
        """Run ``statement`` (a statement without rows)."""

    def copy(self, statement: Statement, rows: RowsStream) -> None:
        """Run the COPY ``statement``, reading its rows from ``rows`` (each piece is in the
        file before it is handed over); it may stop reading early when the server failed."""


@dataclass(frozen=True)
class WrittenPlan:
    """What writing a plan gave: its ``plan_sha256`` and the statements as written (sealed)."""

    plan_sha256: str
    statements: tuple[Statement, ...]
    # How long the rows took: their length (the step line's, copy_length: summed from what
    # cleaning counted, counted where it could not), rendering
    # their COPY text and their digest (copy_render, copy_digest: in threads beside the writer),
    # the writer waiting for a rendered slice (copy_waited) and, after the rows, for the digest
    # (digest_waited).
    seconds: dict[str, float] = field(default_factory=dict)


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


class _WriterStoppedError(Exception):
    """The writer stopped (it was interrupted): the threads helping it end."""


class _Pieces:
    """Collects the pieces polars' CSV writer hands over (a memoryview may be reused: copied)."""

    def __init__(self) -> None:
        self.taken: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.taken.append(bytes(data))
        return len(data)


_Rendered = list[bytes] | BaseException | None


class _RenderedRows:
    """The plan's COPY rows, rendered by a thread a slice or two ahead, read by the writer.

    Each piece read is written to the plan file (and hashed) before it is returned, so whatever
    the reader hands on is already in the file. What the rendering raises (a value COPY cannot
    carry) is raised by the next read. A second thread takes the rows' digest, reading the
    slices on its own from the start (the statements after the rows need it, the rows do not),
    so it works while the rows' length is summed, when the server waits anyway.
    """

    def __init__(self, plan: LoadPlan, out: _HashingWriter, rows_per_slice: int) -> None:
        self._plan = plan
        self._out = out
        self._rows_per_slice = rows_per_slice
        self._columns = list(plan.copy_columns)
        self._digest = RowsDigest(list(zip(self._columns, plan.copy_types, strict=True)))
        self._rendered: queue.Queue[_Rendered] = queue.Queue(SLICES_AHEAD)
        self._pieces: deque[bytes] = deque()
        self._stop = threading.Event()
        self._ended = False
        self._failure: BaseException | None = None
        self._digest_failure: BaseException | None = None
        self.seconds = {"copy_render": 0.0, "copy_digest": 0.0, "copy_waited": 0.0}
        self._threads = [
            threading.Thread(target=self._render, name="wdh-copy-rows", daemon=True),
            threading.Thread(target=self._take_digest, name="wdh-rows-digest", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _render(self) -> None:
        try:
            for rows in self._plan.rows.frames(self._rows_per_slice):
                started = time.perf_counter()
                pieces = _Pieces()
                write_copy_text(rows, self._columns, pieces)
                self.seconds["copy_render"] += time.perf_counter() - started
                self._put(pieces.taken)
            self._put(None)
        except _WriterStoppedError:
            return
        except BaseException as exc:  # handed to the reader, which raises it
            with suppress(_WriterStoppedError):
                self._put(exc)

    def _take_digest(self) -> None:
        try:
            for rows in self._plan.rows.frames(self._rows_per_slice):
                if self._stop.is_set():
                    return
                started = time.perf_counter()
                self._digest.update(rows)
                self.seconds["copy_digest"] += time.perf_counter() - started
        except BaseException as exc:  # raised by hexdigest
            self._digest_failure = exc

    def _put(self, item: _Rendered) -> None:
        while not self._stop.is_set():
            try:
                self._rendered.put(item, timeout=0.1)
                return
            except queue.Full:
                continue
        raise _WriterStoppedError

    def read(self, size: int = -1, /) -> bytes:
        """The next piece of the rows (at most ``size`` bytes), written to the file first."""
        if self._failure is not None:
            raise self._failure
        if not self._pieces and not self._next_slice():
            return b""
        piece = self._pieces.popleft()
        if 0 <= size < len(piece):
            self._pieces.appendleft(piece[size:])
            piece = piece[:size]
        self._out.write(piece)
        return piece

    def _next_slice(self) -> bool:
        while not self._pieces and not self._ended:
            started = time.perf_counter()
            item = self._rendered.get()
            self.seconds["copy_waited"] += time.perf_counter() - started
            if item is None:
                self._ended = True
            elif isinstance(item, BaseException):
                self._ended = True
                self._failure = item
                raise item
            else:
                self._pieces.extend(item)
        return bool(self._pieces)

    def drain(self) -> None:
        """Write what was not read (there is no sink, or the server failed) to the file."""
        while self.read(1 << 20):
            pass

    def hexdigest(self) -> str:
        """The rows' digest, once the digest thread has taken every slice."""
        started = time.perf_counter()
        for thread in self._threads:
            thread.join()
        self.seconds["digest_waited"] = time.perf_counter() - started
        if self._digest_failure is not None:
            raise self._digest_failure
        return self._digest.hexdigest()

    def stop(self) -> None:
        """Stop the threads at once (the writer failed or was interrupted) and wait for them."""
        self._stop.set()
        for thread in self._threads:
            thread.join()


def write_plan(
    plan: LoadPlan,
    handle: BinaryIO,
    summary: PlanSummary | None = None,
    *,
    rows_per_slice: int = ROWS_PER_SLICE,
    sink: PlanSink | None = None,
) -> WrittenPlan:
    """Write the plan to ``handle`` (seekable, at its start), sealed; return its checksum.

    ``summary`` (default: the plan's own) is what the header shows, e.g. with a diff added.
    The rows never sit in memory whole: their length (the step line's) is counted a slice at a
    time, then they are written a slice at a time. With a ``sink``, each statement is sent to it
    as soon as it is in the file, until the first one that names the plan's own checksum.

    Args:
        plan: The plan.
        handle: A seekable binary file, at the position the plan starts.
        summary: The summary the header shows (default: the plan's own).
        rows_per_slice: How many rows are rendered at a time.
        sink: Where each statement goes once it is written (execute's transaction).

    Raises:
        ValueError: A value of the rows cannot be written as COPY text (a NUL character).
    """
    shown = summary or plan.summary
    start = handle.tell()
    out = _HashingWriter(handle)
    out.write_with_slots("\n".join(_header(plan, shown)).encode("utf-8"))
    # Hashed as they are written (no second read); the statements after the COPY get it.
    rows_digest: str | None = None
    statements = []
    seconds: dict[str, float] = {}
    sending = sink is not None
    for planned in plan.statements:
        statement = (
            _filled(planned, ROWS_DIGEST_PLACEHOLDER, rows_digest) if rows_digest else planned
        )
        statements.append(statement)
        # The plan's own checksum is known only once the file is whole: from here on, the
        # caller runs the statements from the finished file.
        sending = sending and PLACEHOLDER not in statement.sql
        sql = statement.sql.encode("utf-8")
        if not statement.copy_rows:
            out.write(step_header(statement.purpose, sql, None))
            out.write_with_slots(sql)
            out.write(END_OF_SQL)
            if sending and sink is not None:
                sink.execute(statement)
            continue
        rows_digest = _write_rows(
            plan, statement, out, sink if sending else None, rows_per_slice, seconds
        )
    checksum = out.hexdigest()
    for slot in out.slots:
        handle.seek(start + slot)
        handle.write(checksum.encode("ascii"))
    handle.seek(0, os.SEEK_END)
    return WrittenPlan(
        checksum,
        tuple(_filled(statement, PLACEHOLDER, checksum) for statement in statements),
        seconds,
    )


def _write_rows(
    plan: LoadPlan,
    statement: Statement,
    out: _HashingWriter,
    sink: PlanSink | None,
    rows_per_slice: int,
    seconds: dict[str, float],
) -> str:
    """The COPY step: its line (with the rows' length), its SQL, its rows; their digest."""
    columns = list(plan.copy_columns)
    sql = statement.sql.encode("utf-8")
    rows = _RenderedRows(plan, out, rows_per_slice)  # rendering starts while the length is summed
    try:
        started = time.perf_counter()
        length = plan.rows.copy_length(
            columns, lambda rows: copy_length(rows, columns), rows_per_slice
        )
        seconds["copy_length"] = time.perf_counter() - started
        out.write(step_header(statement.purpose, sql, length))
        out.write_with_slots(sql)
        out.write(END_OF_SQL)
        rows_start = out.position
        if sink is not None:
            sink.copy(statement, rows)
        rows.drain()
        digest = rows.hexdigest()
    except BaseException:
        rows.stop()
        raise
    seconds.update(rows.seconds)
    written = out.position - rows_start
    if written != length:
        # A bug guard: the step line announced another length (psql would misread the file).
        raise RuntimeError(f"the COPY rows are {written} bytes, the step line says {length}")
    out.write(END_OF_ROWS)
    return digest


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
