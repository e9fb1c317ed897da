"""``ExcelWorkbookDataset``: open one Excel workbook with a Rust-backed reader (calamine)."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

from kedro.io import AbstractDataset, DatasetError
from python_calamine import CalamineError, CalamineWorkbook, PasswordError, WorksheetNotFound

Cell = Any


class WorkbookReadError(DatasetError):
    """A workbook cannot be opened or lacks what the domain needs; the message names the file."""


class ExcelWorkbook:
    """An opened workbook: its file name, its sheets, and rows read on demand."""

    def __init__(self, path: Path, workbook: CalamineWorkbook) -> None:
        self.path = path
        self.name = path.name
        self._workbook = workbook
        self._parsed: dict[str, Any] = {}

    @property
    def sheet_names(self) -> list[str]:
        return list(self._workbook.sheet_names)

    def parse(self, sheet: str | int) -> str:
        """Parse one sheet's XML (calamine does this without holding the GIL); its name.

        Done ahead by a reader thread, so that parsing the next workbook overlaps cleaning.
        """
        names = self.sheet_names
        if isinstance(sheet, int):
            if not 0 <= sheet < len(names):
                raise WorkbookReadError(
                    f"{self.name}: has no sheet number {sheet + 1}; sheets are {names}"
                )
            sheet_name = names[sheet]
        else:
            sheet_name = sheet
        if sheet_name not in self._parsed:
            try:
                self._parsed[sheet_name] = self._workbook.get_sheet_by_name(sheet_name)
            except WorksheetNotFound as exc:
                raise WorkbookReadError(
                    f"{self.name}: sheet {sheet_name!r} not found; sheets are {names}"
                ) from exc
            except CalamineError as exc:
                raise WorkbookReadError(
                    f"{self.name}: sheet {sheet_name!r} cannot be read: {exc}"
                ) from exc
        return sheet_name

    def read_rows(self, sheet: str | int) -> tuple[str, list[list[Cell]]]:
        """``(sheet name, rows)`` where ``rows[i]`` is Excel row ``i + 1``."""
        sheet_name = self.parse(sheet)
        try:
            rows = self._parsed.pop(sheet_name).to_python(skip_empty_area=False)
        except CalamineError as exc:
            raise WorkbookReadError(
                f"{self.name}: sheet {sheet_name!r} cannot be read: {exc}"
            ) from exc
        return sheet_name, rows


class ExcelWorkbookDataset(AbstractDataset[None, ExcelWorkbook]):
    """Opens an ``.xlsx``/``.xlsm`` workbook; sheets are read by the caller, on demand.

    Used as the partition dataset of the inbox, so that only the workbooks a node selects
    are opened. Example catalog entry::

        "{domain}.inbox":
          type: partitions.PartitionedDataset
          path: ${runtime_params:inbox, ${globals:inbox}}
          dataset:
            type: work_data_hub.datasets.excel_workbook_dataset.ExcelWorkbookDataset
    """

    def __init__(self, *, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        self._filepath = Path(filepath)
        self.metadata = metadata

    def load(self) -> ExcelWorkbook:
        try:
            workbook = CalamineWorkbook.from_path(str(self._filepath))
        except PasswordError as exc:
            raise WorkbookReadError(
                f"{self._filepath}: the workbook is password-protected; save it without a "
                "password and drop it in the inbox again"
            ) from exc
        except (CalamineError, OSError, ValueError) as exc:
            raise WorkbookReadError(
                f"{self._filepath}: not a readable Excel workbook ({type(exc).__name__}: {exc})"
            ) from exc
        return ExcelWorkbook(self._filepath, workbook)

    def save(self, data: None) -> None:
        raise DatasetError("ExcelWorkbookDataset is read-only: the inbox is never written")

    def _describe(self) -> dict[str, Any]:
        return {"filepath": PurePosixPath(self._filepath).as_posix()}

    def _exists(self) -> bool:
        return self._filepath.is_file()
