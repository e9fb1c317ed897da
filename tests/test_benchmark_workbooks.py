"""The benchmark's generated workbooks are what the domains expect: every bad cell, and only
those, is rejected, so the benchmark times cleaning real work and not a pile of rejects."""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

from tests.support.cli import run_kedro
from tests.support.paths import PROJECT_ROOT

ROWS = 120


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "benchmark_workbooks", PROJECT_ROOT / "benchmarks" / "workbooks.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_workbooks_reject_exactly_their_bad_cells(
    project_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workbooks = _generator()
    # Small workbooks with the same mix: a bad cell every 50 rows, a blank row every 40.
    monkeypatch.setattr(workbooks, "BAD_ROW_EVERY", 50)
    monkeypatch.setattr(workbooks, "BLANK_ROW_EVERY", 40)
    inbox = tmp_path / "inbox"
    trustee_bad = workbooks.write_trustee_workbook(inbox / "2024_11_受托业绩报告.xlsx", ROWS)
    annuity_bad = workbooks.write_annuity_workbook(inbox / "2024年11月年金终稿数据.xlsx", ROWS)
    assert (trustee_bad, annuity_bad) == (2, 2)
    assert len(workbooks.ANNUITY_HEADERS) == 23

    result = run_kedro(project_copy, "run", "--params", f"inbox={inbox}")
    assert result.returncode == 0, result.stderr[-3000:]

    (report_path,) = (project_copy / "data/08_reporting/run_reports").glob("*.json")
    domains = json.loads(report_path.read_text(encoding="utf-8"))["domains"]
    trustee, annuity = domains["trustee_performance"], domains["annuity_performance"]
    assert (trustee["rows_read"], trustee["rows_rejected"]) == (ROWS, trustee_bad)
    assert (annuity["rows_read"], annuity["rows_rejected"]) == (ROWS, annuity_bad)
    assert trustee["rows_skipped"] == 3 + 1  # the blank rows and the total row
    # 集团企业客户名称 is declared: only the derived 机构代码 arrives as unknown.
    assert sorted(annuity["unknown_columns"]) == ["机构代码"]
    with (project_copy / annuity["rejects_file"]).open(encoding="utf-8-sig") as rejects:
        reasons = {(row["column"], row["value"]) for row in csv.DictReader(rejects)}
    assert reasons == {("期末资产规模", "待核实")}
