"""The business checks that need only the delivery: per row (``identity``), against a sheet's
total row (``total_row``), and between two periods of one delivery (``continuity``).

Declared in :mod:`work_data_hub.config.business_checks`. Amounts are compared exactly, as
decimals (the clean values are the text PostgreSQL reads), never as floats.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import polars as pl

from work_data_hub.cleaning.reading import SOURCE_FILE, SOURCE_ROW, RawSheet, normalise_header
from work_data_hub.cleaning.registry import RULES, RuleInput
from work_data_hub.config import DomainConfig
from work_data_hub.config.business_checks import (
    BusinessCheck,
    BusinessCheckResult,
    ContinuityOptions,
    Expression,
    IdentityOptions,
    TotalRowOptions,
    broken,
    held,
    not_evaluated,
)
from work_data_hub.rows import CleanRows

# Exact decimals: 38 digits, 6 after the point (every declared numeric fits).
DECIMAL = pl.Decimal(38, 6)
# Rows (or keys) named in one check message; the report's details list all of them.
NAMED_IN_MESSAGE = 5
# A total cell holding only dashes says "no total" for its column.
_NO_TOTAL = r"^[-—–－]+$"
SUBTOTAL = "小计"


def amount_text(values: pl.Expr) -> pl.Expr:
    """A decimal as short text: ``-199.750000`` -> ``-199.75``, ``3.000000`` -> ``3``."""
    return values.cast(pl.String).str.replace(r"(\.\d*?)0+$", "$1").str.replace(r"\.$", "")


def _amount(value: object) -> str:
    text = str(value)
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def _decimal(values: pl.Series) -> pl.Series:
    return values.cast(DECIMAL, strict=False)


def _tolerance(value: float) -> pl.Expr:
    return pl.lit(str(value)).cast(DECIMAL)


def _rows_text(rows: Sequence[object]) -> str:
    shown = ", ".join(str(row) for row in rows[:NAMED_IN_MESSAGE])
    more = len(rows) - NAMED_IN_MESSAGE
    return shown + (f" and {more} more" if more > 0 else "")


# --- identity -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RowRejects:
    """Rejects a row-level check adds: the column a reject names, its cells, a reason per row."""

    column: str
    values: pl.Series
    reasons: pl.Series


def _evaluate(expression: Expression, cleaned: Mapping[str, pl.Series]) -> pl.Expr:
    def apply(operator: str, operands: list[pl.Expr]) -> pl.Expr:
        left, right = operands
        if operator == "+":
            return left + right
        if operator == "-":
            return left - right
        if operator == "*":
            return (left * right).cast(DECIMAL)
        return (left / right).cast(DECIMAL)

    return expression.fold(
        lambda name: pl.lit(_decimal(cleaned[name])),
        lambda number: pl.lit(number).cast(DECIMAL),
        apply,
    )


def identity(
    check: BusinessCheck,
    cleaned: Mapping[str, pl.Series],
    raw_of: Mapping[str, pl.Series],
    lineage: pl.DataFrame,
) -> tuple[RowRejects | None, BusinessCheckResult]:
    """Rows whose ``left`` and ``right`` differ by more than the tolerance, as rejects.

    A row with an empty or unreadable cell among the identity's columns is not checked (its
    unreadable cell is a reject already).
    """
    options = check.options_as(IdentityOptions)
    left, right = options.expressions
    frame = pl.select(
        left=_evaluate(left, cleaned),
        right=_evaluate(right, cleaned),
        row=lineage[SOURCE_ROW],
    ).with_columns(difference=pl.col("left") - pl.col("right"))
    off = frame.select(
        (pl.col("difference").abs() > _tolerance(options.tolerance)).fill_null(False)
    ).to_series()
    checked = int(frame["difference"].is_not_null().sum())
    file = str(lineage[SOURCE_FILE][0]) if lineage.height else ""
    if not off.any():
        return None, held(
            check, f"{options.text} holds on {checked} rows", numbers={"rows_checked": checked}
        )
    reasons = frame.select(
        pl.when(off)
        .then(
            pl.lit(f"{check.name}: {options.text} is off by ")
            + amount_text(pl.col("difference"))
            + pl.lit(" (")
            + amount_text(pl.col("left"))
            + pl.lit(" against ")
            + amount_text(pl.col("right"))
            + pl.lit(f"; tolerance {_amount(options.tolerance)})")
        )
        .alias("reason")
    ).to_series()
    rows = frame.filter(off)["row"].to_list()
    column = left.names[0] if left.names else right.names[0]
    rejects = RowRejects(column, raw_of.get(column, cleaned[column]), reasons)
    result = broken(
        check,
        f"{len(rows)} of {checked} rows of {file} break {options.text} by more than "
        f"{_amount(options.tolerance)} ({'rows' if len(rows) > 1 else 'row'} "
        f"{_rows_text(rows)}); they are rejects",
        numbers={"rows_checked": checked, "rows_broken": len(rows), "file": file},
        details=tuple(f"{file} row {row}" for row in rows),
    )
    return rejects, result


# --- total_row ------------------------------------------------------------------------------


def total_row(
    check: BusinessCheck,
    domain: DomainConfig,
    sheet: RawSheet,
    present: Mapping[str, str],
    cleaned: Mapping[str, pl.Series],
    errors: Mapping[str, pl.Series],
    lineage: pl.DataFrame,
    today: dt.date,
) -> BusinessCheckResult:
    """Each total row's cells against the sums of the rows read above it (loaded and rejected).

    A 小计 row sums the rows since the previous total row, a 合计 or 总计 row every row above it.
    A cell whose value a rule could not read (a rejected cell) cannot be summed: that column is
    then not evaluated against that total, and the result says which rows stopped it.
    """
    options = check.options_as(TotalRowOptions)
    totals = sheet.totals
    if not totals.height or not sheet.headers:
        return not_evaluated(check, f"{sheet.file}: the sheet has no total row")
    marker = totals[sheet.headers[0]].str.replace_all(r"\s", "")
    rows = lineage[SOURCE_ROW]
    total_rows = totals[SOURCE_ROW].to_list()
    problems: list[str] = []
    unread: list[str] = []
    compared = 0
    numbers: dict[str, object] = {"file": sheet.file, "total_rows": total_rows}
    for name in options.columns_:
        spec = domain.columns[name]
        (header,) = spec.source_headers(name)
        column = present.get(normalise_header(header))
        if column is None or column not in totals.columns:
            continue
        cells = pl.Series(
            column,
            [
                None if cell is None or re.match(_NO_TOTAL, cell) else cell
                for cell in totals[column]
            ],
            dtype=pl.String,
        )
        rule = RULES[spec.rule]
        read = rule.apply(RuleInput((cells,), None, today, spec.type), spec.options)
        values = _decimal(cleaned[name])
        bad = errors[name].is_not_null()
        for position, total_at in enumerate(total_rows):
            if cells[position] is None:
                continue
            label = f"{sheet.file} row {total_at} ({marker[position]}), column {name}"
            if read.errors[position] is not None:
                problems.append(f"{label}: the total {cells[position]!r} is not a number")
                continue
            start = total_rows[position - 1] if position and marker[position] == SUBTOTAL else 0
            inside = (rows > start) & (rows < total_at)
            stopped = rows.filter(inside & bad).to_list()
            if stopped:
                unread.append(
                    f"{label}: {'rows' if len(stopped) > 1 else 'row'} {_rows_text(stopped)} "
                    f"{'hold' if len(stopped) > 1 else 'holds'} an unreadable cell"
                )
                continue
            counted = int(inside.sum())
            expected = _decimal(pl.Series([read.values[position]]))[0]
            summed = values.filter(inside).sum() if counted else 0
            difference = expected - (summed or 0)
            compared += 1
            if abs(difference) > _decimal(pl.Series([str(options.tolerance)]))[0]:
                problems.append(
                    f"{label}: the total is {_amount(expected)}, the {counted} rows read sum "
                    f"to {_amount(summed)}, off by {_amount(difference)}"
                )
                numbers.update(
                    column=name, total=_amount(expected), sum=_amount(summed),
                    difference=_amount(difference), row=total_at,
                )  # fmt: skip
    if problems:
        return broken(
            check,
            f"{problems[0]} (tolerance {_amount(options.tolerance)})"
            + (f"; and {len(problems) - 1} more" if len(problems) > 1 else ""),
            numbers=numbers,
            details=tuple(problems + unread),
        )
    if unread and not compared:
        return not_evaluated(
            check,
            f"{unread[0]}: a rejected cell cannot be summed, so the total is not compared",
            numbers=numbers,
            details=tuple(unread),
        )
    if not compared:
        return not_evaluated(
            check,
            f"{sheet.file}: the total row gives no total for {', '.join(options.columns_)}",
            numbers=numbers,
        )
    return held(
        check,
        f"{sheet.file}: {compared} total cell(s) equal the sums of the rows read",
        numbers={**numbers, "compared": compared},
        details=tuple(unread),
    )


# --- continuity -----------------------------------------------------------------------------


def period_sums(rows: CleanRows, check: BusinessCheck) -> pl.DataFrame:
    """Per period and key: the sums of opening and closing, the rows and where they are."""
    options = check.options_as(ContinuityOptions)
    assert check.period is not None
    wanted = [check.period, *options.by, options.opening, options.closing, SOURCE_FILE, SOURCE_ROW]
    parts = list(rows.read_columns(list(dict.fromkeys(wanted))))
    if not parts:
        return pl.DataFrame()
    frame = pl.concat(parts)
    sums = frame.group_by([check.period, *options.by], maintain_order=True).agg(
        opening=pl.col(options.opening).cast(DECIMAL).sum(),
        closing=pl.col(options.closing).cast(DECIMAL).sum(),
        file=pl.col(SOURCE_FILE).first(),
        row=pl.col(SOURCE_ROW).min(),
        rows=pl.len(),
    )
    # Where a key's rows are: its first row, and how many more it has.
    return sums.with_columns(
        places=pl.concat_str(
            pl.col("file"),
            pl.lit(" row "),
            pl.col("row").cast(pl.String),
            pl.when(pl.col("rows") > 1)
            .then(pl.lit(" and ") + (pl.col("rows") - 1).cast(pl.String) + pl.lit(" more"))
            .otherwise(pl.lit("")),
        )
    ).drop("file", "row", "rows")


def brings_consecutive_months(rows: CleanRows, check: BusinessCheck) -> bool:
    """Whether the delivery brings a month and the month before it: else continuity has
    nothing to compare within it (and its sums are not worth computing)."""
    assert check.period is not None
    parts = [part.unique() for part in rows.read_columns([check.period])]
    if not parts:
        return False
    months = pl.concat(parts).unique().select(pl.col(check.period).cast(pl.String))
    return bool(
        months.select(
            previous_period(pl.col(check.period)).is_in(months[check.period].implode()).any()
        ).item()
    )


def previous_period(period: pl.Expr) -> pl.Expr:
    """The month before (periods are first-of-month dates as text)."""
    return period.str.to_date().dt.offset_by("-1mo").cast(pl.String)


def continuity_in_delivery(check: BusinessCheck, sums: pl.DataFrame) -> BusinessCheckResult | None:
    """Keys whose opening in period M differs from their closing in M-1, both delivered.

    None when no delivered period has its previous month in the same delivery.
    """
    options = check.options_as(ContinuityOptions)
    assert check.period is not None
    if not sums.height:
        return None
    period = check.period
    current = sums.with_columns(previous=previous_period(pl.col(period)))
    earlier = sums.select(
        pl.col(period).alias("previous"),
        *options.by,
        pl.col("closing").alias("previous_closing"),
        pl.col("places").alias("previous_places"),
    )
    pairs = current.join(earlier, on=["previous", *options.by], how="inner", nulls_equal=True)
    periods = sorted(
        set(
            current.filter(pl.col("previous").is_in(earlier["previous"].implode()))[
                period
            ].to_list()
        )
    )
    if not periods:
        return None
    off = pairs.with_columns(difference=pl.col("opening") - pl.col("previous_closing")).filter(
        pl.col("difference").abs() > _tolerance(options.tolerance)
    )
    if not off.height:
        return held(
            check,
            f"{options.opening} equals the previous month's {options.closing} for "
            f"{pairs.height} key(s)",
            periods=tuple(str(p) for p in periods),
            numbers={"keys_compared": pairs.height},
        )
    details = tuple(
        f"{', '.join(f'{name}={record[name]}' for name in options.by)}: {options.opening} of "
        f"{str(record[period])[:7]} is {_amount(record['opening'])} "
        f"({record['places']}), {options.closing} of {str(record['previous'])[:7]} "
        f"is {_amount(record['previous_closing'])} ({record['previous_places']}), "
        f"off by {_amount(record['difference'])}"
        for record in off.iter_rows(named=True)
    )
    return broken(
        check,
        f"{off.height} of {pairs.height} key(s) ({', '.join(options.by)}) open a month "
        f"other than they closed the month before (tolerance {_amount(options.tolerance)}): "
        + "; ".join(details[:1])
        + (f"; and {off.height - 1} more" if off.height > 1 else ""),
        periods=tuple(str(p)[:7] for p in periods),
        numbers={"keys_compared": pairs.height, "keys_broken": off.height},
        details=details,
    )
