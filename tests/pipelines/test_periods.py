"""``periods`` (exactly these months) and ``no_delivery`` (a domain with nothing to read stops
nothing), as a user runs them: ``kedro run --params ...`` on the sample inbox."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL

from tests.support.cli import run_kedro
from tests.support.database import table_exists
from tests.support.plans import trustee_copy_rows

REPORTS = "data/08_reporting/run_reports"


def _output(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout + result.stderr


def _report(project: Path) -> dict[str, Any]:
    newest = sorted((project / REPORTS).glob("run_*.json"))[-1]
    report: dict[str, Any] = json.loads(newest.read_text(encoding="utf-8"))
    return report


def _selected(report: dict[str, Any], domain: str) -> list[str]:
    return [f["path"] for f in report["domains"][domain]["files"]["selected"]]


def _written(project: Path, domain: str) -> list[Path]:
    reporting = project / "data/08_reporting"
    return [
        path
        for folder in (f"plans/{domain}.sql", f"rejects/{domain}.csv")
        for path in (reporting / folder).rglob("*")
        if path.is_file()
    ]


def test_one_period_loads_that_month_of_every_domain_lineage_from_the_inbox_root(
    project_copy: Path,
) -> None:
    result = run_kedro(project_copy, "run", "--params", "periods=2024-10")
    assert result.returncode == 0, _output(result)
    report = _report(project_copy)
    assert report["params"]["periods"] == "2024-10"
    assert _selected(report, "trustee_performance") == ["2024/10/2024年10月受托业绩.xlsx"]
    assert _selected(report, "annuity_performance") == ["2024/10/2024年10月年金终稿数据.xlsx"]
    (plan,) = [p for p in (project_copy / "data/08_reporting/plans").rglob("trustee*.sql")
               if p.is_file()]  # fmt: skip
    rows = trustee_copy_rows(plan.read_text(encoding="utf-8"))
    assert rows and {row[6] for row in rows} == {"2024/10/2024年10月受托业绩.xlsx"}


def test_a_list_and_a_range_of_periods_on_the_command_line(project_copy: Path) -> None:
    listed = run_kedro(
        project_copy, "run", "--pipelines", "trustee_performance",
        "--params", "periods=[2024-09,2024-11],reload=false",
    )  # fmt: skip
    assert listed.returncode == 0, _output(listed)
    assert _selected(_report(project_copy), "trustee_performance") == [
        "2024/09/2024_09_受托业绩报告.xlsx",
        "2024/11/V2/2024-11 受托业绩.xlsx",
    ]
    ranged = run_kedro(project_copy, "run", "--params", "periods=2024-09..2024-11")
    assert ranged.returncode == 0, _output(ranged)
    report = _report(project_copy)
    assert len(_selected(report, "trustee_performance")) == 3
    # The annuity calendar starts 2024-10: September is not expected of it, not missing.
    assert [p.split("/")[1] for p in _selected(report, "annuity_performance")] == ["10", "11"]


def test_periods_with_max_files_is_refused_before_anything_is_read(project_copy: Path) -> None:
    result = run_kedro(project_copy, "run", "--params", "periods=2024-09..2024-11,max_files=2")
    assert result.returncode == 1
    assert "give either max_files" in result.stderr and "not both" in result.stderr
    assert not (project_copy / "data/08_reporting/plans").exists()


def test_a_period_the_inbox_lacks_names_the_periods_it_has(project_copy: Path) -> None:
    result = run_kedro(
        project_copy, "run", "--pipelines", "trustee_performance",
        "--params", "periods=[2024-10,2024-12]",
    )  # fmt: skip
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert "trustee_performance: no workbook for period 2024-12" in last
    assert "it has 2024-09, 2024-10, 2024-11" in last
    assert _written(project_copy, "trustee_performance") == []


def test_a_domain_without_a_delivery_stops_no_other_and_writes_nothing(
    project_copy: Path, database_url: URL, db_connection: Any
) -> None:
    for annuity in (project_copy / "data/01_raw").rglob("*年金终稿数据*.xlsx"):
        annuity.unlink()
    result = run_kedro(project_copy, "run", "--params", "execute=true", database_url=database_url)
    assert result.returncode == 0, _output(result)
    output = _output(result)
    warnings = [line for line in output.splitlines() if "WARNING" in line and "annuity" in line]
    assert len(warnings) == 1, warnings
    assert "annuity_performance: no delivery" in warnings[0] and "年金终稿数据" in warnings[0]
    assert any(line.split()[:2] == ["annuity_performance", "no_delivery"]
               for line in output.splitlines())  # fmt: skip

    report = _report(project_copy)
    assert report["status"] == "succeeded"
    annuity = report["domains"]["annuity_performance"]
    assert annuity["status"] == "no_delivery"
    assert "年金终稿数据" in annuity["files"]["no_delivery"]
    assert "plan_file" not in annuity and "rejects_file" not in annuity
    assert report["domains"]["trustee_performance"]["status"] == "loaded"
    assert _written(project_copy, "annuity_performance") == []
    assert not table_exists(db_connection, "annuity_performance")
    assert table_exists(db_connection, "trustee_performance")
