"""Bad input through the CLI: a message naming what is at fault, a non-zero exit, no plan."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.cli import run_kedro, run_trustee
from tests.support.workbooks import write_garbage, write_trustee, write_workbook
from work_data_hub.config import RunParametersError, check_run_parameters


def output_of(result: subprocess.CompletedProcess[str]) -> str:
    """stdout and stderr with line wrapping undone, so messages can be searched for."""
    return " ".join((result.stdout + result.stderr).split())


def plan_files(project: Path) -> list[Path]:
    return [p for p in (project / "data/08_reporting/plans").rglob("*") if p.is_file()]


def assert_failed_without_plan(
    project: Path, result: subprocess.CompletedProcess[str], *expected: str
) -> str:
    output = output_of(result)
    assert result.returncode != 0, output
    for text in expected:
        assert text in output, f"{text!r} not in the output:\n{output[-3000:]}"
    assert plan_files(project) == []
    return output


def last_report(project: Path) -> dict[str, Any]:
    reports = sorted((project / "data/08_reporting/run_reports").glob("*.json"))
    return json.loads(reports[-1].read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def test_unknown_pipeline_and_bad_params_fail_before_anything_is_read(
    project_copy: Path,
) -> None:
    result = run_kedro(project_copy, "run", "--pipelines", "trustee_performanc")
    assert_failed_without_plan(
        project_copy,
        result,
        "Unknown pipeline 'trustee_performanc'",
        "Valid domains: annuity_performance, trustee_performance",
    )

    result = run_kedro(
        project_copy, "run", "--params", "execute=yes-please,max_files=0,inbox=/nonexistent"
    )
    assert_failed_without_plan(
        project_copy,
        result,
        "param 'execute': must be true or false",
        "(got 'yes-please')",
        "param 'max_files': must be a whole number from 1 upwards (got 0)",
        "param 'inbox': folder '/nonexistent' does not exist",
    )
    assert not (project_copy / "data/08_reporting/rejects").exists()


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ({"execute": "true"}, "param 'execute': must be true or false"),
        ({"execute": 1}, "param 'execute': must be true or false"),
        ({"execute": "yes-please"}, "(got 'yes-please')"),
        ({"max_files": 0}, "param 'max_files': must be a whole number from 1 upwards (got 0)"),
        ({"max_files": -2}, "param 'max_files': must be a whole number from 1 upwards"),
        ({"max_files": 2.5}, "param 'max_files': must be a whole number from 1 upwards"),
        ({"max_files": "3"}, "param 'max_files': must be a whole number from 1 upwards"),
        ({"max_files": True}, "param 'max_files': must be a whole number from 1 upwards"),
        ({"max_reject_ratio": 2}, "param 'max_reject_ratio'"),
        ({"inbox": 5}, "param 'inbox'"),
    ],
)
def test_each_bad_run_parameter_is_named(params: dict[str, Any], problem: str) -> None:
    with pytest.raises(RunParametersError) as raised:
        check_run_parameters(params)
    assert problem in str(raised.value)


def test_good_run_parameters_pass() -> None:
    checked = check_run_parameters(
        {"execute": True, "max_files": 3, "inbox": "x", "max_reject_ratio": 0}
    )
    assert (checked.execute, checked.max_files, checked.inbox) == (True, 3, "x")


def test_a_missing_or_empty_inbox_is_named(tmp_path: Path) -> None:
    missing = str(tmp_path / "nowhere")
    with pytest.raises(RunParametersError, match="does not exist"):
        check_run_parameters({"inbox": missing}, inbox_must_hold_files=True)
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    with pytest.raises(RunParametersError, match="holds no files"):
        check_run_parameters({"inbox": str(tmp_path / "empty")}, inbox_must_hold_files=True)
    check_run_parameters({"inbox": missing})  # the type check alone does not look at disk


def test_bad_inboxes_name_the_inbox_pattern_file_sheet_or_column(
    project_copy: Path, tmp_path: Path
) -> None:
    # No matching file (only excluded and unrelated files): no delivery, named, nothing written.
    no_match = tmp_path / "no_match"
    write_trustee(no_match / "backup" / "2024_11_受托业绩.xlsx", 2024, 11)
    write_trustee(no_match / "2024_11_规模明细.xlsx", 2024, 11)
    result = run_trustee(project_copy, f"inbox={no_match}")
    assert result.returncode == 0, result.stdout + result.stderr
    output = " ".join((result.stdout + result.stderr).split())
    assert f"no workbook under inbox '{no_match}' matches pattern" in output
    assert "受托业绩'" in output
    report = last_report(project_copy)
    assert report["domains"]["trustee_performance"]["status"] == "no_delivery"
    assert not (project_copy / "data/08_reporting/plans").exists()

    # A corrupt workbook: the selected file is garbage bytes.
    corrupt = tmp_path / "corrupt"
    write_trustee(corrupt / "2024_10_受托业绩.xlsx", 2024, 10)
    write_garbage(corrupt / "2024_11_受托业绩.xlsx")
    result = run_trustee(project_copy, f"inbox={corrupt}")
    assert_failed_without_plan(
        project_copy, result, "2024_11_受托业绩.xlsx", "not a readable Excel workbook"
    )
    domain = last_report(project_copy)["domains"]["trustee_performance"]
    assert domain["status"] == "failed" and "2024_11_受托业绩.xlsx" in domain["error"]

    # A missing required column.
    missing_column = tmp_path / "missing_column"
    write_workbook(
        missing_column / "2024_11_受托业绩.xlsx",
        [["年", "月", "公司代码", "收益率"], [2024, 11, "C1", 0.1]],
        sheet="十一月",
    )
    result = run_trustee(project_copy, f"inbox={missing_column}")
    assert_failed_without_plan(
        project_copy,
        result,
        "2024_11_受托业绩.xlsx, sheet '十一月': required column(s) ['计划代码'] not found",
    )
    assert not (project_copy / "data/08_reporting/rejects").exists()


def test_an_invalid_data_sources_file_names_the_domain_and_key(project_copy: Path) -> None:
    path = project_copy / "conf/base/data_sources.yml"
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    raw["domains"]["trustee_performance"]["mode"] = "merge"
    raw["domains"]["trustee_performance"]["columns"]["plan_code"]["type"] = "varchar"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    result = run_kedro(project_copy, "run")
    assert_failed_without_plan(
        project_copy,
        result,
        "Invalid data_sources.yml",
        "domain 'trustee_performance', key 'mode'",
        "domain 'trustee_performance', key 'columns.plan_code.type': unknown type 'varchar'",
    )
