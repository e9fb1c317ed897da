"""``RejectsWorkbookDataset``: each delivered workbook with rejects, marked, beside the CSV.

Like the rejects CSV the files hold the delivered values, so each is created owner-only (0600).
Only workbooks with rejects are read again (two at a time), and their rows are streamed from
the delivered workbook to the marked one (:mod:`work_data_hub.reports.rejects_workbook`).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath
from typing import Any

from kedro.io import AbstractVersionedDataset, DatasetError, Version

from work_data_hub.cleaning.workbook import WorkbookReadError
from work_data_hub.datasets.no_delivery import WritesNothingWithoutDelivery
from work_data_hub.datasets.owner_only import open_owner_only
from work_data_hub.datasets.results import FileWritten
from work_data_hub.reports.rejects_workbook import (
    RejectedFile,
    RejectsToMark,
    mark_rejects,
    marked_name,
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

    A save with no rejects writes nothing. ``load`` lists the files of the newest version.
    ``last_written`` names the folder of the last save that wrote any
    (see :mod:`work_data_hub.datasets.results`).

    Raises:
        DatasetError: a delivered workbook cannot be read again (moved or changed since the
            run read it); the message names it.
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

    @staticmethod
    def _folder_exists(path: str) -> bool:
        return Path(path).is_dir()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "version": self._version}

    def load(self) -> list[str]:
        return sorted(str(path) for path in Path(self._get_load_path()).glob("*.xlsx"))

    def save(self, data: RejectsToMark) -> None:
        self.last_written = None
        if not data.files:
            # A run without rejects writes no version (and Kedro's check is told so).
            self._skip_save()
            return
        self._wrote()
        folder = Path(self._get_save_path())
        if len(data.files) == 1:
            _mark_file(data, data.files[0], folder)
        else:
            # Two at a time: the copy is mostly zlib, which runs without the GIL. The first
            # failure (in file order) is raised once the workbook being marked beside it is done;
            # the others are not started.
            with ThreadPoolExecutor(WORKBOOKS_AT_ONCE, thread_name_prefix="mark_rejects") as pool:
                pending = [pool.submit(_mark_file, data, f, folder) for f in data.files]
                try:
                    for written in pending:
                        written.result()
                except BaseException:
                    pool.shutdown(cancel_futures=True)
                    raise
        self.last_written = FileWritten(str(folder))


# Workbooks marked at a time (the machine this runs on has at least two cores).
WORKBOOKS_AT_ONCE = 2


def _mark_file(data: RejectsToMark, rejected: RejectedFile, folder: Path) -> None:
    """Write ``rejected``'s marked workbook into ``folder``; nothing is left when it fails."""
    path = folder / marked_name(rejected.path)
    try:
        with os.fdopen(open_owner_only(path), "wb") as target:
            mark_rejects(
                Path(data.inbox) / rejected.path,
                target,
                file=rejected.path,
                sheet=rejected.sheet,
                header_row=data.domain.header_row,
                rejects=rejected.rejects,
                domain=data.domain,
                columns=rejected.columns,
            )
    except BaseException as exc:
        path.unlink(missing_ok=True)
        if isinstance(exc, WorkbookReadError):
            raise DatasetError(
                f"{rejected.path}: the workbook cannot be read again to mark its rejects "
                f"({exc}); the rejects CSV lists them"
            ) from exc
        raise
