"""Apply a domain's declared columns to the rows read from its workbooks; split rejects."""

from __future__ import annotations

import datetime as dt
import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import cast

import numpy as np
import numpy.typing as npt
import pandas as pd

from work_data_hub.cleaning import rules
from work_data_hub.cleaning.reading import (
    SOURCE_FILE,
    SOURCE_ROW,
    RawSheet,
    normalise_header,
    pandas_frame,
    pandas_problems,
)
from work_data_hub.config import ColumnSpec, DomainConfig
from work_data_hub.errors import WorkDataHubError

REJECT_COLUMNS = ["file", "sheet", "row", "column", "value", "reason"]
# Excel cannot hold more characters in a cell; a longer one was not typed in Excel (a generated
# or corrupt file) and is rejected rather than pushed into the warehouse.
EXCEL_CELL_LIMIT = 32_767
Transform = Callable[[pd.DataFrame, DomainConfig], pd.DataFrame]


class MissingColumnError(WorkDataHubError, ValueError):
    """A workbook lacks a header the domain requires; the message names file, sheet, header."""


@dataclass
class CleanResult:
    rows: pd.DataFrame
    rejects: pd.DataFrame
    rows_read: int
    unknown_headers: list[str] = field(default_factory=list)
    # file name -> the sheet its rows came from, so that duplicate-key rejects name the sheet.
    sheets: dict[str, str] = field(default_factory=dict)


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


def _needed_headers(domain: DomainConfig) -> dict[str, bool]:
    """Every source header the domain reads, and whether it must be present."""
    needed: dict[str, bool] = {}
    for name, spec in domain.columns.items():
        for source in spec.source_headers(name):
            key = normalise_header(source)
            needed[key] = needed.get(key, False) or spec.required or name in domain.pk
    return needed


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


def _apply_rule(
    name: str,
    spec: ColumnSpec,
    source: dict[str, pd.Series],
    cleaned: dict[str, pd.Series],
    raw_of: dict[str, pd.Series],
    mappings: dict[str, dict[str, str]],
    today: dt.date,
    index: pd.Index,
) -> rules.RuleResult:
    headers = [normalise_header(header) for header in spec.source_headers(name)]
    cells = [
        source.get(header, pd.Series(pd.NA, index=index, dtype="string")) for header in headers
    ]
    if spec.rule in ELEMENTWISE_RULES:
        return once_per_distinct_value(lambda distinct: _cell_rule(spec, distinct, today), cells)
    origin = cast(str, spec.from_column)
    if spec.rule == "mapping":
        return rules.mapping(cleaned[origin], mappings[cast(str, spec.mapping)])
    values = raw_of[origin] if spec.raw else cleaned[origin]
    return rules.RuleResult(values.astype("string"), rules.no_errors(index))


# Rules whose result for a row depends on that row's own cells alone.
ELEMENTWISE_RULES = frozenset({"year_month", "month_date", "code", "decimal", "rate", "text"})


def once_per_distinct_value(
    apply: Callable[[list[pd.Series]], rules.RuleResult], cells: list[pd.Series]
) -> rules.RuleResult:
    """Apply an element-wise rule to each distinct cell (tuple) once, then spread the result.

    Monthly workbooks repeat years, months, codes and names on most rows; the string work of
    a rule costs a Python call per cell, so doing it per distinct value is where the time goes.
    """
    index = cells[0].index
    combined: npt.NDArray[np.int64] = np.zeros(len(index), dtype=np.int64)
    for column in cells:
        codes, uniques = pd.factorize(column, use_na_sentinel=False)
        combined = combined * (len(uniques) + 1) + codes
    distinct, first_rows, inverse = np.unique(combined, return_index=True, return_inverse=True)
    if len(distinct) * 2 > len(index):
        return apply(cells)
    result = apply([column.iloc[first_rows].reset_index(drop=True) for column in cells])
    return rules.RuleResult(
        values=pd.Series(result.values.array.take(inverse), index=index, dtype="string"),
        errors=pd.Series(result.errors.array.take(inverse), index=index, dtype="string"),
    )


