"""kedro-dagster: each domain pipeline is a Dagster job; one runs in process, plan-only."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml
from kedro.config import OmegaConfigLoader

from tests.conftest import PROJECT_ROOT

CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    "config_patterns": {"globals": ["globals*", "globals*/**"]},
}


def _dagster():  # type: ignore[no-untyped-def]
    try:
        import dagster
    except ImportError:
        if os.environ.get("CI", "").lower() == "true":
            raise
        pytest.skip("the dagster group is not installed: uv sync --group dagster")
    return dagster


def test_each_domain_is_a_dagster_job_and_one_runs_plan_only(
    project_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dg = _dagster()
    from work_data_hub.integrations.dagster import build_definitions

    monkeypatch.chdir(project_copy)  # Kedro's relative paths: data/01_raw, data/08_reporting
    defs = build_definitions(env="base", project_path=project_copy)

    sources = yaml.safe_load((project_copy / "conf/base/data_sources.yml").read_text("utf-8"))
    jobs = {job.name for job in defs.resolve_all_job_defs()}
    assert {f"base__{domain}__ingest" for domain in sources["domains"]} <= jobs

    job = defs.resolve_job_def("base__trustee_performance__ingest")
    result = job.execute_in_process(instance=dg.DagsterInstance.ephemeral())
    assert result.success

    reports = list((project_copy / "data/08_reporting/run_reports").glob("run_*.json"))
    assert len(reports) == 1
    report = json.loads(reports[0].read_text(encoding="utf-8"))
    assert report["status"] == "succeeded" and report["params"]["execute"] is False
    domain = report["domains"]["trustee_performance"]
    assert domain["status"] == "planned" and domain["executed"] is False
    assert domain["rows_planned"] > 0
    assert list((project_copy / "data/08_reporting/plans").rglob("trustee_performance.sql"))


@pytest.mark.parametrize(("env", "execute"), [("base", False), ("local", False), ("prod", True)])
def test_the_execute_default_comes_from_the_environments_globals(env: str, execute: bool) -> None:
    loader = OmegaConfigLoader(
        conf_source=str(PROJECT_ROOT / "conf"), env=env, **CONFIG_LOADER_ARGS
    )
    assert loader["parameters"]["execute"] is execute
