"""A bad data_sources.yml stops every entry point with one message per problem, all at once."""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from kedro.framework.cli.cli import KedroCLI

from tests.support.annuity import project_declarations, run_session
from tests.support.cli import run_kedro
from work_data_hub.config import DataSourcesError, DomainConfig, parse_domains

MAPPINGS = {"branch_codes": {"北京": "G01"}}


def _valid_domain() -> dict[str, Any]:
    return {
        "pattern": r"(?P<year>20\d{2})(?P<month>1[0-2]|0?[1-9]).*demo",
        "sheet": 0,
        "table": "demo",
        "refresh_scope": ["月份"],
        "mode": "delete_insert",
        "columns": {
            "月份": {"type": "date", "rule": "month_date"},
            "机构名称": {"type": "text", "rule": "text"},
            "机构代码": {"rule": "mapping", "from": "机构名称", "mapping": "branch_codes"},
        },
    }


def _problems(**domains: dict[str, Any]) -> list[str]:
    with pytest.raises(DataSourcesError) as caught:
        parse_domains({"domains": domains}, MAPPINGS)
    return [line.strip() for line in str(caught.value).splitlines()[1:]]


def test_the_project_declarations_are_valid() -> None:
    domains, mappings = project_declarations()
    assert sorted(domains) == ["annuity_performance", "trustee_performance"]
    assert {"branch_codes", "product_line_codes"} <= set(mappings)


def test_a_valid_declaration_parses() -> None:
    assert parse_domains({"domains": {"demo": _valid_domain()}}, MAPPINGS)["demo"].table == "demo"


@pytest.mark.parametrize(
    ("change", "key", "message"),
    [
        ({"colour": "red"}, "colour", "unknown key"),
        ({"modus": "append"}, "modus", "did you mean 'mode'"),
        ({"pattern": "(?P<year>20\\d{2}"}, "pattern", "not a valid regex"),
        ({"pattern": "(?P<year>20\\d{2})_demo"}, "pattern", "missing ['month']"),
        ({"refresh_scope": ["月份", "计划代码"]}, "refresh_scope",
         "['计划代码'] not among the declared columns"),
        ({"unique_key": ["月份", "计划代码"]}, "unique_key",
         "['计划代码'] not among the declared columns"),
        ({"unique_key": []}, "unique_key", "needs at least one column"),
        ({"refresh_scope": ["月份", "月份"]}, "refresh_scope", "['月份'] listed more than once"),
        ({"refresh_scope": []}, "refresh_scope", "mode delete_insert needs the columns"),
        ({"mode": "append"}, "refresh_scope", "only mode delete_insert uses a refresh scope"),
        ({"mode": "merge"}, "mode", "got 'merge'"),
        ({"mode": "upsert", "refresh_scope": []}, "mode", "upsert needs a unique_key"),
        ({"transform": "no_such_package.clean"}, "transform", "cannot import module"),
        ({"transform": "work_data_hub.config.no_such_function"}, "transform", "no function"),
        ({"header_row": 0}, "header_row", "greater than or equal to 1"),
    ],
)  # fmt: skip
def test_each_domain_problem_names_the_domain_and_key(
    change: dict[str, Any], key: str, message: str
) -> None:
    (problem,) = _problems(demo=_valid_domain() | change)
    assert problem.startswith(f"domain 'demo', key '{key}':"), problem
    assert message in problem


@pytest.mark.parametrize(
    ("column", "key", "message"),
    [
        ({"type": "money"}, "columns.x.type", "unknown type 'money'"),
        ({"type": "numeric(4,6)"}, "columns.x.type", "scale exceeds precision"),
        ({"rule": "lookup"}, "columns.x.rule", "got 'lookup'"),
        ({"sorce": "X"}, "columns.x.sorce", "did you mean 'source'"),
        ({"rule": "mapping", "from": "机构名称", "mapping": "nope"}, "columns.x.mapping",
         "unknown mapping 'nope'"),
        ({"rule": "mapping", "from": "机构名称"}, "columns.x", "needs 'mapping:"),
        ({"rule": "copy", "from": "机构"}, "columns.x", "undeclared columns ['机构']"),
        ({"defaults": [{"when": {"类型": ["A"]}, "value": "Z"}]}, "columns.x",
         "undeclared columns ['类型']"),
        ({"defaults": [{"if": {}, "value": "Z"}]}, "columns.x.defaults.0.if", "unknown key"),
        ({"rule": "decimal"}, "columns.x", "needs a numeric(precision,scale) type"),
        ({"rule": "code", "allowed": "[A-Z"}, "columns.x.allowed", "not a valid regex"),
    ],
)  # fmt: skip
def test_each_column_problem_names_the_domain_and_key(
    column: dict[str, Any], key: str, message: str
) -> None:
    domain = _valid_domain()
    domain["columns"] = domain["columns"] | {"x": column}
    (problem,) = _problems(demo=domain)
    assert problem.startswith(f"domain 'demo', key '{key}':"), problem
    assert message in problem


