"""Files that carry data (plans, rejects, run reports, run logs) are readable by their owner only."""

from __future__ import annotations

import os
from pathlib import Path

OWNER_ONLY = 0o600


def open_owner_only(path: str | os.PathLike[str], *, append: bool = False) -> int:
    """A descriptor for writing ``path``, created (or truncated) with mode 0600.

    The mode is set at creation, so there is no moment where the file is readable by others
    (a chmod after writing would leave one), and enforced again for a file that already existed.
    """
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
    descriptor = os.open(path, flags, OWNER_ONLY)
    os.fchmod(descriptor, OWNER_ONLY)
    return descriptor
