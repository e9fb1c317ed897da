"""The clean rows of a run: one part per source file, so memory is bounded by one file.

In a run of several files each file's clean rows are spooled to an Arrow IPC file in a private
temporary folder as soon as the file is cleaned. The decisions over all files (duplicate keys,
then the counts and refresh scopes of the plan's summary) read back only the columns they
need, one file at a time. The plan is then written, and executed, a slice of one file at a
time (:meth:`CleanRows.frames`).
"""

from __future__ import annotations

import itertools
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

# The lineage columns (as cleaning.reading names them; not imported: the load needs no reader).
SOURCE_FILE = "_source_file"
SOURCE_ROW = "_source_row"

# Rows per slice of COPY text: a few megabytes, whatever the size of a file.
ROWS_PER_SLICE = 100_000


class RowSpool:
    """A private temporary folder (mode 0700) holding one Arrow IPC file per source file.

    Removed when the last :class:`CleanRows` that reads from it is garbage-collected, and at
    interpreter exit at the latest.
    """

    def __init__(self) -> None:
        self._folder = tempfile.TemporaryDirectory(prefix="wdh_rows_")
        # Files are cleaned (and kept) in several threads at once: count() numbers atomically.
        self._numbers = itertools.count()

    def keep(self, rows: pl.DataFrame, copy_length: CopyLength | None = None) -> FileRows:
        path = Path(self._folder.name) / f"{next(self._numbers):05d}.arrow"
        rows.write_ipc(path, compression="uncompressed")
        return FileRows(None, path, rows.height, self, rows.schema, copy_length)


@dataclass(frozen=True)
class CopyLength:
    """A part's rows' length as COPY text in ``columns`` (what the plan's step line announces),
    counted where the rows were in memory anyway, so that writing the plan need not read them
    once more before the COPY starts."""

    columns: tuple[str, ...]
    length: int


@dataclass(frozen=True, eq=False)
class FileRows:
    """One file's clean rows: in memory (``frame``) or spooled (``path``)."""

    frame: pl.DataFrame | None
    path: Path | None = None
    height: int = 0
    # Keeps the spool's folder alive as long as these rows may be read.
    spool: RowSpool | None = None
    schema: pl.Schema = field(default_factory=pl.Schema)
    copy_length: CopyLength | None = None

    @classmethod
    def in_memory(cls, rows: pl.DataFrame, copy_length: CopyLength | None = None) -> FileRows:
        return cls(rows, None, rows.height, schema=rows.schema, copy_length=copy_length)

    def read(self, columns: list[str] | None = None) -> pl.DataFrame:
        """The rows (only ``columns``, when given: Arrow IPC reads just those)."""
        if self.frame is not None:
            return self.frame if columns is None else self.frame.select(columns)
        assert self.path is not None
        return pl.read_ipc(self.path, columns=columns)


Scope = tuple[str | None, ...]


