"""The review of a plan: diff=true names exactly the rows a corrected month removes, changes
and adds, each changed cell with its value before and after and its address in the delivery."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import URL

from tests.reliability.support import run_domain, trustee_rows, write_workbook

pytestmark = pytest.mark.database

NOVEMBER = "2024_11_受托业绩.xlsx"


def _corrected_month(tmp_path: Path, database_url: URL) -> dict[str, Any]:
    """November loaded; then a V2 without P0002, with P0003's 规模 corrected, with P0006."""
    first = trustee_rows(5)
    write_workbook(tmp_path / "v1" / NOVEMBER, first)
    run_domain(tmp_path / "v1", tmp_path / "out1", database_url=database_url, execute=True)
    second = [row for row in trustee_rows(6) if row[2] != "P0002"]
    second[1][6] = "2003.75"  # P0003, Excel row 3, column G (规模)
    write_workbook(tmp_path / "v2" / NOVEMBER, second)
    outcome = run_domain(tmp_path / "v2", tmp_path / "out2", database_url=database_url, diff=True)
    assert outcome.load is not None and outcome.load.summary is not None
    # As the run report's JSON holds it.
    diff: dict[str, Any] = json.loads(json.dumps(outcome.load.summary["diff"]))
    return diff


def test_a_corrected_month_names_the_row_removed_the_cell_changed_and_the_row_added(
    tmp_path: Path, database_url: URL
) -> None:
    diff = _corrected_month(tmp_path, database_url)
    assert (diff["rows_removed"], diff["rows_changed"], diff["rows_added"]) == (1, 1, 1)
    assert diff["matched_by"] == ["report_date", "plan_code", "company_code"]
    key = {"report_date": "2024-11-01", "company_code": "TC001"}
    (removed,) = diff["removed"]
    assert removed["key"] == {**key, "plan_code": "P0002"}
    assert removed["source"] == f"{NOVEMBER} row 3"  # where the table's row came from
    (changed,) = diff["changed"]
    assert changed["key"] == {**key, "plan_code": "P0003"}
    assert changed["cells"] == [
        {"column": "fund_scale", "before": "1003.50", "after": "2003.75", "address": "受托业绩!G3"}
    ]
    (added,) = diff["added"]
    assert added["key"] == {**key, "plan_code": "P0006"}
    assert {cell["column"]: cell["address"] for cell in added["cells"]}[
        "plan_code"
    ] == "受托业绩!C6"
