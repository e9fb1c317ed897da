"""Files that carry data (plans, rejects, run reports, run logs) are readable by their owner only."""

from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path
from typing import BinaryIO

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


class PendingFile:
    """A file written without a name, owner-only, that appears at ``path`` only when complete.

    Written in ``path``'s folder as an unnamed file (Linux ``O_TMPFILE``), it gets its name
    when :meth:`publish` is called; a process killed or failing before that leaves nothing
    behind. Where the file system has no unnamed files, it is written under a hidden temporary
    name beside ``path`` instead (removed on failure; only a killed process leaves it).
    Replaces a file already at ``path`` when published. Use as a context manager.

    Args:
        path: Where the file appears once published.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._temporary: Path | None = None
        descriptor = _unnamed_file(self.path.parent)
        if descriptor is None:
            descriptor, name = tempfile.mkstemp(
                prefix=f".{self.path.name}.", suffix=".partial", dir=self.path.parent
            )
            self._temporary = Path(name)
        os.fchmod(descriptor, OWNER_ONLY)
        self.handle: BinaryIO = os.fdopen(descriptor, "w+b")
        self.published = False

    def publish(self) -> None:
        """Give the written file its name (flushed first)."""
        self.handle.flush()
        if self._temporary is None:
            # Linked under a hidden name first, then renamed over any file at path (atomic).
            linked = f".{self.path.name}.{uuid.uuid4().hex}.partial"
            folder = os.open(self.path.parent, os.O_RDONLY | os.O_DIRECTORY)
            try:
                # With a dir_fd, os.link is linkat(AT_SYMLINK_FOLLOW): it links the file the
                # descriptor's /proc entry points to, not that entry.
                os.link(
                    f"/proc/self/fd/{self.handle.fileno()}",
                    linked,
                    dst_dir_fd=folder,
                    follow_symlinks=True,
                )
                os.replace(linked, self.path.name, src_dir_fd=folder, dst_dir_fd=folder)
            finally:
                os.close(folder)
        else:
            os.replace(self._temporary, self.path)
            self._temporary = None
        self.published = True

    def __enter__(self) -> PendingFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.handle.close()
        if self._temporary is not None:
            self._temporary.unlink(missing_ok=True)


def _unnamed_file(folder: Path) -> int | None:
    """A descriptor of a new unnamed file in ``folder``, or None where there are none."""
    flag = getattr(os, "O_TMPFILE", None)
    if flag is None or not Path("/proc/self/fd").is_dir():
        return None
    try:
        return os.open(folder, flag | os.O_RDWR, OWNER_ONLY)
    except OSError:
        return None  # a file system without them (EOPNOTSUPP, EISDIR on old kernels)
