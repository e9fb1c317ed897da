"""Domains are pipelines: registered from data_sources.yml, validated with domain and key."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import PROJECT_ROOT
from tests.support.cli import run_kedro
from tests.support.plans import trustee_copy_rows
from tests.support.workbooks import write_trustee
from work_data_hub.config import DataSourcesError, parse_domains
from work_data_hub.config.project import load_domains
from work_data_hub.pipeline_registry import DomainPipelines

DATA_SOURCES = PROJECT_ROOT / "conf" / "base" / "data_sources.yml"


def data_sources() -> dict[str, Any]:
    return yaml.safe_load(DATA_SOURCES.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def with_second_domain() -> dict[str, Any]:
    """The project's data_sources.yml plus a copy of trustee with its own name, files and table."""
    raw = data_sources()
    fund = copy.deepcopy(raw["domains"]["trustee_performance"])
    fund.update(
        description="基金业绩: a copy of trustee_performance under another name",
        pattern=r"(?P<year>20\d{2})_(?P<month>1[0-2]|0?[1-9])_fund",
        table="基金 业绩",
    )
    raw["domains"]["fund_performance"] = fund
    return raw


def test_the_project_registers_one_pipeline_per_domain_and_a_default() -> None:
    domains, _ = load_domains(PROJECT_ROOT)
    assert "trustee_performance" in domains
    from work_data_hub.pipelines.ingest import create_pipeline

    pipelines = DomainPipelines({name: create_pipeline(d) for name, d in domains.items()})
    node_names = {node.name for node in pipelines["trustee_performance"].nodes}
    assert node_names == {
        "trustee_performance.select_workbooks",
        "trustee_performance.skip_loaded",
        "trustee_performance.clean_workbooks",
        "trustee_performance.plan_load",
    }


def test_an_unknown_pipeline_lists_the_valid_domains() -> None:
    pipelines = DomainPipelines({"b_domain": None, "a_domain": None, "__default__": None})  # type: ignore[dict-item]
    with pytest.raises(
        KeyError, match=r"Unknown pipeline 'nope'\. Valid domains: a_domain, b_domain"
    ):
        pipelines["nope"]


def test_a_second_domain_parses_next_to_trustee() -> None:
    domains = parse_domains(with_second_domain())
    assert sorted(domains) == ["annuity_performance", "fund_performance", "trustee_performance"]
    assert domains["fund_performance"].table == "基金 业绩"


def _domain_with(**changes: Any) -> dict[str, Any]:
    raw = data_sources()
    body = raw["domains"]["trustee_performance"]
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        target = body
        for parent in parents:
            target = target[parent]
        target[last] = value
    return raw


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (_domain_with(colour="blue"), "key 'colour': unknown key"),
        (_domain_with(pattern="(?P<year>\\d{4}"), "key 'pattern': not a valid regex"),
        (_domain_with(pattern="(?P<year>\\d{4})"), "key 'pattern': needs the named groups"),
        (
            _domain_with(unique_key=["report_date", "fund_id"]),
            "key 'unique_key': ['fund_id'] not among the declared",
        ),
        (_domain_with(mode="merge"), "key 'mode': Input should be 'delete_insert'"),
        (_domain_with(columns__plan_code__type="varchar"), "key 'columns.plan_code.type'"),
        (_domain_with(columns__plan_code__rule="shout"), "key 'columns.plan_code.rule'"),
        (_domain_with(columns__plan_code__allowed="[A-"), "'allowed' is not a valid regex"),
        (_domain_with(header_row=0), "key 'header_row'"),
        (_domain_with(mode="upsert", unique_key=None), "key 'mode': upsert needs a unique_key"),
        ({"domains": {"Trustee": {}}}, "domain 'Trustee': a domain name must be lower_snake_case"),
        ({"domain": {}}, "unknown top-level keys ['domain']"),
    ],
)
def test_an_invalid_data_sources_file_names_the_domain_and_key(
    raw: dict[str, Any], expected: str
) -> None:
    with pytest.raises(DataSourcesError) as raised:
        parse_domains(raw)
    message = str(raised.value)
    assert expected in message
    if "domains" in raw and "trustee_performance" in raw["domains"]:
        assert "domain 'trustee_performance'" in message


def test_every_problem_is_reported_at_once() -> None:
    raw = _domain_with(mode="merge", colour="blue")
    with pytest.raises(DataSourcesError) as raised:
        parse_domains(raw)
    assert "key 'mode'" in str(raised.value) and "key 'colour'" in str(raised.value)


def test_a_domain_added_to_data_sources_yml_is_listed_and_runs_alone(
    project_copy: Path, tmp_path: Path
) -> None:
    (project_copy / "conf/base/data_sources.yml").write_text(
        yaml.safe_dump(with_second_domain(), allow_unicode=True, sort_keys=False),
        encoding="utf-8",
    )
    inbox = tmp_path / "inbox"
    write_trustee(inbox / "2024_10_fund.xlsx", 2024, 10, ["F1", "F2"])
    write_trustee(inbox / "2024_10_受托业绩.xlsx", 2024, 10, ["T1"])

    listed = run_kedro(project_copy, "registry", "list")
    assert listed.returncode == 0, listed.stderr
    assert "fund_performance" in listed.stdout and "trustee_performance" in listed.stdout

    result = run_kedro(
        project_copy, "run", "--pipelines", "fund_performance", "--params", f"inbox={inbox}"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    reporting = project_copy / "data/08_reporting"
    plans = [p for p in (reporting / "plans").rglob("*.sql") if p.is_file()]
    assert [p.parent.parent.name for p in plans] == ["fund_performance.sql"]
    plan = plans[0].read_text(encoding="utf-8")
    assert 'CREATE TABLE "基金 业绩"' in plan  # run only if the table is missing
    copied = sorted(row[1] for row in trustee_copy_rows(plan))
    assert copied == ["F1", "F2"]
    report = json.loads(next((reporting / "run_reports").glob("*.json")).read_text("utf-8"))
    assert list(report["domains"]) == ["fund_performance"]
    assert report["domains"]["fund_performance"]["table"] == "基金 业绩"


def test_register_pipelines_reads_the_projects_data_sources_file(
    project_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from work_data_hub.pipeline_registry import register_pipelines

    path = project_copy / "conf/base/data_sources.yml"
    path.write_text(yaml.safe_dump(with_second_domain(), allow_unicode=True), encoding="utf-8")
    monkeypatch.chdir(project_copy)
    pipelines = register_pipelines()
    assert sorted(pipelines) == [
        "__default__",
        "annuity_performance",
        "apply_plan",
        "fund_performance",
        "status",
        "trustee_performance",
        "undo",
    ]
    default_nodes = {node.name for node in pipelines["__default__"].nodes}
    assert {node.name for node in pipelines["fund_performance"].nodes} < default_nodes
    assert {node.name for node in pipelines["trustee_performance"].nodes} < default_nodes

    broken = with_second_domain()
    broken["domains"]["fund_performance"]["refresh_scope"] = ["fund_id"]
    path.write_text(yaml.safe_dump(broken, allow_unicode=True), encoding="utf-8")
    with pytest.raises(DataSourcesError, match="domain 'fund_performance', key 'refresh_scope'"):
        register_pipelines()