def _cell_rule(spec: ColumnSpec, cells: list[pd.Series], today: dt.date) -> rules.RuleResult:
    if spec.rule == "year_month":
        return rules.year_month(cells[0], cells[1], today)
    if spec.rule == "month_date":
        return rules.month_date(cells[0], today)
    if spec.rule == "code":
        return rules.code(
            cells[0],
            upper=spec.upper,
            remove=spec.remove,
            strip_prefix=spec.strip_prefix,
            replace=spec.replace,
            allowed=spec.allowed,
        )
    if spec.rule in ("decimal", "rate"):
        precision, scale = spec.precision_scale or (18, 0)
        return rules.decimal(
            cells[0],
            precision=precision,
            scale=scale,
            minimum=spec.min,
            maximum=spec.max,
            min_exclusive=spec.min_exclusive,
            percent=spec.rule == "rate",
        )
    return rules.text(cells[0], placeholders=spec.placeholders)


def _load_transform(dotted: str) -> Transform:
    module_name, _, function_name = dotted.rpartition(".")
    function = getattr(importlib.import_module(module_name), function_name)
    return cast(Transform, function)


def clean_sheet(
    sheet: RawSheet,
    domain: DomainConfig,
    mappings: dict[str, dict[str, str]],
    today: dt.date,
) -> CleanResult:
    """Clean one sheet's rows by the domain's declarations; every failure becomes a reject."""
    frame = pandas_frame(sheet)
    # Cells that hold no value (an Excel error, a formula without a value): always a reject.
    problems = pandas_problems(sheet)
    headers: Sequence[str] = sheet.headers
    if domain.transform:
        frame = _load_transform(domain.transform)(frame, domain)
        # A transform may add or rename columns; the rules then see the frame it returns.
        headers = [str(c) for c in frame.columns if c not in (SOURCE_FILE, SOURCE_ROW)]
    present = _resolve_headers(headers, domain)
    needed = _needed_headers(domain)
    missing = [header for header, required in needed.items() if required and header not in present]
    if missing:
        raise MissingColumnError(
            f"{sheet.file}, sheet {sheet.sheet!r}: required column(s) {missing} not found in the "
            f"header row; headers present: {[h for h in headers if not h.startswith('_unnamed_')]}"
        )
    used = {present[header] for header in needed if header in present}
    dropped = {normalise_header(column) for column in domain.drop_columns}
    unknown = sorted(
        {
            header
            for header in headers
            if not header.startswith("_unnamed_") and header not in dropped and header not in used
        }
    )
    source = {header: frame[column] for header, column in present.items() if column in frame}
    raw_of: dict[str, pd.Series] = {}
    cleaned: dict[str, pd.Series] = {}
    errors: dict[str, pd.Series] = {}
    for name in _evaluation_order(domain):
        spec = domain.columns[name]
        headers = [normalise_header(header) for header in spec.source_headers(name)]
        if headers:
            cells = [
                source.get(header, pd.Series(pd.NA, index=frame.index, dtype="string"))
                for header in headers
            ]
            # A reject shows every cell a column is made of (年 and 月), not just the first.
            raw_of[name] = (
                cells[0] if len(cells) == 1 else _labelled(spec.source_headers(name), cells)
            )
        result = _apply_rule(name, spec, source, cleaned, raw_of, mappings, today, frame.index)
        values = result.values
        if spec.defaults:
            conditions = [
                (_condition(default.when, cleaned, frame.index), default.value)
                for default in spec.defaults
            ]
            values = rules.apply_defaults(values, conditions)
        column_errors = result.errors.copy()
        if spec.required or name in domain.pk:
            column_errors[values.isna() & column_errors.isna()] = "required value is missing"
        for header in headers:
            if present.get(header) in problems:
                problem = problems[present[header]]
                column_errors = problem.where(problem.notna(), column_errors)
        if name in raw_of:
            lengths = raw_of[name].str.len()
            too_long = (lengths > EXCEL_CELL_LIMIT).fillna(False).astype(bool)
            column_errors[too_long] = (
                "cell has " + lengths[too_long].astype("string") + " characters, more than "
                f"Excel's limit of {EXCEL_CELL_LIMIT}"
            )
            # calamine decodes an escaped _x0000_ to NUL, which no PostgreSQL text can hold.
            has_nul = raw_of[name].str.contains("\x00", regex=False).fillna(False).astype(bool)
            column_errors[has_nul & ~too_long] = (
                "cell holds a NUL character (U+0000), which PostgreSQL text cannot store"
            )
        cleaned[name] = values
        errors[name] = column_errors
    return _collect(sheet, domain, frame, raw_of, cleaned, errors, unknown)


def _shortened(values: pd.Series) -> pd.Series:
    """Values past Excel's cell limit cut to their start, so a rejects file stays readable."""
    long = (values.str.len() > EXCEL_CELL_LIMIT).fillna(False).astype(bool)
    if not long.any():
        return values
    shortened = values.copy()
    shortened[long] = (
        values[long].str.slice(0, 100)
        + "... ("
        + values[long].str.len().astype("string")
        + " characters)"
    )
    return shortened


