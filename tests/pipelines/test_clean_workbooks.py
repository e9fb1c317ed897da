"""Several workbooks of one run are read and cleaned two at a time (threads).

The loaders here hold a file back until another one is opened, so the files are provably read
at once and finish out of order; what the node gives is still what one file after another
gives: rows and files in file order, duplicate keys found across files, the first failing file's
own error.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.reliability.support import trustee_domain, trustee_rows, write_workbook
from tests.support.workbooks import write_garbage
from work_data_hub.cleaning.workbook import ExcelWorkbook, WorkbookReadError
from work_data_hub.datasets.excel_workbook_dataset import ExcelWorkbookDataset
from work_data_hub.discovery import FileManifest
from work_data_hub.pipelines.ingest import nodes

OCTOBER, NOVEMBER, DECEMBER = (f"2024_{month}_受托业绩.xlsx" for month in (10, 11, 12))
# A guard against a hang if the files were read one after another; never reached otherwise.
GUARD_SECONDS = 60


def _loaders(inbox: Path) -> dict[str, Callable[[], ExcelWorkbook]]:
    return {
        path.name: ExcelWorkbookDataset(filepath=str(path)).load
        for path in sorted(inbox.glob("*.xlsx"))
    }


def _selected(inbox: Path, loaders: dict[str, Callable[[], ExcelWorkbook]]) -> FileManifest:
    manifest = nodes.select_workbooks(loaders, str(inbox), 3, domain=trustee_domain())
    assert [file.path for file in manifest.selection.selected] == [OCTOBER, NOVEMBER, DECEMBER]
    return manifest


def _held_back_until_opened(
    loaders: dict[str, Callable[[], ExcelWorkbook]], held: str, until: str
) -> list[bool]:
    """``held`` opens only once ``until`` was opened; the list says whether ``until`` was
    opened while ``held`` waited (read at once), not after the guard ran out."""
    opened = threading.Event()
    waited: list[bool] = []
    load_held, load_until = loaders[held], loaders[until]

    def held_back() -> ExcelWorkbook:
        waited.append(opened.wait(GUARD_SECONDS))
        return load_held()

    def opening() -> ExcelWorkbook:
        opened.set()
        return load_until()

    loaders[held], loaders[until] = held_back, opening
    return waited


def test_files_read_at_once_keep_file_order_and_duplicates_across_files_reject_both(
    tmp_path: Path,
) -> None:
    inbox = tmp_path / "inbox"
    # October also carries a November row whose key November has too.
    write_workbook(inbox / OCTOBER, [*trustee_rows(4, month=10), [2024, 11, "P0002", "TC001"]])
    write_workbook(inbox / NOVEMBER, trustee_rows(3, month=11))
    write_workbook(inbox / DECEMBER, trustee_rows(5, month=12))
    loaders = _loaders(inbox)
    manifest = _selected(inbox, loaders)
    # October waits until November is opened: both are read at once and November is done first.
    read_at_once = _held_back_until_opened(loaders, OCTOBER, NOVEMBER)

    rows, rejects, summary, _ = nodes.clean_workbooks(loaders, manifest, domain=trustee_domain())

    assert read_at_once == [True]
    lineage = rows.collect().select("_source_file", "_source_row").rows()
    assert lineage == [
        *((OCTOBER, row) for row in range(2, 6)),
        (NOVEMBER, 2),
        (NOVEMBER, 4),
        *((DECEMBER, row) for row in range(2, 7)),
    ]
    assert list(summary.files) == [OCTOBER, NOVEMBER, DECEMBER]
    assert (summary.rows_read, summary.rows_rejected, summary.rows_clean) == (13, 2, 11)
    assert rejects.select("file", "row", "reason").rows() == [
        (OCTOBER, 6, f"duplicate key; rows with this key: {OCTOBER} row 6; {NOVEMBER} row 3"),
        (NOVEMBER, 3, f"duplicate key; rows with this key: {OCTOBER} row 6; {NOVEMBER} row 3"),
    ]


def test_the_first_failing_file_raises_its_own_error_and_no_reading_thread_is_left(
    tmp_path: Path,
) -> None:
    inbox = tmp_path / "inbox"
    write_garbage(inbox / OCTOBER)
    write_garbage(inbox / NOVEMBER)
    write_workbook(inbox / DECEMBER, trustee_rows(2, month=12))
    loaders = _loaders(inbox)
    manifest = _selected(inbox, loaders)
    # November fails first; one file after another, October's error is the one raised.
    read_at_once = _held_back_until_opened(loaders, OCTOBER, NOVEMBER)

    with pytest.raises(WorkbookReadError) as raised:
        nodes.clean_workbooks(loaders, manifest, domain=trustee_domain())

    assert read_at_once == [True]
    assert raised.value.fields["file"].endswith(OCTOBER)
    assert not [t for t in threading.enumerate() if t.name.startswith("clean_file")]


def test_one_file_is_cleaned_in_the_calling_thread(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    write_workbook(inbox / DECEMBER, trustee_rows(2, month=12))
    loaders = _loaders(inbox)
    manifest = nodes.select_workbooks(loaders, str(inbox), 1, domain=trustee_domain())
    load = loaders[DECEMBER]
    threads: list[str] = []

    def loaded_here() -> ExcelWorkbook:
        threads.append(threading.current_thread().name)
        return load()

    loaders[DECEMBER] = loaded_here

    rows, _, _, _ = nodes.clean_workbooks(loaders, manifest, domain=trustee_domain())

    assert threads == [threading.current_thread().name]
    assert len(rows) == 2
