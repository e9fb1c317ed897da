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
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from work_data_hub.errors import WorkDataHubError
from work_data_hub.load.checksum import PlanChecksumError, verify
from work_data_hub.load.summary import PlanSummary, read_summary

_STEP = re.compile(
    rb"-- step (?P<purpose>[a-z_]+): (?P<sql>\d+) bytes of SQL(?:, (?P<rows>\d+) bytes of rows)?\n"
)
_END_OF_ROWS = b"\\.\n"
_END_OF_SQL = b";\n"


class PlanFileError(WorkDataHubError, ValueError):
    """A file is not a WorkDataHub plan, or it was changed after it was made."""


@dataclass(frozen=True)
class PlanStep:
    """One statement of a saved plan, with its COPY rows when it has them."""

    purpose: str
    sql: str
    rows: bytes | None = None


@dataclass(frozen=True)
class SavedPlan:
    """A plan file read back: its summary, its steps, and whether its checksum holds."""

    path: str
    summary: PlanSummary
    steps: tuple[PlanStep, ...]
    plan_sha256: str
    intact: bool

    @property
    def copy_payload(self) -> bytes:
        """The rows of the plan's COPY step (empty when it has none)."""
        return next((step.rows for step in self.steps if step.rows is not None), b"")


def step_header(purpose: str, sql: bytes, rows: bytes | None) -> bytes:
    rows_part = f", {len(rows)} bytes of rows" if rows is not None else ""
    return f"-- step {purpose}: {len(sql)} bytes of SQL{rows_part}\n".encode()


def read_plan_file(text: bytes, path: str) -> SavedPlan:
    """The plan in ``text`` (the file at ``path``): summary, steps and checksum verdict.

    A file that is not laid out as a plan raises :class:`PlanFileError`; a plan whose bytes no
    longer match its checksum comes back with ``intact=False`` (the caller refuses it).
    """
    summary = read_summary(text)
    if summary is None:
        raise PlanFileError(
            f"{path} is not a WorkDataHub plan (no '-- summary-json:' line): make plans with "
            "kedro run, then pass the file under data/08_reporting/plans/ as plan=PATH"
        )
    try:
        intact = verify(text) == summary.plan_sha256
    except PlanChecksumError:
        intact = False
    first = re.search(rb"(?m)^-- step ", text)
    steps = _steps(text, first.start() if first else len(text)) if intact else None
    if steps is None:
        return SavedPlan(path, summary, (), summary.plan_sha256, intact=False)
    return SavedPlan(path, summary, steps, summary.plan_sha256, intact=True)


def _steps(text: bytes, position: int) -> tuple[PlanStep, ...] | None:
    """The steps from ``position`` to the end, or None when the layout is broken."""
    steps: list[PlanStep] = []
    while position < len(text):
        header = _STEP.match(text, position)
        if header is None:
            return None
        position = header.end()
        sql_end = position + int(header["sql"])
        sql = text[position:sql_end]
        if text[sql_end : sql_end + 2] != _END_OF_SQL:
            return None
        position = sql_end + 2
        rows: bytes | None = None
        if header["rows"] is not None:
            rows_end = position + int(header["rows"])
            rows = text[position:rows_end]
            if text[rows_end : rows_end + 3] != _END_OF_ROWS:
                return None
            position = rows_end + 3
        steps.append(PlanStep(header["purpose"].decode(), sql.decode("utf-8"), rows))
    return tuple(steps)
