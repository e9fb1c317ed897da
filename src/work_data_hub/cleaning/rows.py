"""The clean rows of a run: one part per source file, so memory is bounded by one file.

In a run of several files each file's clean rows are spooled to an Arrow IPC file in a private
temporary folder as soon as the file is cleaned; what the decisions over all files need (the
unique key, the refresh scope and the lineage) stays in memory. The plan is then written, and
executed, a slice of one file at a time (:meth:`CleanRows.frames`).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from work_data_hub.config import DomainConfig

# The lineage columns (as cleaning.reading names them; not imported: the load needs no reader).
SOURCE_FILE = "_source_file"
SOURCE_ROW = "_source_row"

# Rows per slice of COPY text: a few megabytes, whatever the size of a file.
ROWS_PER_SLICE = 100_000


def index_columns(domain: DomainConfig, columns: Sequence[str]) -> list[str]:
    """The columns decisions over all files need: unique key, refresh scope, lineage."""
    wanted = [*(domain.unique_key or []), *domain.refresh_scope, SOURCE_FILE, SOURCE_ROW]
    return [column for column in dict.fromkeys(wanted) if column in columns]


def index_of(rows: pl.DataFrame, domain: DomainConfig) -> pl.DataFrame:
    """The :func:`index_columns` of one file's rows, to keep in memory for all files.

    The file's name repeats on every row: as a category it takes 4 bytes a row, not its
    length (half of the index, otherwise).
    """
    index = rows.select(index_columns(domain, rows.columns))
    if SOURCE_FILE in index.columns and index.schema[SOURCE_FILE] == pl.String:
        index = index.with_columns(pl.col(SOURCE_FILE).cast(pl.Categorical))
    return index


class RowSpool:
    """A private temporary folder (mode 0700) holding one Arrow IPC file per source file.

    Removed when the last :class:`CleanRows` that reads from it is garbage-collected, and at
    interpreter exit at the latest.
    """

    def __init__(self) -> None:
        self._folder = tempfile.TemporaryDirectory(prefix="wdh_rows_")
        self._files = 0

    def keep(self, rows: pl.DataFrame) -> FileRows:
        path = Path(self._folder.name) / f"{self._files:05d}.arrow"
        self._files += 1
        rows.write_ipc(path, compression="uncompressed")
        return FileRows(None, path, rows.height, self)


@dataclass(frozen=True, eq=False)
class FileRows:
    """One file's clean rows: in memory (``frame``) or spooled (``path``)."""

    frame: pl.DataFrame | None
    path: Path | None = None
    height: int = 0
    # Keeps the spool's folder alive as long as these rows may be read.
    spool: RowSpool | None = None

    @classmethod
    def in_memory(cls, rows: pl.DataFrame) -> FileRows:
        return cls(rows, None, rows.height)

    def read(self) -> pl.DataFrame:
        if self.frame is not None:
            return self.frame
        assert self.path is not None
        return pl.read_ipc(self.path)


@dataclass(frozen=True, eq=False)
class CleanRows:
    """All files' clean rows, in file order, once the decisions over all files are made.

    ``index`` holds the unique-key, refresh-scope and lineage columns of exactly these rows;
    ``kept`` says, per part, which of its rows survived those decisions (None: all).
    Immutable: Kedro's MemoryDataset hands it on as it is (a deep copy would read the spool).
    """

    parts: tuple[FileRows, ...]
    kept: tuple[pl.Series | None, ...]
    index: pl.DataFrame
    schema: pl.Schema

    @classmethod
    def of(cls, rows: pl.DataFrame) -> CleanRows:
        """Rows already in one frame (tests, and the plan built straight from a frame)."""
        return cls((FileRows.in_memory(rows),), (None,), rows, rows.schema)

    def __len__(self) -> int:
        return self.index.height

    def __copy__(self) -> CleanRows:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> CleanRows:
        return self

    def frames(self, rows_per_slice: int = ROWS_PER_SLICE) -> Iterator[pl.DataFrame]:
        """The rows in slices of at most ``rows_per_slice``, one file in memory at a time."""
        for part, kept in zip(self.parts, self.kept, strict=True):
            if not part.height:
                continue
            rows = part.read()
            if kept is not None:
                rows = rows.filter(kept)
            for start in range(0, rows.height, rows_per_slice):
                yield rows.slice(start, rows_per_slice)
            del rows

    def collect(self) -> pl.DataFrame:
        """All rows in one frame (small runs and tests: this is what the parts avoid)."""
        frames = list(self.frames())
        return pl.concat(frames) if frames else pl.DataFrame(schema=self.schema)

    def index_parts(self) -> Iterator[pl.DataFrame]:
        """``index`` a part at a time: what is computed over all rows is computed per file,
        so that its hash tables are one file's size (a group-by over 1.2 million rows of text
        takes as much memory as a file's rows)."""
        offset = 0
        for part, kept in zip(self.parts, self.kept, strict=True):
            height = part.height if kept is None else int(kept.sum())
            yield self.index.slice(offset, height)
            offset += height

    def rows_per_file(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for index in self.index_parts():
            for path, n in index.group_by(SOURCE_FILE).len().iter_rows():
                counts[str(path)] = counts.get(str(path), 0) + int(n)
        return counts

    def text_columns(self, columns: Sequence[str]) -> list[list[str | None]]:
        """``columns`` as text, one list per column: what ``diff=true`` sends as arrays.

        The very text COPY sends for each value before escaping (``copy_format``).
        """
        values: list[list[str | None]] = [[] for _ in columns]
        for rows in self.frames():
            for column, name in zip(values, columns, strict=True):
                column.extend(rows[name].cast(pl.String).to_list())
        return values


__all__ = ["ROWS_PER_SLICE", "CleanRows", "FileRows", "RowSpool", "index_columns", "index_of"]
