"""A plan's own checksum: ``plan_sha256``, recorded in the ledger and written into the plan.

``plan_sha256`` is the SHA-256 of the plan file's bytes in which every occurrence of the
plan's own checksum is replaced by :data:`PLACEHOLDER` (64 ``0`` characters). The plan is
written with the placeholder, hashed as it is written, and the placeholder's slots (the header
lines and the ledger row) get the digest; so any changed byte of rows, statements or summary
changes it, and :func:`verify` recomputes it from the file alone. Files are hashed block by
block: a plan is never held in memory whole.
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


def recompute_blocks(blocks: Iterable[bytes], claimed: str) -> str:
    """The checksum of the concatenated ``blocks``, assuming the plan's own checksum is ``claimed``.

    Exactly ``bytes.replace`` over the whole file (occurrences found left to right, never
    overlapping), one block at a time: the last 63 bytes of a block are held back, unreplaced,
    since an occurrence may start there and end in the next block.
    """
    needle = claimed.encode("ascii")
    zeros = PLACEHOLDER.encode("ascii")
    held_back = len(needle) - 1
    hasher = hashlib.sha256()
    carry = b""
    for block in blocks:
        data = carry + block if carry else block
        position = 0
        while (found := data.find(needle, position)) >= 0:
            hasher.update(memoryview(data)[position:found])
            hasher.update(zeros)
            position = found + len(needle)
        # No occurrence starts before `safe`, and one starting later may run past this block.
        safe = max(position, len(data) - held_back)
        hasher.update(memoryview(data)[position:safe])
        carry = data[safe:]
    hasher.update(carry)
    return hasher.hexdigest()


def recompute(plan: bytes, claimed: str) -> str:
    """The checksum of ``plan`` on the assumption that its own checksum is ``claimed``."""
    return recompute_blocks([plan], claimed)


def check_claim(claimed: str | None, recomputed: str | None) -> str:
    """``claimed`` if it is a checksum and the bytes recompute to it; else PlanChecksumError."""
    if claimed is None:
        raise PlanChecksumError(f"the file has no '{HEADER_PREFIX.strip()}' line: not a plan")
    if claimed == PLACEHOLDER or recomputed != claimed:
        raise PlanChecksumError(
            "the file was changed after it was written (its checksum does not match)"
        )
    return claimed


def verify(plan: bytes) -> str:
    """The plan's checksum if the file is intact; :class:`PlanChecksumError` otherwise."""
    claimed = claimed_checksum(plan)
    return check_claim(claimed, recompute(plan, claimed) if claimed else None)


class PlanChecksumError(ValueError):
    """A plan file is not the plan that was written (callers wrap it with the file's path)."""
