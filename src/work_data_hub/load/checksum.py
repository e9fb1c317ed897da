"""A plan's own checksum: ``plan_sha256``, recorded in the ledger and written into the plan.

``plan_sha256`` is the SHA-256 of the plan file's bytes in which every occurrence of the
plan's own checksum is replaced by :data:`PLACEHOLDER` (64 ``0`` characters). The plan is
rendered with the placeholder, hashed, and the placeholder's slots (the header line and the
ledger row) get the digest; so any changed byte of rows, statements or summary changes it,
and :func:`verify` recomputes it from the file alone.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

PLACEHOLDER = "0" * 64
HEADER_PREFIX = "-- plan_sha256: "
_HEADER = re.compile(rb"^-- plan_sha256: ([0-9a-f]{64})$", re.MULTILINE)


def digest(parts: Iterable[bytes]) -> str:
    """SHA-256 of the parts' concatenation (hashed part by part: no second copy of the rows)."""
    hasher = hashlib.sha256()
    for part in parts:
        hasher.update(part)
    return hasher.hexdigest()


def claimed_checksum(plan: bytes) -> str | None:
    """The checksum a plan file says it has (its ``-- plan_sha256:`` line), or None."""
    match = _HEADER.search(plan)
    return match.group(1).decode("ascii") if match else None


def recompute(plan: bytes, claimed: str) -> str:
    """The checksum of ``plan`` on the assumption that its own checksum is ``claimed``."""
    return digest([plan.replace(claimed.encode("ascii"), PLACEHOLDER.encode("ascii"))])


def verify(plan: bytes) -> str:
    """The plan's checksum if the file is intact; :class:`PlanChecksumError` otherwise."""
    claimed = claimed_checksum(plan)
    if claimed is None:
        raise PlanChecksumError(f"the file has no '{HEADER_PREFIX.strip()}' line: not a plan")
    if claimed == PLACEHOLDER or recompute(plan, claimed) != claimed:
        raise PlanChecksumError(
            "the file was changed after it was written (its checksum does not match)"
        )
    return claimed


class PlanChecksumError(ValueError):
    """A plan file is not the plan that was written (callers wrap it with the file's path)."""
