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


# Clear failures: a user mistake ends with a short message naming the fix, and a non-zero exit.
MAX_LINES = 25


def _lines(result) -> list[str]:  # type: ignore[no-untyped-def]
    return [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]


def _assert_short(result, *expected: str) -> str:  # type: ignore[no-untyped-def]
    lines = _lines(result)
    assert result.returncode != 0
    assert len(lines) <= MAX_LINES, "\n".join(lines)
    assert "Traceback" not in result.stderr and "╭" not in result.stdout + result.stderr
    output = _output(result)
    for text in expected:
        assert text in output, output
    return lines[-1]


def test_bad_params_and_an_unknown_pipeline_end_with_a_short_message(project_copy: Path) -> None:
    misspelt = run_kedro(project_copy, "run", "--params", "max_file=3")
    _assert_short(
        misspelt,
        "param 'max_file' is not a runtime parameter; did you mean 'max_files'?",
        "Valid params: execute, max_files, inbox, max_reject_ratio",
    )
    for text in ("yes", "on"):
        boolean = run_kedro(project_copy, "run", "--params", f"execute={text}")
        _assert_short(boolean, "param 'execute': must be true or false", f"(got '{text}')")
    unknown = run_kedro(project_copy, "run", "--pipelines", "trustee_performanc")
    last = _assert_short(unknown, "Unknown pipeline 'trustee_performanc'")
    assert last.endswith("Valid domains: annuity_performance, trustee_performance")
    assert not (project_copy / "data/08_reporting/plans").exists()


def test_verbose_shows_the_traceback_of_a_user_mistake(project_copy: Path) -> None:
    for switch, env in ((["--verbose"], {}), ([], {"WDH_VERBOSE": "1"})):
        result = run_kedro(project_copy, "run", *switch, "--params", "max_file=3", env=env)
        assert result.returncode != 0
        assert "Traceback" in result.stderr + result.stdout or "╭" in result.stdout
        assert "RunParametersError" in result.stdout + result.stderr


def test_run_help_lists_every_runtime_param_with_its_default(project_copy: Path) -> None:
    from work_data_hub.config.params import describe_run_parameters

    result = run_kedro(project_copy, "run", "--help")
    assert result.returncode == 0, result.stderr
    output = _output(result)
    assert "--verbose" in output and "WDH_VERBOSE=1" in output
    for name, default, meaning in describe_run_parameters():
        assert f"{name} {meaning} (default {default})" in output, name


def test_no_database_ends_short_with_a_summary_naming_the_failed_domain(
    project_copy: Path,
) -> None:
    from tests.support.database import closed_port

    # Nothing listens there: a configured warehouse that cannot be reached (with nothing
    # configured, execute=true would load into the local embedded warehouse).
    unreachable = f"postgresql://loader@127.0.0.1:{closed_port()}/warehouse"
    result = run_kedro(
        project_copy,
        "run",
        "--pipelines",
        "trustee_performance",
        "--params",
        "execute=true",
        env={"WDH_DATABASE__URI": unreachable},
    )
    last = _assert_short(result, "WDH_DATABASE__URI", "Cannot connect to the warehouse")
    assert last.startswith("Error: trustee_performance:") or last.startswith("Error: Cannot")
    lines = _lines(result)
    header = next(i for i, line in enumerate(lines) if line.split()[:2] == ["domain", "status"])
    assert lines[header].split()[2:] == ["files", "read", "rejected", "inserted", "plan"]
    assert lines[header + 1].split()[:3] == ["trustee_performance", "failed", "1"]


@pytest.mark.database
def test_too_many_rejects_ends_short_naming_max_reject_ratio(
    project_copy: Path, baseline: Baseline
) -> None:
    from tests.support.workbooks import trustee_rows, write_workbook

    inbox = project_copy / "data/other_inbox"
    rows = trustee_rows(2024, 12, ["P001", "P002"])
    rows[2][4] = "n/a"  # a yield that is not a number: that row is rejected
    write_workbook(inbox / "2024_12_受托业绩.xlsx", rows)
    result = run_kedro(
        project_copy,
        "run",
        "--pipelines",
        "trustee_performance",
        "--params",
        f"execute=true,inbox={inbox}",
        database_url=baseline.url,
    )
    _assert_short(result, "rows were rejected", "max_reject_ratio", "nothing was loaded")
    assert baseline.unchanged()


def test_a_run_ends_with_a_summary_table_and_writes_only_under_data(project_copy: Path) -> None:
    result = run_kedro(project_copy, "run")
    assert result.returncode == 0, result.stderr
    lines = _lines(result)
    header = next(i for i, line in enumerate(lines) if line.split()[:2] == ["domain", "status"])
    rows = {line.split()[0]: line.split() for line in lines[header + 1 : header + 3]}
    assert set(rows) == {"annuity_performance", "trustee_performance"}
    assert all(row[1] == "planned" and row[-1].endswith(".sql") for row in rows.values())
    # Off a terminal, one line per log record: nothing wrapped at 80 columns.
    assert any(len(line) > 120 for line in lines)
    # Every file the run (or a plugin, Kedro-Viz's run hooks) wrote is under data/.
    assert not (project_copy / ".viz").exists()
    written = {p.relative_to(project_copy).parts[0] for p in project_copy.rglob("*") if p.is_file()}
    assert written <= {"data", "conf", "src", "pyproject.toml", ".telemetry", ".kedro.yml"}


def test_only_the_projects_own_errors_are_shortened() -> None:
    import click
    from kedro.io import DatasetError

    from work_data_hub.cli import short_errors, user_error
    from work_data_hub.config import RunParametersError

    mistake = RunParametersError("param 'x': bad")
    try:
        try:
            raise mistake
        except RunParametersError as exc:
            raise DatasetError("Failed while saving data to dataset d") from exc
    except DatasetError as wrapped:
        assert user_error(wrapped) is mistake  # found behind Kedro's wrapping
    with pytest.raises(SystemExit) as stopped, short_errors(verbose=False):
        raise mistake
    assert stopped.value.code == 1
    with pytest.raises(RunParametersError), short_errors(verbose=True):
        raise mistake
    # A bug keeps its traceback: not turned into a message.
    with pytest.raises(ZeroDivisionError), short_errors(verbose=False):
        _ = 1 / 0
    assert user_error(click.ClickException("x")) is None
