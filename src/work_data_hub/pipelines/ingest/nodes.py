"""Node functions of the ingest pipeline: rooms 2-4 wired for Kedro.

Each function is bound to one domain's :class:`DomainConfig` by the pipeline factory.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import polars as pl

from work_data_hub.cleaning.checks import (
    brings_consecutive_months,
    continuity_in_delivery,
    period_sums,
)
from work_data_hub.cleaning.engine import (
    CleaningSummary,
    CleanResult,
    FileCleaning,
    clean_sheet,
    combine_files,
    rejects_by_reason,
    source_positions,
)
from work_data_hub.cleaning.reading import RawSheet, headers_read_by, read_sheet
from work_data_hub.cleaning.sheet_xml import column_letters
from work_data_hub.cleaning.workbook import ExcelWorkbook
from work_data_hub.config import DomainConfig, check_run_parameters
from work_data_hub.config.business_checks import BusinessCheckResult, domain_check_names, merged
from work_data_hub.config.params import accepted_names
from work_data_hub.discovery import (
    AlreadyLoaded,
    DatedFile,
    FileCandidate,
    FileManifest,
    discover,
)
from work_data_hub.load.business_checks import business_selects
from work_data_hub.load.checks import BusinessSelect
from work_data_hub.load.copy_format import copy_length
from work_data_hub.load.ledger import LedgerReader
from work_data_hub.load.modes import LOAD_MODES
from work_data_hub.load.plan import LoadedFile, LoadPlan, build_load_plan, copy_columns
from work_data_hub.load.row_diff import build_row_diff_query
from work_data_hub.months import current_month
from work_data_hub.months import today as today_or_fixed
from work_data_hub.reports.rejects_workbook import RejectedFile, RejectsToMark
from work_data_hub.rows import CleanRows, CopyLength, FileRows, RowSpool
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
    workbooks: WorkbookLoaders,
    inbox: str,
    max_files: int | None,
    periods: object = None,
    *,
    domain: DomainConfig,
) -> FileManifest:
    """Pick the domain's files by the Discovery rules; nothing is opened as a workbook here.

    Nothing to read is a manifest whose selection says ``no_delivery`` (one WARNING), not an
    error, so the other domains run on.

    Args:
        workbooks: The inbox's workbooks by their path in it (not opened here).
        inbox: The inbox folder.
        max_files: How many of the newest periods to take.
        periods: Exactly these periods instead (the ``periods`` parameter), if given.
        domain: The domain whose pattern picks the files.

    Raises:
        RunParametersError: ``inbox`` is missing or empty, or ``max_files`` or ``periods``
            is malformed.
        PeriodsNotDeliveredError: Some asked periods are in the inbox and some are not.
    """
    params = check_run_parameters(
        {"inbox": inbox, "max_files": max_files, "periods": periods}, inbox_must_hold_files=True
    )
    root = Path(inbox)
    candidates = []
    # Partition ids are POSIX paths relative to the inbox (fsspec), the form discovery expects.
    for partition in workbooks:
        stat = (root / partition).stat()
        candidates.append(FileCandidate(partition, stat.st_size, stat.st_mtime))
    latest = current_month().plus(domain.future_tolerance)
    selection = discover(
        candidates,
        domain.compiled_pattern,
        params.newest_periods,
        inbox=inbox,
        domain=domain.name,
        periods=params.periods,
        latest=latest,
        first=domain.calendar.first_month if domain.calendar else None,
    )
    hashed = [*selection.selected, *selection.superseded]
    manifest = FileManifest(inbox, selection, {f.path: _sha256(root / f.path) for f in hashed})
    for file in selection.future:
        logger.warning(
            "%s: %s is from the future (period %s, after %s); not selected, periods=%s "
            "loads it if it is meant",
            domain.name, file.path, file.period, latest, file.period,
            extra={"event": "future_file", "domain": domain.name, "file": file.path,
                   "period": file.period, "latest": str(latest)},
        )  # fmt: skip
    if selection.no_delivery:
        logger.warning(
            "%s: no delivery: %s; nothing is written for it",
            domain.name,
            selection.no_delivery,
            extra={"event": "no_delivery", "domain": domain.name, "pattern": domain.pattern},
        )
    for file in selection.selected:
        logger.info("%s: selected %s (period %s)", domain.name, file.path, file.period)
    for file in selection.superseded:
        logger.info("%s: superseded %s (period %s), not read", domain.name, file.path, file.period)
    return manifest


def skip_loaded(
    manifest: FileManifest, ledger: LedgerReader, reload: bool, *, domain: DomainConfig
) -> FileManifest:
    """Leave out each selected file whose sha256 the newest load of its period loaded.

    The ledger is empty in plan-only runs, so they plan every selected file; ``reload``
    loads them again anyway.

    Args:
        manifest: The selected files and their sha256.
        ledger: The load ledger (empty in plan-only runs).
        reload: Plan every selected file, loaded or not.
        domain: The domain whose ledger rows are read.

    Raises:
        LedgerReadError: The warehouse refused to read the ledger.
    """
    newest = ledger.newest_loads(domain.name, domain.table)
    if reload or not newest:
        return manifest
    keep: list[DatedFile] = []
    skipped: list[AlreadyLoaded] = []
    for file in manifest.selection.selected:
        loaded = newest.get(file.period)
        if loaded is not None and loaded.sha256 == manifest.sha256.get(file.path):
            skipped.append(AlreadyLoaded(file, loaded.run_id))
            logger.info(
                "%s: already loaded %s (period %s) by run %s; reload=true loads it again",
                domain.name,
                file.path,
                file.period,
                loaded.run_id,
                extra={"event": "already_loaded", "domain": domain.name, "file": file.path,
                       "period": file.period, "loaded_by_run": loaded.run_id},
            )  # fmt: skip
        else:
            keep.append(file)
    selection = replace(manifest.selection, selected=tuple(keep))
    return replace(manifest, selection=selection, already_loaded=tuple(skipped))


def clean_workbooks(
    workbooks: WorkbookLoaders,
    manifest: FileManifest,
    *,
    domain: DomainConfig,
) -> tuple[CleanRows, pl.DataFrame, CleaningSummary, RejectsToMark]:
    """Read only the selected workbooks, clean their rows, and split off the rejects: as
    rows (the CSV) and as the delivered workbooks to mark (the marked copies).

    With several files, :data:`FILES_AT_ONCE` workbooks are read and cleaned at a time, in
    threads, and each file's clean rows are spooled to disk as soon as it is cleaned
    (:mod:`work_data_hub.rows`), so memory holds about two files' rows. The rows stay in file
    order, and what is decided over all files (duplicate keys, then the reject ratio in
    :func:`plan_load`) is decided once every file is cleaned.
    Without a delivery the rejects are a frame without columns, which writes no file.

    Args:
        workbooks: The inbox's workbooks by their path in it; only the selected are opened.
        manifest: The files to read.
        domain: The sheet, headers and rules to read them by.

    Returns:
        The clean rows, the rejected rows (one reason each) and the cleaning summary.

    Raises:
        WorkbookReadError: A workbook cannot be opened, or its sheet or header row is not
            there, a header the domain reads appears twice, or a column without a header
            holds data (an :class:`InboxWorkbookError` when the inbox dataset opened it).
        MissingColumnError: A header the domain needs is not in the sheet.
    """
    today = today_or_fixed()
    selected = manifest.selection.selected
    spool = RowSpool() if len(selected) > 1 else None

    def clean_one(file: DatedFile) -> _CleanedFile:
        return _clean_file(workbooks[file.path], file.path, domain, today, spool)

    results: list[CleanResult] = []
    parts: list[FileRows] = []
    rows_blank = rows_total = 0
    files: dict[str, FileCleaning] = {}
    for file, cleaned in zip(selected, _in_file_order(clean_one, selected), strict=True):
        results.append(cleaned.result)
        parts.append(cleaned.part)
        rows_blank += cleaned.rows_blank
        rows_total += cleaned.rows_total
        files[file.path] = cleaned.report
        logger.info(
            "%s: read %s from %s (%s blank and %s total skipped)",
            domain.name,
            plural(cleaned.result.rows_read, "row"),
            file.path,
            cleaned.rows_blank,
            cleaned.rows_total,
        )
    combined = combine_files(results, parts, domain)
    rejects = pl.DataFrame() if manifest.selection.no_delivery else combined.rejects
    summary = CleaningSummary(
        rows_read=combined.rows_read,
        rows_skipped_blank=rows_blank,
        rows_skipped_total=rows_total,
        rows_rejected=combined.rows_rejected,
        rows_clean=len(combined.rows),
        unknown_columns=tuple(combined.unknown_headers),
        absent_columns=tuple(combined.absent_columns),
        files=files,
        rejects_by_reason=rejects_by_reason(combined.rejects),
        checks=tuple(combined.checks),
    )
    if summary.absent_columns:
        logger.warning(
            "%s: optional column(s) %s had no header in a delivery and are NULL there",
            domain.name,
            list(summary.absent_columns),
        )
    if summary.unknown_columns:
        logger.warning(
            "%s: header(s) %s of a delivery are declared by no column of the domain and were "
            "not loaded; declare them in data_sources.yml to load them",
            domain.name,
            list(summary.unknown_columns),
            extra={"event": "unknown_headers", "domain": domain.name},
        )
    if summary.rows_rejected:
        logger.warning(
            "%s: %s rejected; see the rejects file",
            domain.name,
            plural(summary.rows_rejected, "row"),
        )
    return (
        combined.rows,
        rejects,
        summary,
        _to_mark(combined.rejects, manifest, files, domain),
    )


# Workbooks read and cleaned at once in a run of several files: the machine's two cores, and
# memory bounded by two files' rows (each file's clean rows are spooled as soon as it is done).
FILES_AT_ONCE = 2


@dataclass(frozen=True)
class _CleanedFile:
    """One file cleaned: its rejects and counts, its rows (in a part), its line of the report."""

    result: CleanResult
    part: FileRows
    rows_blank: int
    rows_total: int
    report: FileCleaning


def _clean_file(
    load: Callable[[], ExcelWorkbook],
    path: str,
    domain: DomainConfig,
    today: dt.date,
    spool: RowSpool | None,
) -> _CleanedFile:
    """Open, read and clean one workbook; its rows go to ``spool`` (kept in memory without)."""
    started = time.perf_counter()
    workbook = load()
    # Lineage and messages name the file by its path in the inbox, so V1 and V2 differ.
    workbook.name = path
    sheet = read_sheet(workbook, domain.sheet, domain.header_row, reads=headers_read_by(domain))
    del workbook
    result = clean_sheet(sheet, domain, today)
    # Counted here, in this file's thread, while the rows are in memory: the plan's step line
    # needs it before the COPY starts.
    columns = copy_columns(domain)
    length = CopyLength(columns, copy_length(result.rows, list(columns)))
    part = spool.keep(result.rows, length) if spool else FileRows.in_memory(result.rows, length)
    return _CleanedFile(
        # The rows are in the part now; the result keeps the rejects and the counts.
        result=replace(result, rows=result.rows.clear()),
        part=part,
        rows_blank=sheet.rows_blank,
        rows_total=sheet.rows_total,
        report=FileCleaning(
            sheet=sheet.sheet,
            rows_read=result.rows_read,
            rows_skipped=sheet.rows_blank + sheet.rows_total,
            seconds=round(time.perf_counter() - started, 3),
            columns=_letters(sheet, domain),
        ),
    )


def _in_file_order(
    clean: Callable[[DatedFile], _CleanedFile], selected: Sequence[DatedFile]
) -> Iterator[_CleanedFile]:
    """``clean`` of each file, in file order, :data:`FILES_AT_ONCE` files at a time.

    Threads, not processes: fastexcel parses and polars computes without holding the GIL, and
    a thread shares the domain and the spool without pickling them. The first file (in file
    order) that fails raises its own error, as it would one file after another; the files not
    started are not read, and the one still being read is waited for (a thread cannot be
    stopped), so no thread outlives the node. One file is cleaned in this thread.
    """
    if len(selected) <= 1:
        yield from (clean(file) for file in selected)
        return
    with ThreadPoolExecutor(FILES_AT_ONCE, thread_name_prefix="clean_file") as pool:
        pending = [pool.submit(clean, file) for file in selected]
        try:
            for future in pending:
                yield future.result()
        finally:
            # On an error (or when the caller stops early) the files not started are dropped.
            for future in pending:
                future.cancel()


def _letters(sheet: RawSheet, domain: DomainConfig) -> dict[str, list[str]]:
    """Each declared column's Excel column letter(s) in ``sheet``."""
    return {
        name: [column_letters(sheet.first_column + position) for position in positions]
        for name, positions in source_positions(domain, sheet.headers).items()
        if positions
    }


