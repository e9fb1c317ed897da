"""The review of a plan: diff=true names exactly the rows a corrected month removes, changes
and adds, each changed cell with its value before and after and its address in the delivery."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from sqlalchemy.engine import URL

from tests.reliability.support import run_domain, trustee_rows, write_workbook
from tests.support.browser import visible_text

pytestmark = pytest.mark.database

NOVEMBER = "2024_11_受托业绩.xlsx"


def _corrected_month(tmp_path: Path, database_url: URL) -> tuple[dict[str, Any], Path]:
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
    return diff, outcome.plan_path


def test_a_corrected_month_names_the_row_removed_the_cell_changed_and_the_row_added(
    tmp_path: Path, database_url: URL
) -> None:
    diff, _ = _corrected_month(tmp_path, database_url)
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


def test_the_review_page_and_workbook_list_exactly_those_three(
    tmp_path: Path, database_url: URL
) -> None:
    _, plan = _corrected_month(tmp_path, database_url)
    page, workbook = plan.with_suffix(".review.html"), plan.with_suffix(".review.xlsx")
    for written in (page, workbook):
        assert oct(written.stat().st_mode & 0o777) == oct(0o600)

    seen = visible_text(page)
    key = "report_date=2024-11-01, plan_code={}, company_code=TC001"
    assert "Rows that would disappear (1)" in seen and key.format("P0002") in seen
    assert "Rows that would add" not in seen
    assert (
        "Rows that would change (1) key column before after cell "
        + key.format("P0003")
        + " fund_scale 1003.50 2003.75 受托业绩!G3"
    ) in seen
    assert "Rows that would be added (1)" in seen and key.format("P0006") in seen
    assert seen.count("plan_code=P") == 3

    book = openpyxl.load_workbook(workbook)
    assert book.sheetnames == ["plan", "removed", "changed", "added"]
    changed = [[cell.value for cell in row] for row in book["changed"].iter_rows()]
    assert changed == [
        ["report_date", "plan_code", "company_code", "column", "before", "after", "cell"],
        ["2024-11-01", "P0003", "TC001", "fund_scale", "1003.50", "2003.75", "受托业绩!G3"],
    ]
    assert [row[1].value for row in book["removed"].iter_rows(min_row=2)] == ["P0002"]
    assert [row[1].value for row in book["added"].iter_rows(min_row=2)] == ["P0006"]


def test_without_a_unique_key_rows_are_matched_by_content_then_by_scope_and_row(
    tmp_path: Path, database_url: URL
) -> None:
    from tests.support.plans import notes_domain

    domain = notes_domain().model_copy(update={"unique_key": None})
    file = "2024_11_notes.xlsx"
    headers = ["month", "code", "note"]
    first = [["2024-11", "A", "x"], ["2024-11", "B", "y"], ["2024-11", "C", "z"]]
    write_workbook(tmp_path / "v1" / file, first, headers=headers, sheet="notes")
    run_domain(tmp_path / "v1", tmp_path / "o1", domain=domain, database_url=database_url,
               execute=True)  # fmt: skip
    # B's note corrected in place; C moved down a row (same content: unchanged); D added.
    second = [["2024-11", "A", "x"], ["2024-11", "B", "y2"], ["2024-11", "D", "w"], first[2]]
    write_workbook(tmp_path / "v2" / file, second, headers=headers, sheet="notes")
    outcome = run_domain(
        tmp_path / "v2", tmp_path / "o2", domain=domain, database_url=database_url, diff=True
    )
    assert outcome.load is not None and outcome.load.summary is not None
    diff = json.loads(json.dumps(outcome.load.summary["diff"]))
    assert diff["matched_by"] == ["month", "_source_row"]
    assert (diff["rows_removed"], diff["rows_changed"], diff["rows_added"]) == (0, 1, 1)
    (changed,) = diff["changed"]
    assert changed["key"] == {"month": "2024-11", "_source_row": "3"}
    assert changed["cells"] == [
        {"column": "note", "before": "y", "after": "y2", "address": "notes!C3"}
    ]
    assert [cell["after"] for cell in diff["added"][0]["cells"]] == ["2024-11", "D", "w"]
