"""Compiled bytecode kept where Python is told not to write it (``PYTHONDONTWRITEBYTECODE``).

Containers and CI images often set ``PYTHONDONTWRITEBYTECODE=1``. Python then compiles every
module it imports again in every process, and a virtual environment set up by ``uv run`` alone
(the README's quick start) holds no bytecode: every ``kedro`` command would compile its modules
again before doing anything. uv's ``compile-bytecode`` setting is no cure: with it, every ``uv run`` compiles
the whole environment again before the command starts.

So, in that case only, a process that imported this package compiles at its end the modules it
imported from this environment's site-packages or from this package whose bytecode is missing or
out of date, into the ``__pycache__`` folder Python reads (``py_compile``, as
``uv sync --compile-bytecode`` does), and the next process starts from them. Python compares
each bytecode file with its source (modification time and size) before using it, so an edited
module is compiled afresh, never run from stale bytecode; the next process to end writes its
bytecode again. A folder this user may not write to is left alone.
"""

from __future__ import annotations

import atexit
import os
import sys
import warnings
from collections.abc import Iterable
from importlib.util import MAGIC_NUMBER

# What _bytecode_stamp says of bytecode checked against a hash of its source (PEP 552).
HASH_BASED = b"hash"


def keep_bytecode() -> None:
    """Where Python may not write bytecode, write this process's bytecode at its end."""
    if sys.dont_write_bytecode:
        atexit.register(write_missing_bytecode)


def write_missing_bytecode(roots: Iterable[str] | None = None) -> list[str]:
    """Compile the imported modules under ``roots`` whose bytecode is missing or out of date.

    Args:
        roots: Folders whose modules are compiled; by default this environment's site-packages
            and this package.

    Returns:
        The source files compiled.
    """
    import py_compile  # noqa: PLC0415  (only when something may need compiling)

    if roots is None:
        roots = _default_roots()
    prefixes = tuple(os.path.join(os.path.abspath(root), "") for root in roots)
    writable: dict[str, bool] = {}
    compiled = []
    for module in list(sys.modules.values()):
        spec = getattr(module, "__spec__", None)
        source = getattr(spec, "origin", None)
        cached = getattr(spec, "cached", None)
        if not (isinstance(source, str) and isinstance(cached, str)):
            continue
        if not source.endswith(".py") or not source.startswith(prefixes):
            continue
        before = _source_stamp(source)
        if before is None or _bytecode_stamp(cached) in (before, HASH_BASED):
            continue
        folder = os.path.dirname(cached)
        if folder not in writable:
            writable[folder] = _may_write(folder)
        if not writable[folder]:
            continue
        try:
            with warnings.catch_warnings():  # its import showed them already
                warnings.simplefilter("ignore")
                py_compile.compile(source, cfile=cached, doraise=True)
            if _bytecode_stamp(cached) not in (before, HASH_BASED):
                os.unlink(cached)  # the source changed while it was compiled
                continue
        except (py_compile.PyCompileError, OSError):
            continue  # a file that no longer compiles, or went away: its import says why
        compiled.append(source)
    return compiled


def _default_roots() -> list[str]:
    import sysconfig  # noqa: PLC0415

    paths = sysconfig.get_paths()
    return [paths["purelib"], paths["platlib"], os.path.dirname(__file__)]


def _source_stamp(source: str) -> bytes | None:
    """The source's modification time and size as a bytecode header records them."""
    try:
        status = os.stat(source)
    except OSError:
        return None
    mtime, size = int(status.st_mtime) & 0xFFFFFFFF, status.st_size & 0xFFFFFFFF
    return mtime.to_bytes(4, "little") + size.to_bytes(4, "little")


def _bytecode_stamp(cached: str) -> bytes | None:
    """The source stamp a bytecode file was compiled from (``HASH_BASED`` when Python checks
    it against a hash of the source instead), or None when Python cannot use it."""
    try:
        with open(cached, "rb") as handle:
            header = handle.read(16)
    except OSError:
        return None
    if len(header) < 16 or header[:4] != MAGIC_NUMBER:
        return None
    return HASH_BASED if int.from_bytes(header[4:8], "little") else header[8:16]


def _may_write(folder: str) -> bool:
    """Whether this user may write ``folder``, or create it in its nearest existing parent."""
    while not os.path.isdir(folder):
        parent = os.path.dirname(folder)
        if parent == folder:
            return False
        folder = parent
    return os.access(folder, os.W_OK)
