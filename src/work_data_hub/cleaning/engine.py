"""Apply a domain's declared columns to the rows read from its workbooks; split rejects.

Columnar (polars): each column's rule yields its clean values and a reason column; a row with
any reason is rejected, one reject line per bad cell. Values stay text in the form PostgreSQL
reads for the column's type (decimals as exact digits, never floats), ready for COPY.
"""

from __future__ import annotations

import datetime as dt
import difflib
import importlib
import logging
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import polars as pl

from work_data_hub.cleaning import checks, rules
from work_data_hub.cleaning.reading import SOURCE_FILE, SOURCE_ROW, RawSheet, normalise_header
from work_data_hub.cleaning.registry import RULES, Rule, RuleInput
from work_data_hub.cleaning.rules import RuleResult
from work_data_hub.config import ColumnSpec, DomainConfig
from work_data_hub.config.business_checks import BusinessCheckResult, not_evaluated
from work_data_hub.errors import WorkDataHubError
from work_data_hub.rows import CleanRows, FileRows

if TYPE_CHECKING:
    # A domain's transform takes and returns pandas; only such a domain imports it (0.5 s).
    import pandas as pd

logger = logging.getLogger(__name__)

REJECT_COLUMNS = ["file", "sheet", "row", "column", "value", "reason"]
# Excel cannot hold more characters in a cell; a longer one was not typed in Excel (a generated
# or corrupt file) and is rejected rather than pushed into the warehouse.
EXCEL_CELL_LIMIT = 32_767
Transform = Callable[["pd.DataFrame", DomainConfig], "pd.DataFrame"]
_REJECT_SCHEMA = {
    "file": pl.String,
    "sheet": pl.String,
    "row": pl.Int64,
    "column": pl.String,
    "value": pl.String,
    "reason": pl.String,
}


def index_columns(domain: DomainConfig, columns: Sequence[str]) -> list[str]:
    """The columns decisions over all files need: unique key, refresh scope, lineage."""
    wanted = [*(domain.unique_key or []), *domain.refresh_scope, SOURCE_FILE, SOURCE_ROW]
    return [column for column in dict.fromkeys(wanted) if column in columns]


def index_of(part: FileRows, domain: DomainConfig) -> pl.DataFrame:
    """The :func:`index_columns` of one file's rows (read from the spool, just those columns)."""
    return part.read(index_columns(domain, list(part.schema)))


class MissingColumnError(WorkDataHubError, ValueError):
    """A workbook lacks a header the domain reads; the message names file, sheet, header.

    Args:
        message: Which headers are missing, what the sheet has, and what to do.
        file: The workbook.
        sheet: The sheet read.
        headers: The missing headers the domain cannot do without.
    """

    def __init__(self, message: str, *, file: str, sheet: str, headers: list[str]) -> None:
        super().__init__(message, file=file, sheet=sheet, headers=list(headers))


@dataclass
class CleanResult:
    """One sheet's (or, from :func:`combine`, all files') clean rows and rejects."""

    rows: pl.DataFrame
    # Small (one line per bad cell) and saved by the CSV dataset; columns: REJECT_COLUMNS.
    rejects: pl.DataFrame
    rows_read: int
    unknown_headers: list[str] = field(default_factory=list)
    # Declared optional columns whose header this delivery lacks (loaded as NULL).
    absent_columns: list[str] = field(default_factory=list)
    # file name -> the sheet its rows came from, so that duplicate-key rejects name the sheet.
    sheets: dict[str, str] = field(default_factory=dict)
    # The business checks evaluated on this sheet (identity, total_row).
    checks: list[BusinessCheckResult] = field(default_factory=list)

    @property
    def rows_rejected(self) -> int:
        """Rejected rows (a row with several bad cells counts once)."""
        return _rows_rejected(self.rejects)


def _rows_rejected(rejects: pl.DataFrame) -> int:
    return rejects.select("file", "row").unique().height