def _to_mark(
    rejects: pl.DataFrame,
    manifest: FileManifest,
    files: dict[str, FileCleaning],
    domain: DomainConfig,
) -> RejectsToMark:
    """The delivered workbooks that have rejects, with their rejects."""
    return RejectsToMark(
        inbox=manifest.inbox,
        domain=domain,
        files=tuple(
            RejectedFile(
                path=str(path),
                sheet=files[str(path)].sheet,
                rejects=part,
                columns=files[str(path)].columns,
            )
            for (path,), part in rejects.partition_by(
                "file", as_dict=True, maintain_order=True
            ).items()
            if str(path) in files
        ),
    )


def delivery_checks(
    rows: CleanRows, cleaning_summary: CleaningSummary, *, domain: DomainConfig
) -> tuple[list[BusinessCheckResult], tuple[BusinessSelect, ...]]:
    """The business checks over the delivery: what it decides alone, and the warehouse SELECTs.

    The sheet checks (identity, total rows) ran while cleaning; continuity compares the
    months this delivery brings, and the warehouse for a month whose previous one it lacks.
    """
    results = merged(cleaning_summary.checks)
    for check in domain.business_checks:
        if check.kind != "continuity" or not brings_consecutive_months(rows, check):
            continue
        found = continuity_in_delivery(check, period_sums(rows, check))
        results += [found] if found is not None else []
    return results, business_selects(domain, rows, results)


