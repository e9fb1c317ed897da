"""The plan file: its layout, its checksum, and reading it back into the steps it will run.

Layout (a psql script)::

    -- WorkDataHub load plan
    -- domain: ... (the summary, see load.summary)
    -- summary-json: {...}
    \\set ON_ERROR_STOP on
    -- step begin: 5 bytes of SQL
    BEGIN;
    -- step copy: 80 bytes of SQL, 1234 bytes of rows
    COPY ... FROM STDIN;
    <rows in COPY text format>\\.

Each step line gives the exact byte lengths that follow, so reading the file back needs no SQL
parser: ``execute=true`` and ``apply_plan`` run precisely the statements and rows a reviewer read,
and psql sees an ordinary script (the step lines are comments to it).

Reading streams: the summary and the SQL are read, the rows are only located (their offset and
length in the file) and the checksum is recomputed block by block, so a plan of any size is
checked and applied in little memory. The rows' own SHA-256 is taken in that same pass, so
what is sent to the server later can be checked to be the very bytes that were verified.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, cast

from work_data_hub.errors import WorkDataHubError
from work_data_hub.load.checksum import (
    PlanChecksumError,
    check_claim,
    claimed_checksum,
    recompute_blocks,
)
from work_data_hub.load.steps import Step
from work_data_hub.load.summary import PlanSummary, read_summary

_STEP = re.compile(
    rb"-- step (?P<purpose>[a-z_]+): (?P<sql>\d+) bytes of SQL(?:, (?P<rows>\d+) bytes of rows)?\n"
)
_STEP_START = b"-- step "
END_OF_ROWS = b"\\.\n"
END_OF_SQL = b";\n"
# Reading in blocks of a mebibyte; a header (the summary) is far smaller than this cap.
BLOCK_SIZE = 1 << 20
_HEADER_LIMIT = 64 << 20
_STEP_LINE_LIMIT = 200
_STEP_NAMES = frozenset(step.value for step in Step)


class PlanFileError(WorkDataHubError, ValueError):
    """A file is not a WorkDataHub plan, or it was changed after it was made.

    Args:
        message: What is wrong with the file and what to do.
        file: The plan file (None when no plan was passed).
    """

    def __init__(self, message: str, *, file: str | None) -> None:
        super().__init__(message, file=file)


@dataclass(frozen=True)
class RowsExtent:
    """Where a COPY step's rows are in the plan file, and the SHA-256 of those bytes."""

    offset: int
    length: int
    sha256: str


@dataclass(frozen=True)
class PlanStep:
    """One statement of a saved plan, with where its COPY rows are when it has them."""

    purpose: Step
    sql: str
    rows: RowsExtent | None = None


@dataclass(frozen=True)
class SavedPlan:
    """A plan file read back: its summary, its steps, and whether its checksum holds.

    The rows stay in the file (``path``, or ``data`` for a plan read from bytes) until sent.
    """

    path: str
    summary: PlanSummary
    steps: tuple[PlanStep, ...]
    plan_sha256: str
    intact: bool
    data: bytes | None = field(default=None, repr=False)

    @property
    def rows_step(self) -> PlanStep | None:
        return next((step for step in self.steps if step.rows is not None), None)

    def open_rows(self) -> BinaryIO:
        """The COPY step's rows as a stream that ends where they end (empty without a COPY)."""
        step = self.rows_step
        if step is None or step.rows is None:
            return io.BytesIO(b"")
        if self.data is not None:
            source: BinaryIO = io.BytesIO(self.data)
        else:
            source = open(self.path, "rb")  # noqa: SIM115  (the reader closes it)
        # A RawIOBase is a binary stream; typeshed does not call it a BinaryIO.
        return cast(BinaryIO, RowsReader(source, step.rows))

    @property
    def copy_payload(self) -> bytes:
        """The rows of the plan's COPY step, read now (tests; the load streams them)."""
        with self.open_rows() as rows:
            return rows.read()


class RowsReader(io.RawIOBase):
    """Reads one rows extent of a plan, no further (the dataset hashes what it sends)."""

    def __init__(self, source: BinaryIO, extent: RowsExtent) -> None:
        super().__init__()
        self._source = source
        self._source.seek(extent.offset)
        self._left = extent.length

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        wanted = self._left if size is None or size < 0 else min(size, self._left)
        data = self._source.read(wanted) if wanted else b""
        self._left -= len(data)
        return data

    def close(self) -> None:
        self._source.close()
        super().close()


def step_header(purpose: Step, sql: bytes, rows_length: int | bytes | None) -> bytes:
    if isinstance(rows_length, bytes):
        rows_length = len(rows_length)
    rows_part = f", {rows_length} bytes of rows" if rows_length is not None else ""
    return f"-- step {purpose}: {len(sql)} bytes of SQL{rows_part}\n".encode()


def read_plan_file(text: bytes, path: str) -> SavedPlan:
    """The plan in ``text`` (the file at ``path``): summary, steps and checksum verdict.

    A file without a plan's summary raises :class:`PlanFileError`; a plan whose layout is
    broken, or whose bytes no longer match its checksum, comes back with ``intact=False`` (the
    caller refuses it).

    Args:
        text: The file's bytes.
        path: Where they come from (named in errors).

    Raises:
        PlanFileError: The bytes are not a WorkDataHub plan (no summary line).
    """
    return _read_plan(io.BytesIO(text), path, data=text)