def test_all_problems_of_all_domains_are_reported_at_once() -> None:
    broken = _valid_domain() | {"mode": "merge", "colour": "red", "unique_key": ["nope"]}
    broken["columns"] = broken["columns"] | {"x": {"type": "money", "rule": "lookup"}}
    other = _valid_domain() | {"pattern": "no groups"}
    problems = _problems(first=broken, second=other, good=_valid_domain())
    keys = [re.match(r"domain '(\w+)', key '([^']+)'", p).groups() for p in problems]  # type: ignore[union-attr]
    assert sorted(keys) == sorted(
        [
            ("first", "mode"),
            ("first", "colour"),
            ("first", "unique_key"),
            ("first", "columns.x.type"),
            ("first", "columns.x.rule"),
            ("second", "pattern"),
        ]
    )


@pytest.mark.parametrize("old_key", ["pk", "unique_pk"])
def test_a_file_still_using_pk_is_told_the_new_keys(old_key: str) -> None:
    domain = _valid_domain() | {old_key: ["月份"] if old_key == "pk" else True}
    (problem,) = _problems(demo=domain)
    assert problem.startswith(f"domain 'demo', key '{old_key}': replaced"), problem
    assert "'refresh_scope'" in problem or "unique_key:" in problem


def test_a_domain_built_in_code_is_checked_by_the_same_rules() -> None:
    with pytest.raises(ValueError, match="key 'mode': upsert needs a unique_key"):
        DomainConfig.model_validate({"name": "demo", **_valid_domain(), "mode": "upsert",
                                     "refresh_scope": []})  # fmt: skip


def test_key_and_scope_are_read_as_declared() -> None:
    domains, _ = project_declarations()
    trustee, annuity = domains["trustee_performance"], domains["annuity_performance"]
    assert trustee.unique_key == ["report_date", "plan_code", "company_code"]
    assert trustee.refresh_scope == ["report_date"]
    assert annuity.unique_key is None
    assert annuity.refresh_scope == ["月度"]


def test_top_level_problems() -> None:
    with pytest.raises(DataSourcesError, match="unknown top-level keys \\['domainz'\\]"):
        parse_domains({"domainz": {}, "domains": {"demo": _valid_domain()}})
    with pytest.raises(DataSourcesError, match="lower_snake_case"):
        parse_domains({"domains": {"Demo-Domain": _valid_domain()}})


# --- every entry point ----------------------------------------------------------------------


def _break_config(project: Path) -> None:
    path = project / "conf/base/data_sources.yml"
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    trustee = raw["domains"]["trustee_performance"]
    trustee["mode"] = "merge"
    trustee["unique_key"] = ["report_date", "plan"]
    raw["domains"]["annuity_performance"]["columns"]["机构代码"]["mapping"] = "branches"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")


EXPECTED_LINES = [
    "domain 'trustee_performance', key 'mode'",
    "domain 'trustee_performance', key 'unique_key': ['plan'] not among the declared columns",
    "domain 'annuity_performance', key 'columns.机构代码.mapping': unknown mapping 'branches'",
]


@pytest.mark.parametrize("command", [["run"], ["registry", "list"]], ids=["run", "registry"])
def test_every_command_stops_with_the_list_of_problems(
    project_copy: Path, command: list[str]
) -> None:
    _break_config(project_copy)
    result = run_kedro(project_copy, *command, timeout=120)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Invalid data_sources.yml (3 problems)" in result.stderr
    for line in EXPECTED_LINES:
        assert line in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not (project_copy / "data/08_reporting/plans").exists()


@pytest.mark.parametrize(
    "command",
    [
        ["ipython"],
        # Without the check, viz would start a server process that dies while the command
        # waits for it; the check ends the command before anything starts.
        ["viz", "run", "--no-browser", "--port", "4771"],
        ["viz", "build"],
    ],
    ids=["ipython", "viz-run", "viz-build"],
)
def test_interactive_commands_stop_before_starting(
    project_copy: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: list[str],
) -> None:
    # The kedro CLI in this process (a child process per command costs seconds each).
    hooks = importlib.metadata.entry_points(group="kedro.cli_hooks")
    if not any(hook.value.startswith("work_data_hub.") for hook in hooks):
        pytest.fail("the kedro.cli_hooks entry point is not installed: run `uv sync`")
    _break_config(project_copy)
    monkeypatch.chdir(project_copy)
    cli = KedroCLI(project_path=project_copy)
    with pytest.raises(SystemExit) as stopped:
        cli.main(args=command, prog_name="kedro")
    assert stopped.value.code == 1
    stderr = capsys.readouterr().err
    for line in EXPECTED_LINES:
        assert line in stderr
    assert not (project_copy / "build").exists()


def test_an_in_process_session_stops_with_the_list_of_problems(
    project_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _break_config(project_copy)
    with pytest.raises(DataSourcesError) as caught:
        run_session(project_copy, monkeypatch)
    for line in EXPECTED_LINES:
        assert line in str(caught.value)
    assert not (project_copy / "data/08_reporting/plans").exists()


def test_a_yaml_syntax_error_stops_a_command_naming_the_file_and_line(
    project_copy: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = project_copy / "conf/base/data_sources.yml"
    path.write_text(path.read_text(encoding="utf-8") + "\n  broken: [\n", encoding="utf-8")
    monkeypatch.chdir(project_copy)
    with pytest.raises(SystemExit) as stopped:
        KedroCLI(project_path=project_copy).main(args=["registry", "list"], prog_name="kedro")
    assert stopped.value.code == 1
    err = capsys.readouterr().err
    assert "data_sources.yml is not valid YAML" in err
    assert re.search(r"line \d+, column \d+: ", err) and "broken: [" in err