def rejects_by_reason(rejects: pl.DataFrame) -> tuple[tuple[str, str, int, int], ...]:
    """(column, reason, cells, rows) of the rejects, most cells first."""
    counted = (
        rejects.group_by("column", "reason")
        .agg(pl.len().alias("cells"), pl.struct("file", "row").n_unique().alias("rows"))
        .sort(["cells", "column", "reason"], descending=[True, False, False])
    )
    return tuple(
        (str(column), str(reason), int(cells), int(rows))
        for column, reason, cells, rows in counted.iter_rows()
    )


@dataclass(frozen=True)
class FileCleaning:
    """What cleaning one file did, for the run report."""

    sheet: str
    rows_read: int
    rows_skipped: int
    seconds: float
    # Each declared column's Excel column letter(s) in this file (``{"期末资产规模": ["H"]}``).
    columns: Mapping[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class CleaningSummary:
    """The counts of one domain's cleaning, used by the plan node and the run report."""

    rows_read: int
    rows_skipped_blank: int
    rows_skipped_total: int
    rows_rejected: int
    rows_clean: int
    unknown_columns: tuple[str, ...] = ()
    absent_columns: tuple[str, ...] = ()
    files: Mapping[str, FileCleaning] = field(default_factory=dict)
    # (column, reason, cells, rows), most cells first: what the run report shows of the rejects.
    rejects_by_reason: tuple[tuple[str, str, int, int], ...] = ()
    # The business checks evaluated on the delivery alone (per sheet, and across its periods).
    checks: tuple[BusinessCheckResult, ...] = ()

    @property
    def rows_skipped(self) -> int:
        return self.rows_skipped_blank + self.rows_skipped_total

    def report(self) -> dict[str, Any]:
        """The summary as the run report's JSON fields."""
        return {
            "rows_read": self.rows_read,
            "rows_skipped": self.rows_skipped,
            "rows_skipped_blank": self.rows_skipped_blank,
            "rows_skipped_total": self.rows_skipped_total,
            "rows_rejected": self.rows_rejected,
            "rows_clean": self.rows_clean,
            "unknown_columns": list(self.unknown_columns),
            "absent_columns": list(self.absent_columns),
            "rejects_by_reason": [
                {"column": column, "reason": reason, "cells": cells, "rows": rows}
                for column, reason, cells, rows in self.rejects_by_reason
            ],
            "checks": [check.as_dict() for check in self.checks],
            "files": {
                path: {
                    "sheet": file.sheet,
                    "rows_read": file.rows_read,
                    "rows_skipped": file.rows_skipped,
                    "seconds": file.seconds,
                }
                for path, file in self.files.items()
            },
        }


def _rejects_frame(rejects: pl.DataFrame) -> pl.DataFrame:
    """The rejects as the CSV dataset saves them: REJECT_COLUMNS, in that order and type."""
    return rejects.cast(_REJECT_SCHEMA).select(REJECT_COLUMNS)  # type: ignore[arg-type]


# --- headers --------------------------------------------------------------------------------


def _resolve_headers(headers: Sequence[str], domain: DomainConfig) -> dict[str, str]:
    """Map each normalised source header the domain reads to the sheet's column holding it."""
    aliases = {
        normalise_header(alias): normalise_header(target)
        for alias, target in domain.header_aliases.items()
    }
    present: dict[str, str] = {}
    for header in headers:
        present.setdefault(aliases.get(header, header), header)
    for name, spec in domain.columns.items():
        for alias in spec.aliases:
            for source in spec.source_headers(name):
                if normalise_header(source) not in present and normalise_header(alias) in present:
                    present[normalise_header(source)] = present[normalise_header(alias)]
    return present


def source_positions(domain: DomainConfig, headers: Sequence[str]) -> dict[str, list[int]]:
    """Per declared column, the positions in ``headers`` (a sheet's normalised headers, see
    ``ShownSheet.headers``) of the cells it is read from: where a reject points in the sheet."""
    present = _resolve_headers(headers, domain)
    position = {header: index for index, header in enumerate(headers)}
    return {
        name: [
            position[present[normalise_header(source)]]
            for source in spec.source_headers(name)
            if normalise_header(source) in present
        ]
        for name, spec in domain.columns.items()
    }


def _needed_headers(domain: DomainConfig) -> dict[str, bool]:
    """Every source header the domain reads, and whether a delivery may lack it."""
    may_be_absent: dict[str, bool] = {}
    for name, spec in domain.columns.items():
        for source in spec.source_headers(name):
            key = normalise_header(source)
            may_be_absent[key] = may_be_absent.get(key, True) and spec.optional
    return may_be_absent


def _check_headers(
    sheet: RawSheet, domain: DomainConfig, headers: Sequence[str]
) -> tuple[dict[str, str], list[str], list[str]]:
    """(source header -> sheet column, unknown headers, absent optional columns).

    A declared header that is missing refuses the delivery unless its column is ``optional``:
    a renamed header must not turn a column into NULLs (``规模`` delivered as ``规模(元)``).
    """
    present = _resolve_headers(headers, domain)
    needed = _needed_headers(domain)
    used = {present[header] for header in needed if header in present}
    dropped = {normalise_header(column) for column in domain.drop_columns}
    unknown = sorted(
        {
            header
            for header in headers
            if not header.startswith("_unnamed_") and header not in dropped and header not in used
        }
    )
    missing = [header for header, optional in needed.items() if header not in present]
    refused = [header for header in missing if not needed[header]]
    if refused:
        strict = {
            normalise_header(source)
            for name, spec in domain.columns.items()
            if spec.required or name in domain.refresh_scope or name in (domain.unique_key or [])
            for source in spec.source_headers(name)
        }
        required = [header for header in refused if header in strict]
        declared = [header for header in refused if header not in strict]
        said = []
        if required:
            said.append(f"required column(s) {required} not found in the header row")
        if declared:
            said.append(
                f"declared column(s) {declared} not found"
                + (" either" if required else " in the header row")
                + " (mark a column `optional: true` if deliveries may leave it out)"
            )
        candidates = (
            sorted({match for header in refused for match in _look_alike(header, unknown)})
            or unknown
        )
        hint = (
            f"; unknown headers in the sheet that might be it: {candidates}" if candidates else ""
        )
        raise MissingColumnError(
            f"{sheet.file}, sheet {sheet.sheet!r}: {'; '.join(said)}{hint}; headers present: "
            f"{[h for h in headers if not h.startswith('_unnamed_')]}. Rename the header in the "
            "workbook, or add it as an alias of the column in data_sources.yml",
            file=sheet.file,
            sheet=sheet.sheet,
            headers=refused,
        )
    absent = [
        name
        for name, spec in domain.columns.items()
        if any(normalise_header(source) in missing for source in spec.source_headers(name))
    ]
    return present, unknown, absent


def _look_alike(header: str, unknown: list[str]) -> list[str]:
    contains = [other for other in unknown if header in other or other in header]
    return contains or difflib.get_close_matches(header, unknown, n=3, cutoff=0.5)


# --- columns --------------------------------------------------------------------------------


def _evaluation_order(domain: DomainConfig) -> list[str]:
    done: list[str] = []
    pending = dict(domain.columns)
    while pending:
        ready = [
            name for name, spec in pending.items() if all(ref in done for ref in _references(spec))
        ]
        if not ready:
            raise ValueError(
                f"domain '{domain.name}': columns refer to each other in a cycle: {sorted(pending)}"
            )
        for name in ready:
            done.append(name)
            del pending[name]
    return done


def _references(spec: ColumnSpec) -> list[str]:
    # A raw copy also waits for its origin: the origin's evaluation records its raw cells.
    refs = [spec.from_column] if spec.from_column else []
    return refs + [column for default in spec.defaults for column in default.when]


def _load_transform(dotted: str) -> Transform:
    module_name, _, function_name = dotted.rpartition(".")
    function = getattr(importlib.import_module(module_name), function_name)
    return cast(Transform, function)


def _as_polars(frame: pd.DataFrame | pl.DataFrame) -> pl.DataFrame:
    """A frame as polars text columns; a domain's transform works on (and returns) pandas."""
    polars_frame = frame if isinstance(frame, pl.DataFrame) else pl.from_pandas(frame)
    casts = [
        pl.col(name).cast(pl.Int64 if name == SOURCE_ROW else pl.String)
        for name in polars_frame.columns
    ]
    return polars_frame.with_columns(casts)


def _labelled(headers: list[str], cells: list[pl.Series]) -> pl.Series:
    """``年=2024, 月=13`` for a column read from several cells; empty cells show as nothing."""
    frame = pl.DataFrame([cell.alias(f"c{i}") for i, cell in enumerate(cells)])
    parts = [
        pl.lit(f"{header}=") + pl.col(f"c{i}").fill_null("") for i, header in enumerate(headers)
    ]
    any_given = pl.any_horizontal([pl.col(f"c{i}").is_not_null() for i in range(len(cells))])
    return frame.select(
        pl.when(any_given).then(pl.concat_str(parts, separator=", ")).otherwise(None).alias("v")
    )["v"]


def _condition(when: dict[str, list[str]], cleaned: dict[str, pl.Series], rows: int) -> pl.Series:
    holds = rules.filled(True, rows, pl.Boolean)
    for column, allowed in when.items():
        holds = holds & cleaned[column].is_in(
            pl.Series(allowed, dtype=pl.String).implode()
        ).fill_null(False)
    return holds


def _cell_checks(raw: pl.Series) -> pl.Series:
    """Reasons no rule can fix: longer than Excel allows, or a NUL PostgreSQL cannot store."""
    # Bytes are at least characters and cost nothing to count: characters only past the limit.
    long = (raw.str.len_bytes() > EXCEL_CELL_LIMIT).fill_null(False)
    has_nul = raw.str.contains("\x00", literal=True).fill_null(False)
    if not long.any() and not has_nul.any():
        return rules.no_errors(len(raw))
    lengths = raw.str.len_chars()
    return rules.first_reason(
        (
            lengths > EXCEL_CELL_LIMIT,
            "cell has " + lengths.cast(pl.String) + f" characters, more than Excel's limit of "
            f"{EXCEL_CELL_LIMIT}",
        ),
        # calamine decodes an escaped _x0000_ to NUL, which no PostgreSQL text can hold.
        (has_nul, "cell holds a NUL character (U+0000), which PostgreSQL text cannot store"),
    )


# Below this many rows the bookkeeping of distinct values costs more than it saves.
_DISTINCT_MIN_ROWS = 5_000
# Rules of independent columns run on this many threads once a sheet has this many rows:
# polars releases the GIL while it computes, so two rules keep two cores busy.
_RULE_THREADS = 2
_PARALLEL_MIN_ROWS = 50_000


def _apply_once_per_distinct(
    rule: Rule[Any],
    cells: list[pl.Series],
    origin: pl.Series | None,
    today: dt.date,
    spec: ColumnSpec,
) -> RuleResult:
    """The rule on each distinct cell (tuple) once, joined back to the rows.

    A cell rule's result depends on the row's own cells only, and monthly workbooks repeat
    years, months, codes and names on most rows.
    """
    given = RuleInput(tuple(cells), origin, today, spec.type)
    if rule.reads_column or len(cells[0]) < _DISTINCT_MIN_ROWS:
        return rule.apply(given, spec.options)
    names = [f"c{i}" for i in range(len(cells))]
    frame = pl.DataFrame([cell.alias(name) for cell, name in zip(cells, names, strict=True)])
    # A first slice tells cheaply whether values repeat (codes, years) or not (amounts).
    probe = frame.head(10_000)
    if probe.n_unique() * 2 > len(probe):
        return rule.apply(given, spec.options)
    distinct = frame.unique(maintain_order=False)
    if len(distinct) * 2 > len(frame):
        return rule.apply(given, spec.options)
    once = rule.apply(
        RuleInput(tuple(distinct[name] for name in names), None, today, spec.type), spec.options
    )
    lookup = distinct.with_columns(once.values.alias("_value"), once.errors.alias("_error"))
    spread = frame.join(lookup, on=names, how="left", nulls_equal=True, maintain_order="left")
    return RuleResult(spread["_value"], spread["_error"])


def _source_cells(
    domain: DomainConfig,
    order: list[str],
    present: Mapping[str, str],
    frame: pl.DataFrame,
    empty: pl.Series,
) -> tuple[dict[str, list[str]], dict[str, list[str | None]], dict[str, list[pl.Series]]]:
    """Per column: the headers it is made of, the sheet's columns for them, and their cells."""
    sources_of = {name: domain.columns[name].source_headers(name) for name in order}
    columns_of = {
        name: [present.get(normalise_header(header)) for header in sources]
        for name, sources in sources_of.items()
    }
    cells_of = {
        name: [frame[column] if column in frame.columns else empty for column in columns]
        for name, columns in columns_of.items()
    }
    return sources_of, columns_of, cells_of


def _origin(
    spec: ColumnSpec, raw_of: dict[str, pl.Series], cleaned: dict[str, pl.Series], empty: pl.Series
) -> pl.Series | None:
    """The column a rule reads (``from:``), as delivered or cleaned; None for a cell rule."""
    if not RULES[spec.rule].reads_column:
        return None
    source_column = cast(str, spec.from_column)
    return raw_of.get(source_column, empty) if spec.options.reads_raw else cleaned[source_column]


def _finished(
    name: str,
    spec: ColumnSpec,
    result: RuleResult,
    domain: DomainConfig,
    cleaned: dict[str, pl.Series],
    raw_of: dict[str, pl.Series],
    cell_problems: pl.DataFrame | None,
    columns: list[str | None],
) -> tuple[pl.Series, pl.Series]:
    """A column's clean values (NULL where rejected) and reasons, once its rule has run."""
    values = result.values
    if spec.defaults:
        conditions = [
            (_condition(default.when, cleaned, len(values)), default.value)
            for default in spec.defaults
        ]
        values = rules.apply_defaults(values, conditions)
    column_errors = result.errors
    if spec.required or name in domain.non_null_columns:
        column_errors = rules.coalesce_reasons(
            column_errors,
            rules.first_reason((values.is_null(), "required value is missing")),
        )
    if name in raw_of:
        column_errors = rules.coalesce_reasons(_cell_checks(raw_of[name]), column_errors)
    if cell_problems is not None:
        # The reader's word on a cell (an error cell, a formula without a value) comes first.
        for column in columns:
            if column in cell_problems.columns:
                column_errors = rules.coalesce_reasons(cell_problems[column], column_errors)
    return rules.where(values, column_errors.is_null()), column_errors


def clean_sheet(sheet: RawSheet, domain: DomainConfig, today: dt.date) -> CleanResult:
    """Clean one sheet's rows by the domain's declarations; every failure becomes a reject.

    Args:
        sheet: The sheet read as text cells (:func:`work_data_hub.cleaning.reading.read_sheet`).
        domain: The columns, their rules and the domain's own transform, if any.
        today: The date rules that refuse future dates compare with.

    Raises:
        MissingColumnError: A header the domain needs is not in the sheet.
    """
    frame = _as_polars(sheet.frame)
    headers: Sequence[str] = sheet.headers
    problems_frame = getattr(sheet, "cell_problems", None)
    cell_problems = _as_polars(problems_frame) if problems_frame is not None else None
    if domain.transform:
        transformed = _load_transform(domain.transform)(_pandas_text(frame), domain)
        # A transform may add or rename columns; the rules then see the frame it returns.
        frame = _as_polars(transformed)
        headers = [str(c) for c in frame.columns if c not in (SOURCE_FILE, SOURCE_ROW)]
        cell_problems = None
    present, unknown, absent = _check_headers(sheet, domain, headers)
    if absent:
        logger.warning(
            "%s, sheet %r: optional column(s) %s have no header in this delivery; loaded as NULL",
            sheet.file,
            sheet.sheet,
            absent,
        )
    rows = len(frame)
    empty = rules.filled(None, rows, pl.String)
    raw_of: dict[str, pl.Series] = {}
    cleaned: dict[str, pl.Series] = {}
    errors: dict[str, pl.Series] = {}
    order = _evaluation_order(domain)
    sources_of, columns_of, cells_of = _source_cells(domain, order, present, frame, empty)
    with ThreadPoolExecutor(_RULE_THREADS, thread_name_prefix="rules") as pool:
        # A rule that reads only its own cells needs no other column: it starts now, on the
        # other core, while this loop finishes the columns in order.
        ahead: dict[str, Future[RuleResult]] = (
            {
                name: pool.submit(
                    _apply_once_per_distinct, RULES[spec.rule], cells_of[name], None, today, spec
                )
                for name in order
                if not RULES[(spec := domain.columns[name]).rule].reads_column
            }
            if rows >= _PARALLEL_MIN_ROWS
            else {}
        )
        for name in order:
            spec = domain.columns[name]
            cells = cells_of[name]
            if sources_of[name]:
                # A reject shows every cell a column is made of (年 and 月), not just the first.
                raw_of[name] = cells[0] if len(cells) == 1 else _labelled(sources_of[name], cells)
            # Popped: a result is let go once its column is finished, as in the in-order run.
            result = (
                ahead.pop(name).result()
                if name in ahead
                else _apply_once_per_distinct(
                    RULES[spec.rule], cells, _origin(spec, raw_of, cleaned, empty), today, spec
                )
            )
            cleaned[name], errors[name] = _finished(
                name, spec, result, domain, cleaned, raw_of, cell_problems, columns_of[name]
            )
    extra, results = _sheet_checks(sheet, domain, frame, present, raw_of, cleaned, errors, today)
    collected = _collect(sheet, domain, frame, raw_of, cleaned, errors, unknown, absent, extra)
    collected.checks = results
    return collected


def _sheet_checks(
    sheet: RawSheet,
    domain: DomainConfig,
    frame: pl.DataFrame,
    present: Mapping[str, str],
    raw_of: dict[str, pl.Series],
    cleaned: dict[str, pl.Series],
    errors: dict[str, pl.Series],
    today: dt.date,
) -> tuple[list[checks.RowRejects], list[BusinessCheckResult]]:
    """The domain's row and sheet checks: identity rejects, total rows against the sums."""
    extra: list[checks.RowRejects] = []
    results: list[BusinessCheckResult] = []
    lineage = frame.select(SOURCE_FILE, SOURCE_ROW)
    for check in domain.business_checks:
        if check.kind == "identity" and len(frame):
            rejects, result = checks.identity(check, cleaned, raw_of, lineage)
            extra += [rejects] if rejects is not None else []
            results.append(result)
        elif check.kind == "total_row" and domain.transform:
            results.append(
                not_evaluated(check, f"{sheet.file}: a transform reshapes the rows first")
            )
        elif check.kind == "total_row":
            results.append(
                checks.total_row(check, domain, sheet, present, cleaned, errors, lineage, today)
            )
    return extra, results


def _pandas_text(frame: pl.DataFrame) -> pd.DataFrame:
    """The rows as a domain's transform takes them: pandas, text columns as ``string``."""
    pandas_frame = frame.to_pandas()
    for name, dtype in frame.schema.items():
        if dtype == pl.String:
            pandas_frame[name] = pandas_frame[name].astype("string")
    return pandas_frame


def _shortened(values: pl.Series) -> pl.Series:
    """Values past Excel's cell limit cut to their start, so a rejects file stays readable."""
    lengths = values.str.len_chars()
    return pl.DataFrame({"v": values, "n": lengths}).select(
        pl.when(pl.col("n") > EXCEL_CELL_LIMIT)
        .then(
            pl.col("v").str.slice(0, 100) + "... (" + pl.col("n").cast(pl.String) + " characters)"
        )
        .otherwise(pl.col("v"))
        .alias("v")
    )["v"]


def _collect(
    sheet: RawSheet,
    domain: DomainConfig,
    frame: pl.DataFrame,
    raw_of: dict[str, pl.Series],
    cleaned: dict[str, pl.Series],
    errors: dict[str, pl.Series],
    unknown: list[str],
    absent: list[str],
    extra: Sequence[checks.RowRejects] = (),
) -> CleanResult:
    rows = len(frame)
    rejected = rules.filled(False, rows, pl.Boolean)
    reject_parts = []
    lineage = frame.select(SOURCE_FILE, SOURCE_ROW)
    reasons = [(name, raw_of.get(name), column_errors) for name, column_errors in errors.items()]
    reasons += [(added.column, added.values, added.reasons) for added in extra]
    for name, cells, column_errors in reasons:
        bad = column_errors.is_not_null()
        if not bad.any():
            continue
        rejected = rejected | bad
        original = cells if cells is not None else rules.filled(None, rows, pl.String)
        part = pl.DataFrame(
            {
                "file": lineage[SOURCE_FILE],
                "row": lineage[SOURCE_ROW],
                "value": _shortened(original),
                "reason": column_errors,
            }
        ).filter(bad)
        reject_parts.append(
            part.select(
                "file",
                pl.lit(sheet.sheet, dtype=pl.String).alias("sheet"),
                "row",
                pl.lit(name, dtype=pl.String).alias("column"),
                "value",
                "reason",
            )
        )
    rejects = pl.concat(reject_parts) if reject_parts else pl.DataFrame(schema=_REJECT_SCHEMA)
    clean_rows = (
        pl.DataFrame(
            [cleaned[name].alias(name).cast(pl.String) for name in domain.columns]
            + [lineage[SOURCE_FILE], lineage[SOURCE_ROW]]
        )
        if rows
        else _empty_rows(domain)
    )
    return CleanResult(
        rows=clean_rows.filter(~rejected) if rows else clean_rows,
        rejects=_rejects_frame(rejects),
        rows_read=rows,
        unknown_headers=unknown,
        absent_columns=absent,
        sheets={sheet.file: sheet.sheet},
    )


def _rows_schema(domain: DomainConfig) -> pl.Schema:
    schema: dict[str, Any] = {name: pl.String for name in domain.columns}
    schema.update({SOURCE_FILE: pl.String, SOURCE_ROW: pl.Int64})
    return pl.Schema(schema)


def _empty_rows(domain: DomainConfig) -> pl.DataFrame:
    return pl.DataFrame(schema=_rows_schema(domain))


@dataclass
class CombinedFiles:
    """All files' clean rows (kept per file) and rejects, once the cross-file checks ran."""

    rows: CleanRows
    rejects: pl.DataFrame
    rows_read: int
    unknown_headers: list[str] = field(default_factory=list)
    absent_columns: list[str] = field(default_factory=list)
    sheets: dict[str, str] = field(default_factory=dict)
    checks: list[BusinessCheckResult] = field(default_factory=list)

    @property
    def rows_rejected(self) -> int:
        return _rows_rejected(self.rejects)


def combine(results: list[CleanResult], domain: DomainConfig) -> CleanResult:
    """All files' rows together; rows sharing the unique key (in any file) are all rejected."""
    combined = combine_files(results, [FileRows.in_memory(r.rows) for r in results], domain)
    return CleanResult(
        rows=combined.rows.collect() if results else _empty_rows(domain),
        rejects=combined.rejects,
        rows_read=combined.rows_read,
        unknown_headers=combined.unknown_headers,
        absent_columns=combined.absent_columns,
        sheets=combined.sheets,
        checks=combined.checks,
    )


def combine_files(
    results: Sequence[CleanResult], parts: Sequence[FileRows], domain: DomainConfig
) -> CombinedFiles:
    """The files' rows, where ``parts`` keep them, with the rows sharing a unique key rejected.

    ``parts[i]`` holds the rows of file ``i`` (``results[i]`` its rejects and counts; its
    ``rows`` are not read). Duplicates are decided over all files at once, from a hash of each
    row's key; only the rows whose hash repeats are read back whole.

    Args:
        results: Each file's cleaning result (its rejects and counts).
        parts: Each file's clean rows, in the same order.
        domain: The unique key and refresh scope the rows are combined by.
    """
    sheets = {file: sheet for result in results for file, sheet in result.sheets.items()}
    rejects = [result.rejects for result in results if len(result.rejects)]
    kept: list[pl.Series | None] = [None] * len(parts)
    duplicated = _duplicated_keys(parts, domain)
    if duplicated is not None:
        dupes = _gather(parts, duplicated.arg_true(), lambda part: index_of(part, domain))
        rejects.append(_duplicate_rejects(dupes, domain, sheets))
        keep = ~duplicated
        offset = 0
        for position, part in enumerate(parts):
            kept[position] = keep.slice(offset, part.height)
            offset += part.height
    all_rejects = (
        pl.concat(rejects).sort("file", "row", maintain_order=True)
        if rejects
        else _rejects_frame(pl.DataFrame(schema=_REJECT_SCHEMA))
    )
    return CombinedFiles(
        rows=CleanRows.decided(parts, kept, domain.refresh_scope, _rows_schema(domain)),
        rejects=all_rejects,
        rows_read=sum(result.rows_read for result in results),
        unknown_headers=sorted({h for result in results for h in result.unknown_headers}),
        absent_columns=sorted({c for result in results for c in result.absent_columns}),
        sheets=sheets,
        checks=[check for result in results for check in result.checks],
    )


def _gather(
    parts: Sequence[FileRows],
    positions: pl.Series,
    read: Callable[[FileRows], pl.DataFrame],
) -> pl.DataFrame:
    """The rows at ``positions`` (sorted, counted over all parts in order), ``read`` per part."""
    pieces = []
    offset = 0
    for part in parts:
        local = positions.filter((positions >= offset) & (positions < offset + part.height))
        if len(local):
            pieces.append(read(part)[local - offset])
        offset += part.height
    return pl.concat(pieces)


def _duplicated_keys(parts: Sequence[FileRows], domain: DomainConfig) -> pl.Series | None:
    """Which rows (of all parts, in order) share their unique key with another, or None.

    The rows are sorted by a hash of their key, one file's key read at a time, and only those
    whose hash repeats are compared by value (so a collision rejects nothing): at 1.2 million
    rows a fifth of the memory of ``is_duplicated`` over all keys at once.
    """
    key = domain.unique_key
    total = sum(part.height for part in parts)
    if not key or not total:
        return None
    hashes = (
        pl.concat(
            part.read(key).select(pl.struct(key).hash().alias("hash"))
            for part in parts
            if part.height
        )
        .with_row_index("at")
        .sort("hash")
    )
    same_hash = (pl.col("hash") == pl.col("hash").shift(1)) | (
        pl.col("hash") == pl.col("hash").shift(-1)
    )
    candidates = hashes.filter(same_hash)["at"].sort()
    del hashes
    if candidates.is_empty():
        return None
    keys = _gather(parts, candidates, lambda part: part.read(key))
    same_key = keys.select(pl.struct(key).is_duplicated()).to_series()
    if not same_key.any():
        return None
    return pl.repeat(False, total, dtype=pl.Boolean, eager=True).scatter(
        candidates.filter(same_key), True
    )


def _duplicate_rejects(
    dupes: pl.DataFrame, domain: DomainConfig, sheets: dict[str, str]
) -> pl.DataFrame:
    key = domain.unique_key or []
    dupes = dupes.with_columns(
        key_text=pl.concat_str([pl.col(c).fill_null("") for c in key], separator=" | "),
        place=pl.col(SOURCE_FILE) + " row " + pl.col(SOURCE_ROW).cast(pl.String),
    )
    dupes = dupes.with_columns(
        occurrences=pl.col("place").str.join("; ").over("key_text", mapping_strategy="join")
    )
    sheet_of = pl.DataFrame(
        {"file": list(sheets), "sheet": list(sheets.values())},
        schema={"file": pl.String, "sheet": pl.String},
    )
    reject_rows = dupes.select(
        pl.col(SOURCE_FILE).alias("file"),
        pl.col(SOURCE_ROW).alias("row"),
        pl.lit(", ".join(key)).alias("column"),
        pl.col("key_text").alias("value"),
        ("duplicate key; rows with this key: " + pl.col("occurrences")).alias("reason"),
    ).join(sheet_of, on="file", how="left", maintain_order="left")
    return _rejects_frame(
        reject_rows.with_columns(pl.col("sheet").fill_null(str(domain.sheet))).select(
            REJECT_COLUMNS
        )
    )
