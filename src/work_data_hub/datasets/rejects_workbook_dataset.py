"""``RejectsWorkbookDataset``: each delivered workbook with rejects, marked, beside the CSV.

Like the rejects CSV the files hold the delivered values, so each is created owner-only (0600).
Only workbooks with rejects are read again, and their rows are streamed from the delivered
workbook to the marked one (:mod:`work_data_hub.reports.rejects_workbook`). They are written in
the background, two at a time, while the run plans and loads
(:mod:`work_data_hub.datasets.background_writes`): the load of the domain commits only once they
are written, and the run ends only once they are.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path, PurePosixPath
from typing import Any

from kedro.io import AbstractVersionedDataset, DatasetError, Version

from work_data_hub.cleaning.workbook import WorkbookReadError
from work_data_hub.datasets import background_writes
from work_data_hub.datasets.no_delivery import WritesNothingWithoutDelivery
from work_data_hub.datasets.owner_only import PendingFile
from work_data_hub.datasets.results import FileWritten
from work_data_hub.errors import WorkDataHubError
from work_data_hub.reports.rejects_workbook import (
    RejectedFile,
    RejectsToMark,
    mark_rejects,
    marked_name,
)


class RejectsWorkbookError(WorkDataHubError, DatasetError):
    """A delivered workbook's marked copy cannot be written; the message names the workbook.

    Args:
        message: Which workbook, why, and where its rejects are listed.
        domain: The domain.
        file: The delivered workbook (its path in the inbox).
    """

    def __init__(self, message: str, *, domain: str, file: str) -> None:
        super().__init__(message, domain=domain, file=file)

    def nothing_loaded(self) -> RejectsWorkbookError:
        """The same error, for the load it rolled back."""
        fields = self.fields
        return RejectsWorkbookError(
            f"{self}; nothing was loaded", domain=fields["domain"], file=fields["file"]
        )


class RejectsWorkbookDataset(
    WritesNothingWithoutDelivery, AbstractVersionedDataset[RejectsToMark, list[str]]
):
    """Saves one marked ``.xlsx`` per delivered workbook with rejects into a versioned folder.
    Catalog entry::

        "{domain}.rejects_workbooks":
          type: work_data_hub.datasets.rejects_workbook_dataset.RejectsWorkbookDataset
          filepath: data/08_reporting/rejects/{domain}_marked
          versioned: true

    ``save`` makes the version's folder and hands the files to background threads
    (:mod:`work_data_hub.datasets.background_writes`, keyed by the domain's name), then returns;
    a file appears only once it is whole. Their failure is raised to whoever waits for the
    domain: the load of the domain, the run's hooks, or ``load``. A save with no rejects writes
    nothing. ``load`` waits for the last save's files, then lists the files of the newest
    version. ``last_written`` names the folder of the last save that writes any
    (see :mod:`work_data_hub.datasets.results`).

    Raises:
        RejectsWorkbookError: On ``load``, or to whoever waits for the domain, a delivered
            workbook cannot be read again (moved or changed since the run read it), or its
            marked copy cannot be written; the message names it.
    """

    def __init__(
        self,
        *,
        filepath: str,
        version: Version | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(
            filepath=PurePosixPath(filepath), version=version, exists_function=self._folder_exists
        )
        self.metadata = metadata
        self.last_written: FileWritten | None = None
        self._domain: str | None = None

    @staticmethod
    def _folder_exists(path: str) -> bool:
        return Path(path).is_dir()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "version": self._version}

    def load(self) -> list[str]:
        if self._domain is not None:
            background_writes.wait(self._domain)
        return sorted(str(path) for path in Path(self._get_load_path()).glob("*.xlsx"))

    def save(self, data: RejectsToMark) -> None:
        self.last_written = None
        if not data.files:
            # A run without rejects writes no version (and Kedro's check is told so).
            self._skip_save()
            return
        self._wrote()
        folder = Path(self._get_save_path())
        # The version exists when save returns (Kedro's check after a versioned save looks).
        folder.mkdir(parents=True, exist_ok=True)
        self._domain = data.domain.name
        background_writes.start(
            data.domain.name,
            [partial(_mark_file, data, rejected, folder) for rejected in data.files],
        )
        self.last_written = FileWritten(str(folder))


def _mark_file(data: RejectsToMark, rejected: RejectedFile, folder: Path) -> None:
    """Write ``rejected``'s marked workbook into ``folder``; it appears only when whole."""
    path = folder / marked_name(rejected.path)
    try:
        with PendingFile(path) as target:
            mark_rejects(
                Path(data.inbox) / rejected.path,
                target.handle,
                file=rejected.path,
                sheet=rejected.sheet,
                header_row=data.domain.header_row,
                rejects=rejected.rejects,
                domain=data.domain,
                columns=rejected.columns,
            )
            target.publish()
    except WorkbookReadError as exc:
        raise RejectsWorkbookError(
            f"{rejected.path}: the workbook cannot be read again to mark its rejects "
            f"({exc}); the rejects CSV lists them",
            domain=data.domain.name,
            file=rejected.path,
        ) from exc
    except OSError as exc:
        raise RejectsWorkbookError(
            f"{rejected.path}: its marked copy cannot be written to {path} "
            f"({exc.strerror or exc}); the rejects CSV lists its rejects",
            domain=data.domain.name,
            file=rejected.path,
        ) from exc
    except Exception as exc:
        # A bug: its traceback is kept; the message still names the workbook.
        raise DatasetError(f"{rejected.path}: its marked copy failed: {exc!r}") from exc
