"""Faults seen as a user sees them: ``kedro run`` exits non-zero with a message naming the fault.

Each case runs the CLI in a scratch copy of the project; where a load could happen, against a
database that already holds a good load (the baseline), which must be unchanged afterwards.
Child processes cost seconds, so only the cases whose point is the CLI's exit code and console
are here (an unreadable workbook through the CLI is in tests/test_bad_input.py; here it is
tried in-process with execute=true, in test_workbooks.py).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.reliability.conftest import Baseline
from tests.support.cli import run_kedro

pytestmark = pytest.mark.database


def _output(result) -> str:  # type: ignore[no-untyped-def]
    """stdout and stderr with Rich's line wrapping and box drawing undone."""
    text = (result.stdout + result.stderr).replace("│", " ")
    return " ".join(text.split())


def _plans(project: Path) -> list[Path]:
    return [p for p in (project / "data/08_reporting").rglob("*.sql") if p.is_file()]


def test_a_reporting_folder_that_cannot_be_written_stops_the_run_before_any_load(
    project_copy: Path, baseline: Baseline
) -> None:
    # Tests run as root, whom chmod does not stop: a file where the folder should be does.
    reporting = project_copy / "data/08_reporting"
    shutil.rmtree(reporting, ignore_errors=True)
    reporting.write_text("not a folder", encoding="utf-8")
    result = run_kedro(project_copy, "run", "--params", "execute=true", database_url=baseline.url)
    assert result.returncode != 0
    output = _output(result)
    assert "reporting folder data/08_reporting/run_reports cannot be written" in output
    assert "nothing was read or loaded" in output and "reporting_dir" in output
    assert baseline.unchanged()


def test_bad_params_and_an_empty_inbox_fail_the_run_naming_each_param(project_copy: Path) -> None:
    empty = project_copy / "data/empty_inbox"
    (empty / "sub").mkdir(parents=True)
    result = run_kedro(
        project_copy, "run", "--params", f"max_files=-1,max_reject_ratio=1.5,inbox={empty}"
    )
    assert result.returncode != 0
    output = _output(result)
    assert "param 'max_files'" in output and "param 'max_reject_ratio'" in output
    assert "param 'inbox'" in output and str(empty) in output
    assert not (project_copy / "data/08_reporting/plans").exists()


def test_a_missing_mapping_file_stops_every_command_naming_the_domain_and_the_file(
    project_copy: Path,
) -> None:
    # annuity_performance maps 机构名称 and 业务类型 through tables in mappings.yml.
    (project_copy / "conf/base/mappings.yml").unlink()
    result = run_kedro(project_copy, "run")
    assert result.returncode != 0
    output = _output(result)
    for column, mapping in (("机构代码", "branch_codes"), ("产品线代码", "product_line_codes")):
        assert (
            f"domain 'annuity_performance', key 'columns.{column}.mapping': "
            f"unknown mapping '{mapping}'"
        ) in output
    assert "conf/base/mappings.yml missing or empty" in output
    assert not (project_copy / "data/08_reporting/plans").exists()
