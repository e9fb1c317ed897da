"""The load-mode registry: each mode is one function returning its statements, declared once."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd
import polars as pl
import pytest

from work_data_hub.config import DataSourcesError, parse_domains
from work_data_hub.load.modes import (
    LOAD_MODES,
    LoadTarget,
    insert_statement,
    register_load_mode,
)
from work_data_hub.load.plan import build_load_plan
from work_data_hub.load.sql import Statement


def _domain(mode: str, **keys: Any) -> dict[str, Any]:
    return {
        "domains": {
            "demo": {
                "pattern": r"(?P<year>\d{4})_(?P<month>\d{2})_demo",
                "table": "demo",
                "mode": mode,
                **keys,
                "columns": {"code": {"type": "text"}, "amount": {"type": "numeric(18,2)"}},
            }
        }
    }


def _rows() -> pl.DataFrame:
    return pl.from_pandas(
        pd.DataFrame(
            {
                "code": ["A"],
                "amount": ["1.00"],
                "_source_file": ["2024_11_demo.xlsx"],
                "_source_row": [2],
            }
        )
    )


@pytest.mark.parametrize(
    ("mode", "keys", "steps"),
    [
        # A mode that deletes or overwrites rows copies them into the history first.
        ("delete_insert", {"refresh_scope": ["code"]}, ["history", "delete", "insert"]),
        ("append", {}, ["insert"]),
        ("upsert", {"unique_key": ["code"]}, ["history", "insert"]),
    ],
)
def test_each_registered_mode_gives_its_statements_between_copy_and_ledger(
    mode: str, keys: dict[str, Any], steps: list[str]
) -> None:
    domain = parse_domains(_domain(mode, **keys))["demo"]
    plan = build_load_plan(
        _rows(), domain, run_id="r1", rows_read=1, rows_rejected=0, max_reject_ratio=0
    )
    purposes = [statement.purpose for statement in plan.statements]
    # Right after the COPY, the staged rows are checked against the plan's digest; then the
    # guard (already applied, stale) runs, before any row changes.
    assert purposes[purposes.index("copy") + 1 : purposes.index("copy") + 3] == [
        "check_rows",
        "guard",
    ]
    between = purposes[purposes.index("guard") + 1 : purposes.index("record_load")]
    assert between == steps
    assert set(LOAD_MODES) == {"delete_insert", "append", "upsert"}


def test_an_unregistered_mode_is_a_config_error_naming_domain_and_key() -> None:
    with pytest.raises(DataSourcesError) as caught:
        parse_domains(_domain("merge"))
    message = str(caught.value)
    assert "domain 'demo', key 'mode'" in message
    assert "'delete_insert', 'append' or 'upsert'" in message and "got 'merge'" in message


@pytest.fixture
def insert_new() -> Iterator[str]:
    """A newcomer's mode, registered by touching the registry only; removed afterwards."""

    @register_load_mode("insert_new", privileges=("SELECT", "INSERT"), needs_unique_key=True)
    def statements(target: LoadTarget) -> list[Statement]:
        key = ", ".join(f'"{column}"' for column in target.unique_key)
        return [insert_statement(target, conflict=f"ON CONFLICT ({key}) DO NOTHING")]

    yield "insert_new"
    del LOAD_MODES["insert_new"]


def test_a_new_mode_needs_only_its_registration(insert_new: str) -> None:
    with pytest.raises(DataSourcesError, match="insert_new needs a unique_key"):
        parse_domains(_domain(insert_new))
    domain = parse_domains(_domain(insert_new, unique_key=["code"]))["demo"]
    plan = build_load_plan(
        _rows(), domain, run_id="r1", rows_read=1, rows_rejected=0, max_reject_ratio=0
    )
    (insert,) = [s for s in plan.statements if s.purpose == "insert"]
    assert 'ON CONFLICT ("code") DO NOTHING' in insert.sql
    create = next(s for s in plan.statements if s.purpose == "create_table")
    assert "SELECT', 'INSERT" in create.sql  # its privileges are what the loader is checked for


def test_a_mode_cannot_be_registered_twice() -> None:
    with pytest.raises(ValueError, match="registered twice"):
        register_load_mode("append", privileges=("INSERT",))(lambda target: [])
