"""What a dataset tells the run report about its last save: one public, typed seam.

The hooks read a save's outcome through these protocols, never through a private Kedro
method or a ``getattr`` with a default: a catalog entry that stops being one of these datasets
(renamed, retyped) fails the run report loudly with :class:`SaveResultMissingError` instead of
leaving its fields out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable


class LoadOutcome(Protocol):
    """The outcome of saving a load plan (``PostgresLoadDataset.LoadResult``)."""

    @property
    def plan_path(self) -> str: ...
    @property
    def executed(self) -> bool: ...
    @property
    def rows_deleted(self) -> int | None: ...
    @property
    def rows_inserted(self) -> int | None: ...
    @property
    def transaction_seconds(self) -> float | None: ...
    @property
    def step_seconds(self) -> dict[str, float] | None: ...
    @property
    def warehouse(self) -> str | None: ...
    @property
    def summary(self) -> dict[str, Any] | None: ...
    @property
    def plan_sha256(self) -> str | None: ...
    @property
    def nothing_to_load(self) -> bool: ...


@runtime_checkable
class ReportsLoad(Protocol):
    """A dataset whose last save (a plan written and maybe applied) is in ``last_result``."""

    @property
    def last_result(self) -> LoadOutcome | None: ...


@dataclass(frozen=True)
class FileWritten:
    """A dataset's last save wrote one file, at ``path``."""

    path: str


@runtime_checkable
class ReportsFile(Protocol):
    """A dataset whose last save wrote one file, named in ``last_written``."""

    @property
    def last_written(self) -> FileWritten | None: ...


class ReviewWritten(Protocol):
    """A plan's review: its page and workbook (``datasets.review_files.ReviewFiles``)."""

    @property
    def page(self) -> str: ...
    @property
    def workbook(self) -> str: ...


@runtime_checkable
class ReportsReview(Protocol):
    """A dataset whose last save may have written a plan's review, named in ``last_review``."""

    @property
    def last_review(self) -> ReviewWritten | None: ...


@runtime_checkable
class WritesDiffRows(Protocol):
    """A plan dataset whose diff writes every row it names to the file the run chooses."""

    def write_diff_rows_to(self, path: Path | None) -> None: ...


@runtime_checkable
class ReportsLedgerRead(Protocol):
    """A ledger whose newest loads per period, once read, are in ``last_read`` (None: not read)."""

    @property
    def last_read(self) -> Mapping[str, Any] | None: ...


class SaveResultMissingError(TypeError):
    """A dataset the run report reads does not report its saves: a bug, not a user mistake.

    Args:
        dataset_name: The dataset's catalog name.
        dataset: The dataset the catalog holds under it.
        expected: The protocol it should implement.
    """

    def __init__(self, dataset_name: str, dataset: object, expected: type) -> None:
        super().__init__(
            f"Dataset {dataset_name!r} is a {type(dataset).__name__}, which does not implement "
            f"{expected.__name__}: the run report cannot say what its save did. Check its "
            "catalog entry (conf/base/catalog.yml) and the names in pipelines/ingest/pipeline.py."
        )
