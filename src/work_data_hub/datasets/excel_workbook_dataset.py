"""``ExcelWorkbookDataset``: the inbox's partition dataset; opens one workbook, reads nothing yet."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

from kedro.io import AbstractDataset, DatasetError

from work_data_hub.cleaning.workbook import ExcelWorkbook, WorkbookReadError, open_workbook


class InboxWorkbookError(WorkbookReadError, DatasetError):
    """A workbook the inbox cannot open; a DatasetError, so Kedro passes the message on as is."""


class ExcelWorkbookDataset(AbstractDataset[None, ExcelWorkbook]):
    """Opens an ``.xlsx``/``.xlsm`` workbook; sheets are read by the caller, on demand.

    Used as the partition dataset of the inbox, so that only the workbooks a node selects
    are opened. Example catalog entry::

        "{domain}.inbox":
          type: partitions.PartitionedDataset
          path: ${runtime_params:inbox, ${globals:inbox}}
          dataset:
            type: work_data_hub.datasets.excel_workbook_dataset.ExcelWorkbookDataset

    Args:
        filepath: The workbook's path.
        metadata: Kedro's free-form metadata (Kedro-Viz shows it).

    Raises:
        InboxWorkbookError: On ``load``, the workbook cannot be opened (the message names it).
    """

    def __init__(self, *, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        self._filepath = Path(filepath)
        self.metadata = metadata

    def load(self) -> ExcelWorkbook:
        try:
            return open_workbook(self._filepath)
        except WorkbookReadError as exc:
            raise InboxWorkbookError(str(exc), **exc.fields) from exc.__cause__

    def save(self, data: None) -> None:
        raise DatasetError("ExcelWorkbookDataset is read-only: the inbox is never written")

    def _describe(self) -> dict[str, Any]:
        return {"filepath": PurePosixPath(self._filepath).as_posix()}

    def _exists(self) -> bool:
        return self._filepath.is_file()
