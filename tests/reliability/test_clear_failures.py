"""Clear failures a new user meets: one message, naming the file or setting and what to do.

An unreadable workbook is said once (not again in Kedro's node log) and in one line, without
the reader's multi-line context; ``apply_plan`` without ``plan=`` says the param is missing;
``kedro run`` from a subfolder refuses, naming the project root, and writes nothing there; a
YAML syntax error shows the lines at fault, numbered as an editor numbers them, and why.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import run_kedro
from tests.support.workbooks import write_garbage
from work_data_hub import settings
from work_data_hub.conf_files import ConfigSyntaxError, ProjectConfigLoader
from work_data_hub.config.project import load_domains

BROKEN = "2024_11_受托业绩.xlsx"


def _said(result) -> str:  # type: ignore[no-untyped-def]
    return result.stdout + result.stderr


def test_an_unreadable_workbook_is_one_message_naming_the_file_and_what_to_do(
    project_copy: Path, tmp_path: Path
) -> None:
    write_garbage(tmp_path / "inbox" / BROKEN)
    result = run_kedro(
        project_copy, "run", "--pipelines", "trustee_performance", "--params",
        f"inbox={tmp_path / 'inbox'}",
    )  # fmt: skip
    said = _said(result)
    assert result.returncode == 1
    assert said.count("not a readable Excel workbook") == 1, said
    error = [line for line in said.splitlines() if line.startswith("Error:")]
    assert len(error) == 1 and BROKEN in error[0]
    assert "open it in Excel and save it" in error[0] and "remove it from the inbox" in error[0]
    assert "Context:" not in said and ")" not in [line.strip() for line in said.splitlines()]


def test_apply_plan_without_a_plan_says_the_param_is_missing(project_copy: Path) -> None:
    result = run_kedro(project_copy, "run", "--pipelines", "apply_plan")
    said = _said(result)
    assert result.returncode == 1
    assert "param 'plan' is missing" in said and "--params plan=<plan file>" in said
    assert "is not a file" not in said and str(project_copy) not in said


def test_kedro_run_from_a_subfolder_refuses_naming_the_root_and_writes_nothing(
    project_copy: Path,
) -> None:
    subfolder = project_copy / "notes"
    subfolder.mkdir()
    result = run_kedro(project_copy, "run", cwd=subfolder)
    assert result.returncode == 1
    assert f"run kedro from the project's root folder, {project_copy}" in _said(result)
    assert not list(subfolder.iterdir()), "nothing is written in the subfolder"
    assert not (project_copy / "data/08_reporting/run_reports").exists()


def _break(path: Path, after: str, line: str) -> int:
    """Insert ``line`` after the first line equal to ``after``; its 1-based line number."""
    lines = path.read_text(encoding="utf-8").splitlines()
    at = lines.index(after) + 1
    lines.insert(at, line)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return at + 1


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("    header_row: [1", "expected ',' or ']'"),
        ("    bad line here", "could not find expected ':'"),
        ("    \ttab: 1", "cannot start any token"),
    ],
)
def test_a_yaml_syntax_error_shows_the_line_at_fault_and_why(
    project_copy: Path, line: str, why: str
) -> None:
    data_sources = project_copy / "conf/base/data_sources.yml"
    number = _break(data_sources, "    sheet: 0", line)
    with pytest.raises(ConfigSyntaxError) as caught:
        load_domains(project_copy)
    message = str(caught.value)
    assert str(data_sources) in message and why in message
    # The line at fault, with its number as an editor shows it.
    assert f"  {number} | {line}" in message, message


def test_a_yaml_syntax_error_in_any_config_file_is_reported_the_same_way(
    project_copy: Path,
) -> None:
    catalog = project_copy / "conf/base/catalog.yml"
    number = _break(catalog, "apply_plan.saved_plan:", "  bad line here")
    loader = ProjectConfigLoader(
        conf_source=str(project_copy / "conf"), env="local", **settings.CONFIG_LOADER_ARGS
    )
    with pytest.raises(ConfigSyntaxError) as caught:
        loader["catalog"]
    assert f"  {number} |   bad line here" in str(caught.value)
    result = run_kedro(project_copy, "run")
    said = _said(result)
    assert result.returncode == 1 and f"{number} |   bad line here" in said
    assert "Traceback" not in said and "╭" not in said
