"""Room 2: which files belong to a domain, their periods, and which ones to read.

Pure functions over paths, sizes and modification times: no pandas, no Excel, no SQL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from work_data_hub.errors import WorkDataHubError

EXCLUDED_FOLDERS = frozenset({"temp", "backup", "archive"})
EXCLUDED_SUFFIXES = frozenset({".tmp", ".bak", ".eml"})
WORKBOOK_SUFFIXES = frozenset({".xlsx", ".xlsm"})
_VERSION_FOLDER = re.compile(r"^v(\d+)$", re.IGNORECASE)


@dataclass(frozen=True)
class FileCandidate:
    """A file under the inbox: its path relative to the inbox (POSIX), size and mtime."""

    path: str
    size: int
    mtime: float


@dataclass(frozen=True)
class DatedFile:
    """A file that belongs to the domain, with its period (first day of the month)."""

    path: str
    size: int
    mtime: float
    year: int
    month: int
    version: int

    @property
    def period(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


@dataclass(frozen=True)
class Selection:
    """The discovery verdict: what is read, what lost to a newer delivery, what waits."""

    selected: tuple[DatedFile, ...]
    superseded: tuple[DatedFile, ...]
    not_selected: tuple[DatedFile, ...]


class NoMatchingFileError(WorkDataHubError, FileNotFoundError):
    """No file under the inbox matches a domain's pattern.

    Args:
        message: What was looked at and what is skipped.
        inbox: The inbox folder.
        pattern: The domain's file pattern, as written in data_sources.yml.
        files_seen: How many files the inbox holds.
    """

    def __init__(self, message: str, *, inbox: str, pattern: str, files_seen: int) -> None:
        super().__init__(message, inbox=inbox, pattern=pattern, files_seen=files_seen)


def is_excluded(path: str) -> bool:
    """True for files in temp/backup/archive or hidden folders, lock, hidden and temp files.

    Args:
        path: The file's POSIX path relative to the inbox.
    """
    parts = PurePosixPath(path).parts
    folders, name = parts[:-1], parts[-1]
    if any(folder.lower() in EXCLUDED_FOLDERS or folder.startswith(".") for folder in folders):
        return True
    if name.startswith(("~$", ".")):
        return True
    return PurePosixPath(name).suffix.lower() in EXCLUDED_SUFFIXES


def version_of(path: str) -> int:
    """The highest ``V<n>`` folder among a file's parents, 0 when there is none.

    Args:
        path: The file's POSIX path relative to the inbox.
    """
    versions = [
        int(match.group(1))
        for folder in PurePosixPath(path).parts[:-1]
        if (match := _VERSION_FOLDER.match(folder))
    ]
    return max(versions, default=0)


def period_of(name: str, pattern: re.Pattern[str]) -> tuple[int, int] | None:
    """The (year, month) a file name carries under ``pattern``, or None if it does not match.

    Two-digit years mean 20YY. A match whose month is outside 1-12 does not count.

    Args:
        name: The file name (no folders).
        pattern: The domain's compiled pattern, with ``year`` and ``month`` groups.
    """
    match = pattern.search(name)
    if not match:
        return None
    year_text, month_text = match.group("year"), match.group("month")
    if not (year_text and month_text and year_text.isdigit() and month_text.isdigit()):
        return None
    year, month = int(year_text), int(month_text)
    if len(year_text) == 2:
        year += 2000
    if not 1 <= month <= 12:
        return None
    return year, month


def match_domain(candidates: list[FileCandidate], pattern: re.Pattern[str]) -> list[DatedFile]:
    """The candidates that belong to the domain, each with its period and V-folder version.

    Args:
        candidates: The inbox's files (path, size, mtime).
        pattern: The domain's compiled pattern, with ``year`` and ``month`` groups.
    """
    dated = []
    for candidate in candidates:
        if is_excluded(candidate.path):
            continue
        name = PurePosixPath(candidate.path).name
        if PurePosixPath(name).suffix.lower() not in WORKBOOK_SUFFIXES:
            continue
        period = period_of(name, pattern)
        if period is None:
            continue
        dated.append(
            DatedFile(
                path=candidate.path,
                size=candidate.size,
                mtime=candidate.mtime,
                year=period[0],
                month=period[1],
                version=version_of(candidate.path),
            )
        )
    return dated


def select_files(dated: list[DatedFile], max_files: int) -> Selection:
    """One file per period (highest V-folder, then newest mtime), newest ``max_files`` periods.

    Args:
        dated: The domain's files with their periods (:func:`match_domain`).
        max_files: How many of the newest periods to select.
    """
    by_period: dict[tuple[int, int], list[DatedFile]] = {}
    for file in dated:
        by_period.setdefault((file.year, file.month), []).append(file)
    winners: list[DatedFile] = []
    superseded: list[DatedFile] = []
    for files in by_period.values():
        ranked = sorted(files, key=lambda f: (f.version, f.mtime, f.path), reverse=True)
        winners.append(ranked[0])
        superseded.extend(ranked[1:])
    winners.sort(key=lambda f: (f.year, f.month), reverse=True)
    selected = sorted(winners[:max_files], key=lambda f: (f.year, f.month))
    return Selection(
        selected=tuple(selected),
        superseded=tuple(sorted(superseded, key=lambda f: f.path)),
        not_selected=tuple(sorted(winners[max_files:], key=lambda f: (f.year, f.month))),
    )


def discover(
    candidates: list[FileCandidate],
    pattern: re.Pattern[str],
    max_files: int,
    *,
    inbox: str,
) -> Selection:
    """Apply every Discovery rule; raise :class:`NoMatchingFileError` when nothing matches.

    The pattern is shown as written in data_sources.yml (not repr'd, which doubles backslashes).

    Args:
        candidates: The inbox's files (path, size, mtime).
        pattern: The domain's compiled pattern, with ``year`` and ``month`` groups.
        max_files: How many of the newest periods to select.
        inbox: The inbox folder (named in the error).

    Raises:
        NoMatchingFileError: No candidate matches the pattern.
    """
    dated = match_domain(candidates, pattern)
    if not dated:
        raise NoMatchingFileError(
            f"No workbook under inbox {inbox!r} matches pattern '{pattern.pattern}' "
            f"(looked at {len(candidates)} files; .xlsx/.xlsm only, temp/backup/archive, hidden "
            "and lock files skipped)",
            inbox=str(inbox),
            pattern=pattern.pattern,
            files_seen=len(candidates),
        )
    return select_files(dated, max_files)


@dataclass(frozen=True)
class AlreadyLoaded:
    """A selected file the ledger says is loaded: same sha256 for its period, by ``run_id``."""

    file: DatedFile
    run_id: str


@dataclass(frozen=True)
class FileManifest:
    """The discovery verdict plus each reported file's sha256, for the run report.

    ``already_loaded`` are selected files left out because the ledger has them (they are no
    longer in ``selection.selected``).
    """

    inbox: str
    selection: Selection
    sha256: dict[str, str]
    already_loaded: tuple[AlreadyLoaded, ...] = ()

    def report(self) -> dict[str, Any]:
        def entry(file: DatedFile, with_hash: bool = True) -> dict[str, Any]:
            item: dict[str, Any] = {"path": file.path, "period": file.period, "size": file.size}
            if with_hash:
                item["sha256"] = self.sha256.get(file.path)
            return item

        return {
            "inbox": self.inbox,
            "selected": [entry(f) for f in self.selection.selected],
            "superseded": [entry(f) for f in self.selection.superseded],
            "not_selected": [entry(f, with_hash=False) for f in self.selection.not_selected],
            "already_loaded": [
                {**entry(skipped.file), "run_id": skipped.run_id} for skipped in self.already_loaded
            ],
        }
