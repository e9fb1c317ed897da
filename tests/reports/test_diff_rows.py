"""diff=true names every row a correction removes, changes and adds: the console the first 20,
the plan and the review the first 1,000, and the run report all of them, through the JSON-lines
file beside it that it names, each changed cell with its value before and after."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import URL

from tests.reliability.support import run_domain, trustee_rows, write_workbook
from tests.support.browser import visible_text
from tests.support.cli import run_trustee
from work_data_hub.load.summary import LOGGED_ROWS, ROWS_LISTED
from work_data_hub.warehouse.errors import LoadFailedError

pytestmark = pytest.mark.database

NOVEMBER = "2024_11_受托业绩.xlsx"
LOADED, CHANGED = 1_250, 1_200  # more changed rows than the summary lists
GONE = [f"P{index:04d}" for index in (1_248, 1_249, 1_250)]
NEW = [f"P{index:04d}" for index in (1_251, 1_252)]


def _correction(tmp_path: Path, database_url: URL) -> Path:
    """November loaded; then a V2 whose first 1,200 scales differ, three rows gone, two new."""
    loaded = trustee_rows(LOADED)
    write_workbook(tmp_path / "v1" / "2024" / "11" / "V1" / NOVEMBER, loaded)
    run_domain(tmp_path / "v1", tmp_path / "out1", database_url=database_url, execute=True)
    corrected = [list(row) for row in trustee_rows(LOADED + len(NEW)) if row[2] not in GONE]
    for row in corrected[:CHANGED]:
        row[6] = f"{float(row[6]) + 0.25:.2f}"
    inbox = tmp_path / "inbox"
    write_workbook(inbox / "2024" / "11" / "V2" / NOVEMBER, corrected)
    return inbox


def test_the_run_report_names_every_changed_row_and_the_console_the_first_twenty(
    project_copy: Path, tmp_path: Path, database_url: URL
) -> None:
    inbox = _correction(tmp_path, database_url)
    result = run_trustee(project_copy, f"inbox={inbox},diff=true", database_url=database_url)
    console = result.stdout + result.stderr
    assert result.returncode == 0, console

    (report_path,) = (project_copy / "data/08_reporting/run_reports").glob("run_*.json")
    report = json.loads(report_path.read_text(encoding="utf-8"))
    diff = report["domains"]["trustee_performance"]["diff"]
    assert (diff["rows_removed"], diff["rows_changed"], diff["rows_added"]) == (3, CHANGED, 2)
    assert len(diff["changed"]) == ROWS_LISTED  # the first rows inline, as the review lists them

    # Every row, through the file the run report names, beside it and owner-only.
    rows_file = Path(diff["rows_file"])
    assert rows_file.parent == report_path.parent
    assert rows_file.name == report_path.name.replace(".json", ".trustee_performance.diff.jsonl")
    assert oct(rows_file.stat().st_mode & 0o777) == oct(0o600)
    lines = [json.loads(line) for line in rows_file.read_text(encoding="utf-8").splitlines()]
    by_kind: dict[str, list[dict[str, Any]]] = {"removed": [], "changed": [], "added": []}
    for line in lines:
        by_kind[line.pop("kind")].append(line)
    assert [row["key"]["plan_code"] for row in by_kind["removed"]] == GONE
    assert [row["key"]["plan_code"] for row in by_kind["added"]] == NEW
    changed = by_kind["changed"]
    assert [row["key"]["plan_code"] for row in changed] == [
        f"P{index:04d}" for index in range(1, CHANGED + 1)
    ]
    # The file holds what the report lists, and goes on from there.
    assert changed[:ROWS_LISTED] == diff["changed"]
    last = changed[-1]
    assert last["key"] == {
        "report_date": "2024-11-01",
        "plan_code": "P1200",
        "company_code": "TC001",
    }
    assert last["source"] == f"2024/11/V2/{NOVEMBER} row {CHANGED + 1}"
    assert last["cells"] == [
        {
            "column": "fund_scale",
            "before": "2200.50",
            "after": "2200.75",
            "address": f"受托业绩!G{CHANGED + 1}",
        }
    ]

    # The console: the first 20 that would change, how many more, and where they all are.
    text = " ".join(console.split())
    named = re.findall(r"plan_code=(P\d{4}), company_code=TC001; fund_scale", text)
    assert named == [f"P{index:04d}" for index in range(1, LOGGED_ROWS + 1)]
    assert f"... and {CHANGED - LOGGED_ROWS} more (all in the file named above)" in text
    assert f"all {3 + CHANGED + 2}, with their values before and after: {rows_file}" in text
    assert str(rows_file) in "".join(console.split())

    # The run report's page: the first rows, how many more, and where.
    seen = visible_text(report_path.with_suffix(".html"))
    assert f"would change ({CHANGED})" in seen
    assert f"and {CHANGED - 200} more (every one in {rows_file})" in seen


def test_each_line_is_json_whatever_the_text_and_a_retyped_column_still_compares(
    tmp_path: Path, database_url: URL, db_connection: Any
) -> None:
    from tests.support.plans import notes_domain

    domain = notes_domain()
    file, sheet = "2024_11_notes.xlsx", 'the "notes" sheet'
    headers = ["month", "code", "note"]
    texts = ['said "hi"\\ back\\slash', "two\nlines", "tab\there", "年金 ☃ \u2028"]
    first = [["2024-11", f"C{i}", "old"] for i in range(len(texts))] + [["2024-11", "Z", "x"]]
    write_workbook(tmp_path / "v1" / file, first, headers=headers, sheet=sheet)
    run_domain(tmp_path / "v1", tmp_path / "o1", domain=domain, database_url=database_url,
               execute=True)  # fmt: skip
    with db_connection.cursor() as cursor:  # the plan will refuse this; its diff still reads it
        cursor.execute("ALTER TABLE notes ALTER COLUMN note TYPE varchar(100)")
    second = [["2024-11", f"C{i}", text] for i, text in enumerate(texts)]
    second.append(["2024-11", 'N"\\', "new"])
    write_workbook(tmp_path / "v2" / file, second, headers=headers, sheet=sheet)
    rows_file = tmp_path / "rows.jsonl"
    outcome = run_domain(tmp_path / "v2", tmp_path / "o2", domain=domain, diff=True,
                         database_url=database_url, diff_rows=rows_file)  # fmt: skip
    assert outcome.load is not None and outcome.load.summary is not None
    assert outcome.load.summary["diff"]["rows_file"] == str(rows_file)

    lines = [json.loads(line) for line in rows_file.read_bytes().splitlines()]
    assert [line["kind"] for line in lines] == ["removed", *["changed"] * len(texts), "added"]
    assert lines[0]["key"] == {"month": "2024-11", "code": "Z"}
    changed = {line["key"]["code"]: line["cells"] for line in lines[1:-1]}
    delivered = {row[1]: row[2] for row in outcome.rows.itertuples(index=False)}
    assert '"' in delivered["C0"] and "\\" in delivered["C0"]  # JSON escapes them
    for position, code in enumerate(f"C{i}" for i in range(len(texts))):
        (cell,) = changed[code]
        assert cell == {
            "column": "note",
            "before": "old",
            "after": delivered[code],
            "address": f"{sheet}!C{position + 2}",
        }
    assert lines[-1]["key"] == {"month": "2024-11", "code": 'N"\\'}


def test_a_diff_that_fails_leaves_neither_plan_nor_rows_file(
    tmp_path: Path, database_url: URL
) -> None:
    write_workbook(tmp_path / "inbox" / NOVEMBER, trustee_rows(3))
    rows_file = tmp_path / "rows.jsonl"
    with pytest.raises(LoadFailedError):
        run_domain(tmp_path / "inbox", tmp_path / "out", diff=True, diff_rows=rows_file,
                   database_url=database_url.set(database="no_such_database"))  # fmt: skip
    assert not rows_file.exists()
    assert not list((tmp_path / "out" / "plans").rglob("*.sql"))
