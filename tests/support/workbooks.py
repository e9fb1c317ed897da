"""Small workbook builders for tests: a sheet written from rows, trustee rows made valid."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from openpyxl import Workbook

TRUSTEE_HEADERS = ["年", "月", "计划代码", "公司代码", "收益率", "净值", "规模"]
GARBAGE = b"this is not an Excel workbook\x00\x01\x02"


def inbox_workbooks(inbox: Path) -> dict[str, Any]:
    """The inbox's workbooks as the catalog's PartitionedDataset loads them (lazily)."""
    from kedro_datasets.partitions import PartitionedDataset

    return PartitionedDataset(
        path=str(inbox),
        dataset={"type": "work_data_hub.datasets.excel_workbook_dataset.ExcelWorkbookDataset"},
    ).load()


def write_workbook(
    path: Path,
    rows: Sequence[Sequence[Any]],
    *,
    sheet: str = "Sheet1",
    mtime: float | None = None,
) -> Path:
    """Write ``rows`` (first = Excel row 1) to the first sheet of a new workbook at ``path``."""
    workbook = Workbook()
    worksheet = workbook.active
    assert worksheet is not None
    worksheet.title = sheet
    for row in rows:
        worksheet.append(list(row))
    path.parent.mkdir(parents=True, exist_ok=True)
    workbook.save(path)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def write_garbage(path: Path, *, mtime: float | None = None) -> Path:
    """A file with a workbook's name whose bytes no Excel reader can open."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(GARBAGE)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def trustee_rows(year: int, month: int, plans: Sequence[str]) -> list[list[Any]]:
    """A header row and one valid row per plan code for period (year, month)."""
    rows: list[list[Any]] = [list(TRUSTEE_HEADERS)]
    for number, plan in enumerate(plans, start=1):
        rows.append([year, month, plan, "C001", 0.01 * number, 1.5, 1000 * number])
    return rows


def write_trustee(
    path: Path, year: int, month: int, plans: Sequence[str] = ("P001",), **kwargs: Any
) -> Path:
    return write_workbook(path, trustee_rows(year, month, plans), **kwargs)
