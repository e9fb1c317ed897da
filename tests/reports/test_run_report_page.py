"""The run report page, opened in headless Chromium: a person sees the JSON report's numbers,
the checks, the rejects by reason and the rows per period, and the page fetches nothing."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tests.support.browser import rendered_dom, visible_text
from work_data_hub.reports.run_report_page import render_run_report

HOSTILE = '<img src="http://example.invalid/x.png">'


def _report() -> dict[str, Any]:
    return {
        "run_id": "2024-12-01T09.00.00.000Z",
        "started_at": "2024-12-01T09:00:00+0000",
        "status": "failed",
        "error": "annuity_performance: 3 of 40 rows were rejected",
        "seconds": 4.2,
        "pipelines": ["__default__"],
        "params": {"execute": True, "max_files": 2},
        "domains": {
            "trustee_performance": {
                "status": "loaded",
                "table": "trustee_performance",
                "mode": "delete_insert",
                "executed": True,
                "rows_read": 14,
                "rows_skipped": 2,
                "rows_rejected": 0,
                "rows_clean": 14,
                "rows_planned": 14,
                "rows_deleted": 12,
                "rows_inserted": 14,
                "seconds": {"clean_workbooks": 0.2, "save_load_plan": 0.4},
                "files": {
                    "selected": [
                        {"path": "2024_10.xlsx", "period": "2024-10", "sha256": "ab" * 32},
                        {"path": "2024_11.xlsx", "period": "2024-11", "sha256": "cd" * 32},
                    ],
                    "superseded": [{"path": "V1/2024_11.xlsx", "period": "2024-11"}],
                },
                "files_read": {"2024_10.xlsx": {"sheet": "受托业绩", "rows_read": 6}},
                "ledger": {
                    "2024-10": {"rows": 9, "run_id": "r1"},
                    "2024-11": {"rows": 12, "run_id": "r2"},
                    "2023-01": {"rows": 3, "run_id": "r0"},
                },
                "summary": {
                    "files": [
                        {"path": "2024_10.xlsx", "period": "2024-10", "rows": 6},
                        {"path": "2024_11.xlsx", "period": "2024-11", "rows": 8},
                    ],
                    "checks": [
                        {
                            "name": "volume",
                            "severity": "error",
                            "status": "accepted",
                            "numbers": {"2024-11": "8 of 12 rows"},
                            "message": "2024-11 drops by 33%",
                            "accepted": True,
                        }
                    ],
                    "table_changes": ["ALTER TABLE trustee_performance ADD COLUMN note text"],
                },
                "diff": {"rows_to_delete": 12, "rows_to_insert": 14, "keys_disappearing": 1},
            },
            "annuity_performance": {
                "status": "failed",
                "failed_step": "save_load_plan",
                "error": "3 of 40 rows were rejected",
                "rows_read": 40,
                "rows_rejected": 3,
                "unknown_columns": ["数据来源", HOSTILE],
                "rejects_by_reason": [
                    {"column": "期末资产规模", "reason": "not a number", "cells": 2, "rows": 2},
                    {"column": "月度", "reason": "not a month", "cells": 1, "rows": 1},
                ],
            },
        },
    }


def test_the_page_shows_the_reports_numbers_as_a_person_reads_them(tmp_path: Path) -> None:
    page = tmp_path / "run.html"
    page.write_text(render_run_report(_report()), encoding="utf-8")
    seen = visible_text(page)

    assert "WorkDataHub run 2024-12-01T09.00.00.000Z failed" in seen
    assert "annuity_performance: 3 of 40 rows were rejected" in seen
    # The overview: one line per domain, its status, files and counts in the report's order.
    assert "trustee_performance loaded 2 14 2 0 14 14 12 14" in seen
    assert "annuity_performance failed – 40 – 3 – – – –" in seen
    # Checks with their numbers, table changes, the diff counts, the rejects by reason.
    assert "volume error accepted 2024-11=8 of 12 rows 2024-11 drops by 33% yes" in seen
    assert "ALTER TABLE trustee_performance ADD COLUMN note text" in seen
    assert "keys that would disappear 1" in seen
    assert "期末资产规模 not a number 2 2" in seen and "月度 not a month 1 1" in seen
    assert "failed at step save_load_plan: 3 of 40 rows were rejected" in seen
    assert "check volume: 2024-11 drops by 33%" in seen  # an accepted check is a warning
    # A value from a workbook is text on the page, never markup.
    assert HOSTILE in seen


def test_the_chart_sets_this_delivery_against_the_last_loads_of_its_periods(
    tmp_path: Path,
) -> None:
    page = tmp_path / "run.html"
    page.write_text(render_run_report(_report()), encoding="utf-8")
    dom = rendered_dom(page)
    bars = re.findall(r"<rect[^>]*><title>([^<]+)</title></rect>", dom)
    # Only the delivered periods; 2023-01 is in the ledger but not in this delivery.
    assert bars == [
        "this delivery 2024-10: 6",
        "last load 2024-10: 9",
        "this delivery 2024-11: 8",
        "last load 2024-11: 12",
    ]


def test_the_page_loads_nothing_from_elsewhere(tmp_path: Path) -> None:
    page = tmp_path / "run.html"
    page.write_text(render_run_report(_report()), encoding="utf-8")
    dom = rendered_dom(page)
    assert not re.search(r"<(img|script|link|iframe)\b", dom)
    # In a tag (text is escaped, so the hostile value above is no tag).
    assert not re.search(r"""<[a-z][^<>]*\s(src|href)=["']?(https?:|//)""", dom)
    assert "<svg" in dom