@dataclass(frozen=True, eq=False)
class CleanRows:
    """All files' clean rows, in file order, once the decisions over all files are made.

    ``kept`` says, per part, which of its rows survived those decisions (None: all). What the
    plan's summary and ledger need of all rows (``rows``, ``files``, ``scopes``) is counted once,
    here; the key columns it was counted from are not kept, so writing the plan holds one file.
    Immutable: Kedro's MemoryDataset hands it on as it is (a deep copy would read the spool).
    """

    parts: tuple[FileRows, ...]
    kept: tuple[pl.Series | None, ...]
    schema: pl.Schema
    rows: int
    # (source file, rows) in file order, and the distinct refresh-scope values as text, sorted.
    files: tuple[tuple[str, int], ...]
    refresh_scope: tuple[str, ...]
    scopes: tuple[Scope, ...]

    @classmethod
    def decided(
        cls,
        parts: Sequence[FileRows],
        kept: Sequence[pl.Series | None],
        refresh_scope: Sequence[str],
        schema: pl.Schema,
    ) -> CleanRows:
        """The rows of ``parts`` that ``kept`` keeps, with their counts and refresh scopes.

        Counted a part at a time, reading only the columns needed, so a group-by's hash table
        is one file's size (over 1.2 million rows of text at once it takes as much memory as a
        file's rows).
        """
        files: dict[str, int] = {}
        scopes: set[Scope] = set()
        total = 0
        for part, keep in zip(parts, kept, strict=True):
            if not part.height:
                continue
            index = part.read([SOURCE_FILE, *refresh_scope])
            if keep is not None:
                index = index.filter(keep)
            total += index.height
            for path, n in index.group_by(SOURCE_FILE, maintain_order=True).len().iter_rows():
                files[str(path)] = files.get(str(path), 0) + int(n)
            if refresh_scope and index.height:
                distinct = index.select(pl.col(list(refresh_scope)).cast(pl.String)).unique()
                scopes.update(distinct.iter_rows())
        return cls(
            tuple(parts),
            tuple(kept),
            schema,
            total,
            tuple(files.items()),
            tuple(refresh_scope),
            tuple(sorted(scopes, key=lambda scope: tuple(value or "" for value in scope))),
        )

    @classmethod
    def of(cls, rows: pl.DataFrame, refresh_scope: Sequence[str] = ()) -> CleanRows:
        """Rows already in one frame (tests, and the plan built straight from a frame)."""
        return cls.decided((FileRows.in_memory(rows),), (None,), refresh_scope, rows.schema)

    def __len__(self) -> int:
        return self.rows

    def __copy__(self) -> CleanRows:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> CleanRows:
        return self

    def frames(self, rows_per_slice: int = ROWS_PER_SLICE) -> Iterator[pl.DataFrame]:
        """The rows in slices of at most ``rows_per_slice``, one file in memory at a time."""
        for part, kept in zip(self.parts, self.kept, strict=True):
            yield from _slices(part, kept, rows_per_slice)

    def copy_length(
        self,
        columns: Sequence[str],
        count: Callable[[pl.DataFrame], int],
        rows_per_slice: int = ROWS_PER_SLICE,
    ) -> int:
        """The rows' length as COPY text in ``columns``: a part's :class:`CopyLength` where it
        was counted for these columns and every row of the part is kept, else ``count`` of each
        of its slices (``load.copy_format.copy_length``, passed in: this floor imports no load
        code)."""
        total = 0
        for part, kept in zip(self.parts, self.kept, strict=True):
            counted = part.copy_length
            if kept is None and counted is not None and counted.columns == tuple(columns):
                total += counted.length
            else:
                total += sum(count(rows) for rows in _slices(part, kept, rows_per_slice))
        return total

    def read_columns(self, columns: Sequence[str]) -> Iterator[pl.DataFrame]:
        """The kept rows' ``columns``, one file at a time (only those columns are read)."""
        for part, kept in zip(self.parts, self.kept, strict=True):
            if not part.height:
                continue
            rows = part.read(list(columns))
            yield rows if kept is None else rows.filter(kept)

    def collect(self) -> pl.DataFrame:
        """All rows in one frame (small runs and tests: this is what the parts avoid)."""
        frames = list(self.frames())
        return pl.concat(frames) if frames else pl.DataFrame(schema=self.schema)

    def rows_per_file(self) -> dict[str, int]:
        return dict(self.files)

    def text_columns(self, columns: Sequence[str]) -> list[list[str | None]]:
        """``columns`` as text, one list per column: what ``diff=true`` sends as arrays.

        The very text COPY sends for each value before escaping (``copy_format``).
        """
        values: list[list[str | None]] = [[] for _ in columns]
        for rows in self.frames():
            for column, name in zip(values, columns, strict=True):
                column.extend(rows[name].cast(pl.String).to_list())
        return values


def _slices(part: FileRows, kept: pl.Series | None, rows_per_slice: int) -> Iterator[pl.DataFrame]:
    """A part's kept rows in slices of at most ``rows_per_slice``."""
    if not part.height:
        return
    rows = part.read()
    if kept is not None:
        rows = rows.filter(kept)
    for start in range(0, rows.height, rows_per_slice):
        yield rows.slice(start, rows_per_slice)


__all__ = [
    "ROWS_PER_SLICE",
    "SOURCE_FILE",
    "SOURCE_ROW",
    "CleanRows",
    "CopyLength",
    "FileRows",
    "RowSpool",
]
