"""kedro-dagster: each domain pipeline is a Dagster job with an inbox sensor and a monthly
schedule; one runs in process, plan-only. Dagster is opt-in (`uv sync --group dagster`); CI runs
these in their own environment with WDH_REQUIRE_DAGSTER=1, where a missing Dagster fails."""

from __future__ import annotations

import json
import logging
import os
import shutil
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
        if os.environ.get("WDH_REQUIRE_DAGSTER") == "1":
            raise
        pytest.skip("the opt-in dagster group is not installed: uv sync --group dagster")
    return dagster


def test_each_domain_is_a_dagster_job_and_one_runs_plan_only(
    project_copy: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    dg = _dagster()
    from work_data_hub.integrations.dagster import build_definitions

    monkeypatch.chdir(project_copy)  # Kedro's relative paths: data/01_raw, data/08_reporting
    with caplog.at_level(logging.WARNING):
        defs = build_definitions(env="base", project_path=project_copy)
    noise = [r for r in caplog.records if "naming convention" in r.getMessage()]
    assert noise == [], f"{len(noise)} naming-convention warnings"

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
    assert report["pipelines"] == ["trustee_performance"]
    assert report["params"]["max_files"] == 1 and "inbox" in report["params"]
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


def test_the_inbox_sensor_requests_one_run_per_new_selection(
    project_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dg = _dagster()
    from tests.support.workbooks import write_trustee
    from work_data_hub.integrations.dagster import MONTHLY_CRON, build_definitions

    monkeypatch.chdir(project_copy)
    defs = build_definitions(env="base", project_path=project_copy)
    sensor = defs.resolve_sensor_def("trustee_performance__inbox")
    assert sensor.job_name == "base__trustee_performance__ingest"
    schedule = defs.resolve_schedule_def("trustee_performance__monthly")
    assert schedule.cron_schedule == MONTHLY_CRON
    assert schedule.job_name == "base__trustee_performance__ingest"
    assert {s.name for s in defs.sensors or []} >= {"annuity_performance__inbox"}

    def tick(cursor: str | None):  # type: ignore[no-untyped-def]
        with dg.DagsterInstance.ephemeral() as instance:
            return sensor.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=cursor))

    first = tick(None)
    assert len(first.run_requests) == 1
    key = first.run_requests[0].run_key
    assert key and first.cursor == key
    again = tick(first.cursor)
    assert again.run_requests == [] and "not changed" in (again.skip_message or "")

    # Files discovery would not select (a backup folder) change nothing.
    shutil.copy2(
        project_copy / "data/01_raw/2024/11/V2/2024-11 受托业绩.xlsx",
        project_copy / "data/01_raw/backup/2025-01 受托业绩.xlsx",
    )
    assert tick(first.cursor).run_requests == []
    # A new period's workbook is a new selection: one new run, with a new key.
    write_trustee(project_copy / "data/01_raw/2025/01/2025-01 受托业绩.xlsx", 2025, 1)
    new = tick(first.cursor)
    assert len(new.run_requests) == 1 and new.run_requests[0].run_key not in (None, key)
    assert tick(new.cursor).run_requests == []


def test_the_patched_kedro_and_kedro_dagster_attributes_still_exist(project_copy: Path) -> None:
    """Fails when a release moves what integrations/dagster.py replaces or reads."""
    _dagster()
    import kedro.framework.project as kedro_project
    from kedro_dagster import KedroProjectTranslator

    assert callable(kedro_project.find_pipelines)
    from work_data_hub.integrations.dagster import _registered_pipelines_as_found

    with _registered_pipelines_as_found():
        translator = KedroProjectTranslator(env="base", project_path=project_copy)
        translator.to_dagster()
    assert hasattr(translator, "_catalog") and "params:inbox" in translator._catalog


def test_the_run_report_records_the_params_a_dagster_run_config_gave_the_nodes(
    project_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dg = _dagster()
    from tests.support.workbooks import write_trustee
    from work_data_hub.integrations.dagster import build_definitions

    write_trustee(project_copy / "data/01_raw/2024/12/2024-12 受托业绩.xlsx", 2024, 12)
    monkeypatch.chdir(project_copy)
    job = build_definitions(env="base", project_path=project_copy).resolve_job_def(
        "base__trustee_performance__ingest"
    )
    run_config = {
        # kedro-dagster names an op's param config fields as Kedro does: "params:max_files".
        "ops": {"trustee_performance__select_workbooks": {"config": {"params:max_files": 2}}}
    }
    result = job.execute_in_process(run_config=run_config, instance=dg.DagsterInstance.ephemeral())
    assert result.success
    (report_path,) = (project_copy / "data/08_reporting/run_reports").glob("run_*.json")
    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert report["params"]["max_files"] == 2
    selected = report["domains"]["trustee_performance"]["files"]["selected"]
    assert sorted(f["period"] for f in selected) == ["2024-11", "2024-12"]
