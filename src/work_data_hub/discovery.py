"""Room 2: which files belong to a domain, their periods, and which ones to read.

Pure functions over paths, sizes and modification times: no pandas, no Excel, no SQL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import PurePosixPath
from typing import Any

from work_data_hub.errors import WorkDataHubError
from work_data_hub.months import Month

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
    """The discovery verdict: what is read, what lost to a newer delivery, what waits.

    ``future`` are files whose period lies too far ahead to be a real delivery (a typo such as
    ``2052_10``): never picked as the newest, named only by ``periods``. ``no_delivery`` says
    why nothing is selected when the domain has nothing to read (the WARNING's text); the
    domain then ends as ``no_delivery`` and writes nothing.
    """

    selected: tuple[DatedFile, ...]
    superseded: tuple[DatedFile, ...]
    not_selected: tuple[DatedFile, ...]
    future: tuple[DatedFile, ...] = ()
    no_delivery: str | None = None


class PeriodsNotDeliveredError(WorkDataHubError, LookupError):
    """``periods`` names months the inbox lacks for a domain that has some of the others.

    Args:
        domain: The domain.
        missing: The asked periods the inbox lacks.
        available: The periods the inbox has for the domain.
        inbox: The inbox folder.
    """

    def __init__(
        self, domain: str, missing: tuple[str, ...], available: tuple[str, ...], inbox: str
    ) -> None:
        self.domain, self.missing, self.available, self.inbox = domain, missing, available, inbox
        super().__init__(
            f"{domain}: no workbook for period {', '.join(missing)} under inbox {inbox!r}; "
            f"it has {', '.join(available)}. Ask for those (periods=...) or drop the missing "
            "ones; nothing was read or loaded.",
            domain=domain,
            missing=list(missing),
            available=list(available),
            inbox=inbox,
        )


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


def newest_per_period(dated: list[DatedFile]) -> tuple[list[DatedFile], list[DatedFile]]:
    """(one winner per period, newest period first; the superseded, by path)."""
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
    return winners, sorted(superseded, key=lambda f: f.path)


def _by_period(files: list[DatedFile]) -> tuple[DatedFile, ...]:
    return tuple(sorted(files, key=lambda f: (f.year, f.month)))


def select_files(
    dated: list[DatedFile], max_files: int, *, latest: Month | None = None
) -> Selection:
    """One file per period (highest V-folder, then newest mtime), newest ``max_files`` periods.

    A period after ``latest`` (the current month plus the domain's tolerance) is ``future``:
    listed, never selected.

    Args:
        dated: The domain's files with their periods (:func:`match_domain`).
        max_files: How many of the newest periods to select.
        latest: The last period that is not from the future (default: no limit).
    """
    winners, superseded = newest_per_period(dated)
    future = [f for f in winners if latest is not None and Month(f.year, f.month) > latest]
    candidates = [f for f in winners if f not in future]
    return Selection(
        selected=_by_period(candidates[:max_files]),
        superseded=tuple(superseded),
        not_selected=_by_period(candidates[max_files:]),
        future=_by_period(future),
    )


def select_periods(
    dated: list[DatedFile], periods: tuple[str, ...], *, latest: Month | None = None
) -> tuple[Selection, tuple[str, ...]]:
    """Exactly the files of ``periods`` (one per period), and the asked periods not there.

    A future file is selected when asked for by name; one not asked for is still listed.

    Args:
        dated: The domain's files with their periods (:func:`match_domain`).
        periods: The periods asked for (``YYYY-MM``).
        latest: The last period that is not from the future (default: no limit).
    """
    winners, superseded = newest_per_period(dated)
    asked = set(periods)
    selected = [f for f in winners if f.period in asked]
    others = [f for f in winners if f.period not in asked]
    future = [f for f in others if latest is not None and Month(f.year, f.month) > latest]
    present = {f.period for f in selected}
    return (
        Selection(
            selected=_by_period(selected),
            superseded=tuple(f for f in superseded if f.period in asked),
            not_selected=_by_period([f for f in others if f not in future]),
            future=_by_period(future),
        ),
        tuple(period for period in periods if period not in present),
    )


def discover(
    candidates: list[FileCandidate],
    pattern: re.Pattern[str],
    max_files: int,
    *,
    inbox: str,
    domain: str = "",
    periods: tuple[str, ...] | None = None,
    latest: Month | None = None,
    first: Month | None = None,
) -> Selection:
    """Apply every Discovery rule.

    Nothing to read (no file matches, none of the asked ``periods`` is there, or every file
    is from the future) is a :class:`Selection` whose ``no_delivery`` says why, not an error:
    one domain without a delivery stops no other. Asked ``periods`` before ``first`` (the
    domain's calendar) are not expected and left out. Some of the asked periods there and
    some not is :class:`PeriodsNotDeliveredError`, naming the periods the inbox has. The
    pattern is shown as written in data_sources.yml (not repr'd, which doubles backslashes).

    Args:
        candidates: The inbox's files (path, size, mtime).
        pattern: The domain's compiled pattern, with ``year`` and ``month`` groups.
        max_files: How many of the newest periods to select (without ``periods``).
        inbox: The inbox folder (named in messages).
        domain: The domain (named in the error).
        periods: Exactly these periods (``YYYY-MM``) instead of the newest ``max_files``.
        latest: The last period that is not from the future (default: no limit).
        first: The domain's first expected period (asked periods before it are left out).

    Raises:
        PeriodsNotDeliveredError: Some asked periods are in the inbox and some are not.
    """
    dated = match_domain(candidates, pattern)
    if not dated:
        return Selection(
            (),
            (),
            (),
            no_delivery=(
                f"no workbook under inbox {inbox!r} matches pattern '{pattern.pattern}' "
                f"(looked at {len(candidates)} files; .xlsx/.xlsm only, temp/backup/archive, "
                "hidden and lock files skipped)"
            ),
        )
    if periods is None:
        selection = select_files(dated, max_files, latest=latest)
        if selection.selected:
            return selection
        return replace(
            selection,
            no_delivery=(
                f"every workbook matching pattern '{pattern.pattern}' is from the future "
                f"(after {latest}): {', '.join(f.path for f in selection.future)}; name its "
                "period in periods=... if it is meant"
            ),
        )
    if first is not None:
        expected = tuple(period for period in periods if period >= str(first))
        if not expected:
            return Selection(
                (),
                (),
                (),
                no_delivery=(
                    f"no asked period is expected (its calendar starts {first}; "
                    f"pattern '{pattern.pattern}')"
                ),
            )
        periods = expected
    selection, missing = select_periods(dated, periods, latest=latest)
    available = tuple(sorted({f.period for f in dated}))
    if not selection.selected:
        return replace(
            selection,
            no_delivery=(
                f"no workbook for period {', '.join(periods)} matches pattern "
                f"'{pattern.pattern}' under inbox {inbox!r} (it has {', '.join(available)})"
            ),
        )
    if missing:
        raise PeriodsNotDeliveredError(domain, missing, available, inbox)
    return selection


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
            "future": [entry(f, with_hash=False) for f in self.selection.future],
            "no_delivery": self.selection.no_delivery,
            "already_loaded": [
                {**entry(skipped.file), "run_id": skipped.run_id} for skipped in self.already_loaded
            ],
        }
