"""A small domain in each load mode, its loads and undos applied for real, and what they leave."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy.engine import URL

from tests.support.database import con, psql_apply
from work_data_hub.config import DomainConfig, parse_domains
from work_data_hub.datasets.postgres_load_dataset import LoadResult, PostgresLoadDataset
from work_data_hub.load.plan import LoadPlan, build_load_plan
from work_data_hub.load.psql import render_psql
from work_data_hub.load.undo import UndoneLoad, build_undo_plan

MONTH = "2024-11-01"


def amounts_domain(mode: str = "delete_insert", **extra_columns: str) -> DomainConfig:
    """``amounts``: month, code, amount numeric(18,4), note; keyed (month, code) but in append."""
    columns: dict[str, Any] = {
        "month": {"type": "date", "required": True},
        "code": {"type": "text", "required": True},
        "amount": {"type": "numeric(18,4)"},
        "note": {"type": "text"},
    }
    columns.update({name: {"type": kind} for name, kind in extra_columns.items()})
    declaration: dict[str, Any] = {
        "pattern": r"(?P<year>\d{4})_(?P<month>\d{2})_amounts",
        "table": f"amounts {mode}",
        "mode": mode,
        "columns": columns,
    }
    if mode != "append":
        declaration["unique_key"] = ["month", "code"]
    if mode == "delete_insert":
        declaration["refresh_scope"] = ["month"]
    return parse_domains({"domains": {"amounts": declaration}})["amounts"]


def load_plan(
    domain: DomainConfig, run_id: str, amounts: dict[str, str], *, month: str = MONTH
) -> LoadPlan:
    """``amounts`` (code -> amount text) for ``month``, from a file named after the run."""
    codes = list(amounts)
    data: dict[str, Any] = {
        "month": [month] * len(codes),
        "code": codes,
        "amount": [amounts[code] for code in codes],
        "note": [f"{run_id} {code}" for code in codes],
    }
    for name in domain.columns:
        data.setdefault(name, [f"{name} {code}" for code in codes])
    data["_source_file"] = [f"{month[:7]}/{run_id}/amounts.xlsx"] * len(codes)
    data["_source_row"] = list(range(2, len(codes) + 2))
    return build_load_plan(
        pl.DataFrame(data),
        domain,
        run_id=run_id,
        rows_read=len(codes),
        rows_rejected=0,
        max_reject_ratio=0,
    )


def write(plan: LoadPlan, folder: Path) -> Path:
    path = folder / f"{plan.domain}-{plan.mode}-{plan.run_id}.sql"
    path.write_bytes(render_psql(plan))
    return path


def apply(path: Path, url: URL, *, by: str = "execute", force: bool = False) -> LoadResult | None:
    """Apply a plan file as ``execute=true`` does (the dataset), or with ``psql``."""
    if by == "psql":
        psql_apply(str(path), url, env={"PGOPTIONS": "-c wdh.force_stale=on"} if force else None)
        return None
    dataset = PostgresLoadDataset(filepath=str(path), credentials={"con": con(url)})
    return dataset.apply_plan_file(path, force=force)


def ledger_rows(connection: Any) -> list[dict[str, Any]]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM wdh_loads ORDER BY committed_at")
        names = [column.name for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def undone_load(connection: Any, run_id: str, domain: DomainConfig) -> UndoneLoad:
    """The ledger row of ``run_id`` for ``domain``, as the undo pipeline reads it."""
    row = next(
        row
        for row in ledger_rows(connection)
        if row["run_id"] == run_id and row["domain"] == domain.name
    )
    return UndoneLoad(
        row["run_id"],
        row["domain"],
        row["table_name"],
        row["mode"],
        row["committed_at"].isoformat(),
        row["undoes_run"],
    )


def undo_plan(connection: Any, run_id: str, domain: DomainConfig, undo_run: str) -> LoadPlan:
    return build_undo_plan(undone_load(connection, run_id, domain), domain, run_id=undo_run)


def history_rows(connection: Any, table: str, run_id: str) -> list[tuple[Any, ...]]:
    """What ``run_id`` replaced, every column of the table, as the documented query reads it."""
    with connection.cursor() as cursor:
        cursor.execute(
            f'SELECT * FROM "{table}__history" WHERE _replaced_by_run = %s '
            "ORDER BY _source_file, _source_row",
            (run_id,),
        )
        return [row[:-2] for row in cursor.fetchall()]


def table_rows(connection: Any, table: str) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT * FROM "{table}" ORDER BY _source_file, _source_row')
        return list(cursor.fetchall())