def plan_load(
    rows: CleanRows,
    cleaning_summary: CleaningSummary,
    manifest: FileManifest,
    run_id: str,
    max_reject_ratio: float,
    accept_checks: Any = None,
    *,
    domain: DomainConfig,
) -> LoadPlan:
    """The load as data: statements and COPY payload, the same for plan and execute.

    Args:
        rows: The clean rows.
        cleaning_summary: The counts the plan's summary and the reject limit use.
        manifest: The files the rows come from (the ledger records them).
        run_id: The run's id (1-64 letters, digits or ``_.:-``).
        max_reject_ratio: The share of rejected rows an execute run accepts.
        accept_checks: The business checks accepted for this run (a name or a list of names).
        domain: The target table and load mode, and its business checks.

    Raises:
        ValueError: ``run_id`` is not 1-64 letters, digits or ``_.:-``.
    """
    checks, selects = delivery_checks(rows, cleaning_summary, domain=domain)
    rows_per_file = rows.rows_per_file()
    files = [
        LoadedFile(
            path=file.path,
            sha256=manifest.sha256.get(file.path),
            period=file.period,
            rows=int(rows_per_file.get(file.path, 0)),
        )
        for file in manifest.selection.selected
    ]
    plan = build_load_plan(
        rows,
        domain,
        run_id=run_id,
        rows_read=cleaning_summary.rows_read,
        rows_rejected=cleaning_summary.rows_rejected,
        max_reject_ratio=max_reject_ratio,
        files=files,
        checks=checks,
        business=selects,
        accepted_checks=[
            name for name in accepted_names(accept_checks) if name in domain_check_names(domain)
        ],
    )
    if manifest.selection.no_delivery:
        return replace(plan, no_delivery=True)
    if plan.summary is None:
        return plan
    # Where each column came from in each file, so that a change of the review names its cell.
    sources = {
        path: (file.sheet, dict(file.columns)) for path, file in cleaning_summary.files.items()
    }
    return replace(
        plan,
        summary=plan.summary.with_sources(sources),
        row_diff_query=build_row_diff_query(
            domain, mode_replaces_scope=LOAD_MODES[domain.mode].uses_refresh_scope
        ),
    )