def read_saved_plan(path: Path) -> SavedPlan:
    """The plan file at ``path``, as :func:`read_plan_file` reads it, streamed from the file.

    Args:
        path: The plan file.

    Raises:
        PlanFileError: The file is not a WorkDataHub plan (no summary line).
        OSError: The file cannot be read.
    """
    with path.open("rb") as handle:
        return _read_plan(handle, str(path))


def read_written_plan(handle: BinaryIO, path: str) -> SavedPlan:
    """The plan just written to ``handle`` (readable and seekable), read back from its start as
    :func:`read_saved_plan` reads a file: execute verifies the file it wrote before it commits.

    Args:
        handle: The plan file, open for reading.
        path: Where it is (or will be) named in messages.

    Raises:
        PlanFileError: The bytes are not a WorkDataHub plan (no summary line).
    """
    handle.seek(0)
    return _read_plan(handle, path)


def read_plan_summary(path: Path) -> PlanSummary:
    """The summary of the plan file at ``path``, from its header alone (no checksum check).

    Args:
        path: The plan file.

    Raises:
        PlanFileError: The file is not a WorkDataHub plan (no summary line).
        OSError: The file cannot be read.
    """
    with path.open("rb") as handle:
        return _summary(_header(handle), str(path))


def _summary(header: bytes, path: str) -> PlanSummary:
    summary = read_summary(header)
    if summary is None:
        raise PlanFileError(
            f"{path} is not a WorkDataHub plan (no '-- summary-json:' line): make plans with "
            "kedro run, then pass the file under data/08_reporting/plans/ as plan=PATH",
            file=path,
        )
    return summary


def _header(handle: BinaryIO) -> bytes:
    """The bytes before the first step line; the handle is left at that line."""
    lines: list[bytes] = []
    size = 0
    while size <= _HEADER_LIMIT:
        start = handle.tell()
        line = handle.readline(_HEADER_LIMIT)
        if not line:
            break
        if line.startswith(_STEP_START):
            handle.seek(start)
            break
        lines.append(line)
        size += len(line)
    return b"".join(lines)


def _read_plan(handle: BinaryIO, path: str, data: bytes | None = None) -> SavedPlan:
    header = _header(handle)
    summary = _summary(header, path)
    layout = _layout(handle)
    claimed = claimed_checksum(header)
    extents = [extent for _, _, extent in layout or ()]
    handle.seek(0)
    blocks = _Blocks(handle, extents)
    recomputed = recompute_blocks(blocks, claimed) if claimed else None
    try:
        intact = check_claim(claimed, recomputed) == summary.plan_sha256
    except PlanChecksumError:
        intact = False
    if layout is None or not intact:
        return SavedPlan(path, summary, (), summary.plan_sha256, intact=False, data=data)
    steps = tuple(
        PlanStep(
            purpose,
            sql,
            RowsExtent(extent[0], extent[1], blocks.rows_sha256[extent]) if extent else None,
        )
        for purpose, sql, extent in layout
    )
    return SavedPlan(path, summary, steps, summary.plan_sha256, intact=True, data=data)


def _layout(handle: BinaryIO) -> list[tuple[Step, str, tuple[int, int] | None]] | None:
    """The steps from the handle's position to the end, or None when the layout is broken.

    Each step: purpose, SQL, and the rows' (offset, length) in the file when it has rows. A step
    name no plan is made with breaks the layout too: a statement is never run under a name the
    client does not know.
    """
    steps: list[tuple[Step, str, tuple[int, int] | None]] = []
    while line := handle.readline(_STEP_LINE_LIMIT):
        header = _STEP.fullmatch(line)
        if header is None:
            return None
        sql = handle.read(int(header["sql"]))
        if len(sql) != int(header["sql"]) or handle.read(2) != END_OF_SQL:
            return None
        extent: tuple[int, int] | None = None
        if header["rows"] is not None:
            extent = (handle.tell(), int(header["rows"]))
            handle.seek(sum(extent))
            if handle.read(3) != END_OF_ROWS:
                return None
        purpose = header["purpose"].decode()
        if purpose not in _STEP_NAMES:
            return None
        try:
            steps.append((Step(purpose), sql.decode("utf-8"), extent))
        except UnicodeDecodeError:
            return None
    return steps


class _Blocks:
    """The file's blocks, front to back; hashes the rows extents on the way (one read)."""

    def __init__(self, handle: BinaryIO, extents: list[tuple[int, int] | None]) -> None:
        self._handle = handle
        self._extents = [extent for extent in extents if extent is not None]
        self._hashers = {extent: hashlib.sha256() for extent in self._extents}
        self.rows_sha256: dict[tuple[int, int], str] = {}

    def __iter__(self) -> Iterator[bytes]:
        position = 0
        while block := self._handle.read(BLOCK_SIZE):
            end = position + len(block)
            for (offset, length), hasher in self._hashers.items():
                start, stop = max(offset, position), min(offset + length, end)
                if start < stop:
                    hasher.update(memoryview(block)[start - position : stop - position])
            yield block
            position = end
        self.rows_sha256 = {extent: hasher.hexdigest() for extent, hasher in self._hashers.items()}
