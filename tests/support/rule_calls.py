"""The registered rules called one by one on pandas text, as the rule tests spell them.

Each function runs the rule through the registry (``run_rule``) and hands back pandas
``string`` Series (NA for NULL and for no reason), so the tests compare with pandas' NA.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pandas as pd
import polars as pl

from work_data_hub.cleaning import registry
from work_data_hub.cleaning import rules as building_blocks


@dataclass(frozen=True)
class RuleResult:
    values: pd.Series
    errors: pd.Series


def _polars(cells: pd.Series) -> pl.Series:
    return pl.Series([None if pd.isna(value) else str(value) for value in cells], dtype=pl.String)


def _pandas(values: pl.Series) -> pd.Series:
    return pd.Series(values.to_list(), dtype="string")


def _run(name: str, *cells: pd.Series, **options: Any) -> RuleResult:
    result = registry.run_rule(name, *(_polars(c) for c in cells), **options)
    return RuleResult(_pandas(result.values), _pandas(result.errors))


def month_date(cells: pd.Series, today: dt.date) -> RuleResult:
    return _run("month_date", cells, today=today)


def year_month(years: pd.Series, months: pd.Series, today: dt.date) -> RuleResult:
    return _run("year_month", years, months, today=today)


def code(cells: pd.Series, **options: Any) -> RuleResult:
    return _run("code", cells, **options)


def text(cells: pd.Series, **options: Any) -> RuleResult:
    return _run("text", cells, **options)


def mapping(cells: pd.Series, table: dict[str, str]) -> RuleResult:
    result = registry.run_rule(
        "mapping", origin=_polars(cells), context={"mappings": {"table": table}}, mapping="table"
    )
    return RuleResult(_pandas(result.values), _pandas(result.errors))


def decimal(
    cells: pd.Series,
    *,
    precision: int,
    scale: int,
    minimum: float | None = None,
    maximum: float | None = None,
    min_exclusive: bool = False,
    percent: bool = False,
) -> RuleResult:
    return _run(
        "rate" if percent else "decimal",
        cells,
        column_type=f"numeric({precision},{scale})",
        min=minimum,
        max=maximum,
        min_exclusive=min_exclusive,
    )


def apply_defaults(values: pd.Series, conditions: list[tuple[pd.Series, str]]) -> pd.Series:
    filled = building_blocks.apply_defaults(
        _polars(values),
        [(pl.Series(holds.tolist(), dtype=pl.Boolean), value) for holds, value in conditions],
    )
    return _pandas(filled)
