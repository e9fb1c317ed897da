"""Open one Excel workbook with a Rust-backed reader (calamine); sheets are read on demand."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from python_calamine import CalamineError, CalamineWorkbook, PasswordError, WorksheetNotFound

from work_data_hub.errors import WorkDataHubError

Cell = Any


class WorkbookReadError(WorkDataHubError):
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


def open_workbook(path: Path) -> ExcelWorkbook:
    """Open ``path``; an unreadable or password-protected file is a :class:`WorkbookReadError`."""
    try:
        workbook = CalamineWorkbook.from_path(str(path))
    except PasswordError as exc:
        raise WorkbookReadError(
            f"{path}: the workbook is password-protected; save it without a "
            "password and drop it in the inbox again"
        ) from exc
    except (CalamineError, OSError, ValueError) as exc:
        raise WorkbookReadError(
            f"{path}: not a readable Excel workbook ({type(exc).__name__}: {exc})"
        ) from exc
    return ExcelWorkbook(path, workbook)
