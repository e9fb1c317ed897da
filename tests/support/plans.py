"""A small keyed domain for the tests of plan files and the guards inside them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import polars as pl

from work_data_hub.config import DomainConfig, parse_domains
from work_data_hub.load.plan import build_load_plan
from work_data_hub.load.psql import render_psql


def notes_domain() -> DomainConfig:
    """``notes``: unique key (month, code), refresh scope month, text columns only."""
    return parse_domains(
        {
            "domains": {
                "notes": {
                    "pattern": r"(?P<year>\d{4})_(?P<month>\d{2})_notes",
                    "table": "notes",
                    "unique_key": ["month", "code"],
                    "refresh_scope": ["month"],
                    "columns": {
                        "month": {"type": "text", "rule": "text", "required": True},
                        "code": {"type": "text", "rule": "text", "required": True},
                        "note": {"type": "text", "rule": "text"},
                    },
                }
            }
        }
    )["notes"]


def notes_plan(folder: Path, run_id: str, made_at: dt.datetime, codes: list[str]) -> Path:
    """A sealed plan file loading ``codes`` for 2024-11 into ``notes``, made at ``made_at``."""
    rows = pl.from_pandas(
        pd.DataFrame(
            {
                "month": pd.Series(["2024-11"] * len(codes), dtype="string"),
                "code": pd.Series(codes, dtype="string"),
                "note": pd.Series([f"from {run_id}"] * len(codes), dtype="string"),
                "_source_file": "2024/11/2024_11_notes.xlsx",
                "_source_row": range(2, len(codes) + 2),
            }
        )
    )
    plan = build_load_plan(
        rows,
        notes_domain(),
        run_id=run_id,
        rows_read=len(codes),
        rows_rejected=0,
        max_reject_ratio=0,
        created_at=made_at,
    )
    path = folder / f"{run_id}.sql"
    path.write_bytes(render_psql(plan))
    return path


# A trustee plan's COPY rows: six declared columns, then _source_file and _source_row.
TRUSTEE_COPY_FIELDS = 8


def trustee_copy_rows(plan_text: str) -> list[list[str]]:
    """The COPY rows of a trustee_performance plan file, split into their fields."""
    return [
        line.split("\t")
        for line in plan_text.splitlines()
        if line.count("\t") == TRUSTEE_COPY_FIELDS - 1
    ]
