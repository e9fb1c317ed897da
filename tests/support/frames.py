"""Clean rows and rejects (polars) seen as pandas, so tests can use pandas' NA semantics."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
import polars as pl

from work_data_hub.cleaning.engine import CleanResult
from work_data_hub.rows import CleanRows


def as_pandas(rows: pl.DataFrame | CleanRows) -> pd.DataFrame:
    """Text columns as pandas ``string`` (NA for NULL), integers as int64."""
    if isinstance(rows, CleanRows):
        rows = rows.collect()
    frame = rows.to_pandas()
    for name, dtype in rows.schema.items():
        if dtype == pl.String:
            frame[name] = frame[name].astype("string")
    return frame


@dataclass
class Cleaned:
    """A :class:`CleanResult` with its rows and rejects as pandas; ``result`` is the engine's."""

    result: CleanResult
    rows: pd.DataFrame
    rejects: pd.DataFrame
    rows_read: int
    unknown_headers: list[str] = field(default_factory=list)
    absent_columns: list[str] = field(default_factory=list)


def pandas_view(result: CleanResult) -> Cleaned:
    return Cleaned(
        result,
        as_pandas(result.rows),
        as_pandas(result.rejects),
        result.rows_read,
        result.unknown_headers,
        result.absent_columns,
    )