def _labelled(headers: list[str], cells: list[pd.Series]) -> pd.Series:
    """``年=2024, 月=13`` for a column read from several cells; empty cells show as nothing."""
    parts = [
        header + "=" + column.fillna("") for header, column in zip(headers, cells, strict=True)
    ]
    joined = parts[0]
    for part in parts[1:]:
        joined = joined + ", " + part
    any_given = pd.concat([column.notna() for column in cells], axis=1).any(axis=1)
    return joined.where(any_given, None).astype("string")


def _condition(
    when: dict[str, list[str]], cleaned: dict[str, pd.Series], index: pd.Index
) -> pd.Series:
    holds = pd.Series(True, index=index)
    for column, allowed in when.items():
        holds &= cleaned[column].isin(allowed).fillna(False).astype(bool)
    return holds


def _collect(
    sheet: RawSheet,
    domain: DomainConfig,
    frame: pd.DataFrame,
    raw_of: dict[str, pd.Series],
    cleaned: dict[str, pd.Series],
    errors: dict[str, pd.Series],
    unknown: list[str],
) -> CleanResult:
    rejected = pd.Series(False, index=frame.index)
    reject_parts = []
    for name, column_errors in errors.items():
        bad = column_errors.notna()
        if not bad.any():
            continue
        rejected |= bad
        original = raw_of.get(name, pd.Series(pd.NA, index=frame.index, dtype="string"))
        reject_parts.append(
            pd.DataFrame(
                {
                    "file": frame.loc[bad, SOURCE_FILE],
                    "sheet": sheet.sheet,
                    "row": frame.loc[bad, SOURCE_ROW],
                    "column": name,
                    "value": _shortened(original[bad]),
                    "reason": column_errors[bad],
                }
            )
        )
    rejects = (
        pd.concat(reject_parts, ignore_index=True)
        if reject_parts
        else pd.DataFrame(columns=REJECT_COLUMNS)
    )
    rows = pd.DataFrame({name: cleaned[name] for name in domain.columns}, index=frame.index)
    rows[SOURCE_FILE] = frame[SOURCE_FILE]
    rows[SOURCE_ROW] = frame[SOURCE_ROW]
    return CleanResult(
        rows=rows[~rejected].reset_index(drop=True),
        rejects=rejects,
        rows_read=len(frame),
        unknown_headers=unknown,
        sheets={sheet.file: sheet.sheet},
    )


def combine(results: list[CleanResult], domain: DomainConfig) -> CleanResult:
    """All files' rows together; rows sharing a unique pk (in any file) are all rejected."""
    rows = pd.concat([result.rows for result in results], ignore_index=True)
    sheets = {file: sheet for result in results for file, sheet in result.sheets.items()}
    rejects = [result.rejects for result in results if len(result.rejects)]
    if domain.unique_pk and len(rows):
        duplicated = rows.duplicated(subset=domain.pk, keep=False)
        if duplicated.any():
            dupes = rows[duplicated]
            key_text = dupes[domain.pk[0]].astype("string").fillna("")
            for column in domain.pk[1:]:
                key_text = key_text + " | " + dupes[column].astype("string").fillna("")
            places = dupes[SOURCE_FILE] + " row " + dupes[SOURCE_ROW].astype("string")
            occurrences = places.groupby(key_text).transform("; ".join)
            rejects.append(
                pd.DataFrame(
                    {
                        "file": dupes[SOURCE_FILE],
                        "sheet": dupes[SOURCE_FILE].map(sheets).fillna(str(domain.sheet)),
                        "row": dupes[SOURCE_ROW],
                        "column": ", ".join(domain.pk),
                        "value": key_text,
                        "reason": "duplicate key; rows with this key: " + occurrences,
                    }
                )
            )
            rows = rows[~duplicated]
    all_rejects = (
        pd.concat(rejects, ignore_index=True).sort_values(["file", "row"], kind="stable")
        if rejects
        else pd.DataFrame(columns=REJECT_COLUMNS)
    )
    return CleanResult(
        rows=rows.reset_index(drop=True),
        rejects=all_rejects.reset_index(drop=True),
        rows_read=sum(result.rows_read for result in results),
        unknown_headers=sorted({h for result in results for h in result.unknown_headers}),
        sheets=sheets,
    )
