"""Node functions of the ingest pipeline: rooms 2-4 wired for Kedro.

Each function is bound to one domain's :class:`DomainConfig` by the pipeline factory.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd

from work_data_hub.cleaning.engine import CleanResult, clean_sheet, combine
from work_data_hub.cleaning.reading import read_sheet
from work_data_hub.cleaning.workbook import ExcelWorkbook
from work_data_hub.config import DomainConfig, check_run_parameters
from work_data_hub.discovery import DatedFile, FileCandidate, FileManifest, discover
from work_data_hub.load.plan import LoadPlan, build_load_plan
from work_data_hub.text import plural

logger = logging.getLogger(__name__)

WorkbookLoaders = dict[str, Callable[[], ExcelWorkbook]]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def select_workbooks(
    workbooks: WorkbookLoaders, inbox: str, max_files: int, *, domain: DomainConfig
) -> FileManifest:
    """Pick the domain's files by the Discovery rules; nothing is opened as a workbook here."""
    check_run_parameters({"inbox": inbox, "max_files": max_files}, inbox_must_hold_files=True)
    root = Path(inbox)
    candidates = []
    # Partition ids are POSIX paths relative to the inbox (fsspec), the form discovery expects.
    for partition in workbooks:
        stat = (root / partition).stat()
        candidates.append(FileCandidate(partition, stat.st_size, stat.st_mtime))
    selection = discover(candidates, domain.compiled_pattern, max_files, inbox=inbox)
    hashed = [*selection.selected, *selection.superseded]
    manifest = FileManifest(inbox, selection, {f.path: _sha256(root / f.path) for f in hashed})
    for file in selection.selected:
        logger.info("%s: selected %s (period %s)", domain.name, file.path, file.period)
    for file in selection.superseded:
        logger.info("%s: superseded %s (period %s), not read", domain.name, file.path, file.period)
    return manifest


def clean_workbooks(
    workbooks: WorkbookLoaders,
    manifest: FileManifest,
    *,
    domain: DomainConfig,
    mappings: dict[str, dict[str, str]],
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Read only the selected workbooks, clean their rows, and split off the rejects."""
    today = dt.date.today()
    results: list[CleanResult] = []
    rows_blank = rows_total = 0
    files: dict[str, dict[str, Any]] = {}
    selected = manifest.selection.selected

    def open_and_parse(file: DatedFile) -> ExcelWorkbook:
        workbook = workbooks[file.path]()
        workbook.parse(domain.sheet)
        return workbook

    # The next workbook is opened and its sheet parsed while this one is cleaned: calamine
    # parses without holding the GIL, so on two cores that parse overlaps the pandas work.
    # Turning cells into Python objects and text needs the GIL, so it stays on this thread.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="read_ahead") as read_ahead:
        pending: list[Future[ExcelWorkbook]] = (
            [read_ahead.submit(open_and_parse, selected[0])] if selected else []
        )
        for position, file in enumerate(selected):
            started = time.perf_counter()
            workbook = pending.pop().result()
            if position + 1 < len(selected):
                pending.append(read_ahead.submit(open_and_parse, selected[position + 1]))
            try:
                sheet = read_sheet(workbook, domain.sheet, domain.header_row)
                del workbook
                result = clean_sheet(sheet, domain, mappings, today)
            except BaseException:
                for future in pending:
                    future.cancel()
                raise
            results.append(result)
            rows_blank += sheet.rows_blank
            rows_total += sheet.rows_total
            files[file.path] = {
                "sheet": sheet.sheet,
                "rows_read": result.rows_read,
                "rows_skipped": sheet.rows_blank + sheet.rows_total,
                "seconds": round(time.perf_counter() - started, 3),
            }
            logger.info(
                "%s: read %s from %s (%s blank and %s total skipped)",
                domain.name,
                plural(result.rows_read, "row"),
                file.path,
                sheet.rows_blank,
                sheet.rows_total,
            )
            del sheet
    combined = combine(results, domain)
    summary = {
        "rows_read": combined.rows_read,
        "rows_skipped": rows_blank + rows_total,
        "rows_skipped_blank": rows_blank,
        "rows_skipped_total": rows_total,
        "rows_rejected": _rejected_rows(combined),
        "rows_clean": len(combined.rows),
        "unknown_columns": combined.unknown_headers,
        "files": files,
    }
    if summary["rows_rejected"]:
        logger.warning(
            "%s: %s rejected; see the rejects file",
            domain.name,
            plural(_rejected_rows(combined), "row"),
        )
    return combined.rows, combined.rejects, summary


def _rejected_rows(result: CleanResult) -> int:
    if result.rejects.empty:
        return 0
    return int(result.rejects[["file", "row"]].drop_duplicates().shape[0])


def plan_load(
    rows: pd.DataFrame,
    cleaning_summary: dict[str, Any],
    run_id: str,
    max_reject_ratio: float,
    *,
    domain: DomainConfig,
) -> LoadPlan:
    """The load as data: statements and COPY payload, the same for plan and execute."""
    return build_load_plan(
        rows,
        domain,
        run_id=run_id,
        rows_read=int(cleaning_summary["rows_read"]),
        rows_rejected=int(cleaning_summary["rows_rejected"]),
        max_reject_ratio=max_reject_ratio,
    )
