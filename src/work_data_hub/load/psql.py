"""The plan as a script for ``psql -v ON_ERROR_STOP=1 -f PLAN``, sealed with its own checksum."""

from __future__ import annotations

import re
from dataclasses import dataclass

from work_data_hub.load.checksum import HEADER_PREFIX, PLACEHOLDER, digest
from work_data_hub.load.plan import LoadPlan, Statement


def _comment(text: str) -> str:
    return re.sub(r"[\x00-\x1f\x7f]", " ", text)


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


def _parts(plan: LoadPlan, checksum: str) -> list[bytes]:
    header = [
        f"-- WorkDataHub load plan: domain {_comment(plan.domain)}, table {_comment(plan.table)}, "
        f"mode {plan.mode}, run {plan.run_id}",
        f"-- rows to insert: {plan.rows_to_insert}; rows read: {plan.rows_read}; "
        f"rows rejected: {plan.rows_rejected}",
        *(
            f"-- source file: {_comment(file.path)} (period {file.period}, sha256 {file.sha256}, "
            f"{file.rows} rows)"
            for file in plan.files
        ),
        f"{HEADER_PREFIX}{checksum}",
        *(
            ["-- nothing to load: every selected file is already loaded (see the ledger)"]
            if plan.nothing_to_load
            else []
        ),
        "-- apply with: psql -v ON_ERROR_STOP=1 -f <this file> <database>",
        "\\set ON_ERROR_STOP on",
        "\\encoding UTF8",
        "",
    ]
    parts = ["\n".join(header).encode("utf-8")]
    for statement in plan.statements:
        parts.append(f"{_with_checksum(statement, checksum).sql};\n".encode())
        if statement.copy_rows:
            parts.append(plan.copy_payload)
            parts.append(b"\\.\n")
    return parts


def seal(plan: LoadPlan) -> SealedPlan:
    """Render the plan with the placeholder, hash it, and write the digest into its slots."""
    checksum = digest(_parts(plan, PLACEHOLDER))
    statements = tuple(_with_checksum(statement, checksum) for statement in plan.statements)
    return SealedPlan(b"".join(_parts(plan, checksum)), checksum, statements)


def render_psql(plan: LoadPlan) -> bytes:
    """The plan as a script for ``psql -v ON_ERROR_STOP=1 -f PLAN``."""
    return seal(plan).script
