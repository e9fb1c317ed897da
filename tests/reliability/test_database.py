"""Database faults this suite owns: a statement timeout and a table altered since the last run.

(Unreachable servers, wrong passwords, a connection killed during COPY and concurrent runs are
tested with execute mode in tests/datasets/test_execute_load.py.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import _connect
from tests.reliability.conftest import Baseline
from tests.reliability.support import (
    TABLE,
    run_domain,
    table_digest,
    trustee_rows,
    write_workbook,
)
from work_data_hub.datasets.postgres_load_dataset import LoadFailedError

pytestmark = pytest.mark.database


def _november_inbox(tmp_path: Path) -> Path:
    inbox = tmp_path / "inbox"
    write_workbook(inbox / "2024_11_受托业绩.xlsx", trustee_rows(4))
    return inbox


def test_a_statement_timeout_rolls_back_and_names_the_step_and_table(
    baseline: Baseline, tmp_path: Path
) -> None:
    inbox = _november_inbox(tmp_path)
    # Another session holds the table (a long report, a VACUUM FULL): the load's DELETE waits
    # for it until the statement timeout cancels it.
    holder = _connect(baseline.url)
    try:
        with holder.cursor() as cursor:
            cursor.execute(f'LOCK TABLE "{TABLE}" IN ACCESS EXCLUSIVE MODE')
        with pytest.raises(LoadFailedError) as caught:
            run_domain(
                inbox,
                tmp_path / "out",
                database_url=baseline.url,
                execute=True,
                statement_timeout_ms=300,
            )
    finally:
        holder.rollback()
        holder.close()
    message = str(caught.value)
    assert "statement timeout" in message
    assert "'trustee_performance'" in message and "failed at step" in message
    assert "rolled back" in message
    assert baseline.unchanged()


ALTERATIONS = [
    pytest.param(
        "ALTER TABLE trustee_performance DROP COLUMN fund_scale", "fund_scale", id="column dropped"
    ),
    pytest.param(
        "ALTER TABLE trustee_performance ALTER COLUMN fund_scale TYPE integer",
        "fund_scale",
        id="type changed",
    ),
    pytest.param(
        "ALTER TABLE trustee_performance RENAME COLUMN net_asset_value TO nav",
        "net_asset_value",
        id="column renamed",
    ),
]


@pytest.mark.parametrize(("alteration", "column"), ALTERATIONS)
def test_a_table_altered_since_the_last_run_fails_naming_the_column(
    alteration: str, column: str, baseline: Baseline, tmp_path: Path
) -> None:
    with baseline.connection.cursor() as cursor:
        cursor.execute(alteration)
    altered = table_digest(baseline.connection)
    with pytest.raises(LoadFailedError) as caught:
        run_domain(
            _november_inbox(tmp_path), tmp_path / "out", database_url=baseline.url, execute=True
        )
    message = str(caught.value)
    assert column in message and "trustee_performance" in message
    assert "rolled back" in message
    assert table_digest(baseline.connection) == altered


def _rows_but_run_id(connection: Any) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT report_date, plan_code, company_code, return_rate, net_asset_value, "
            f"fund_scale, _source_file, _source_row FROM {TABLE} ORDER BY 1, 2, 3"
        )
        return cursor.fetchall()


def test_loading_the_same_inputs_twice_leaves_the_same_rows(
    baseline: Baseline, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    write_workbook(inbox / "2024_10_受托业绩.xlsx", trustee_rows(5, month=10))
    write_workbook(inbox / "2024_11_受托业绩.xlsx", trustee_rows(4))
    first = run_domain(
        inbox,
        tmp_path / "first",
        database_url=baseline.url,
        execute=True,
        max_files=2,
        run_id="first",
    )
    after_first = _rows_but_run_id(baseline.connection)
    second = run_domain(
        inbox,
        tmp_path / "second",
        database_url=baseline.url,
        execute=True,
        max_files=2,
        run_id="second",
        reload=True,  # without it the ledger skips both files (see the ledger tests below)
    )
    assert first.load is not None and second.load is not None
    assert (second.load.rows_deleted, second.load.rows_inserted) == (9, 9)
    assert _rows_but_run_id(baseline.connection) == after_first
    assert len(after_first) == 9  # the baseline's October rows were replaced, not doubled
