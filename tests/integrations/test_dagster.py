"""kedro-dagster: each domain pipeline is a Dagster job, partitioned by month from its delivery
calendar, with an inbox sensor and a monthly schedule; jobs run in process, plan-only. Dagster is opt-in (`uv sync --group dagster`); CI runs
these in their own environment with WDH_REQUIRE_DAGSTER=1, where a missing Dagster fails."""

from __future__ import annotations

import datetime
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
    from tests.support.plans import trustee_copy_rows
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
    result = job.execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), partition_key="2024-10"
    )
    assert result.success

    reports = list((project_copy / "data/08_reporting/run_reports").glob("run_*.json"))
    assert len(reports) == 1
    report = json.loads(reports[0].read_text(encoding="utf-8"))
    assert report["status"] == "succeeded" and report["params"]["execute"] is False
    assert report["pipelines"] == ["trustee_performance"]
    assert report["params"]["periods"] == "2024-10" and "inbox" in report["params"]
    domain = report["domains"]["trustee_performance"]
    assert domain["status"] == "planned" and domain["executed"] is False
    # The partition's month only: October's file, and no other month's rows in the plan.
    assert [f["path"] for f in domain["files"]["selected"]] == ["2024/10/2024年10月受托业绩.xlsx"]
    (plan,) = [p for p in (project_copy / "data/08_reporting/plans").rglob("*.sql") if p.is_file()]
    rows = trustee_copy_rows(plan.read_text(encoding="utf-8"))
    assert rows and {row[6] for row in rows} == {"2024/10/2024年10月受托业绩.xlsx"}


def test_jobs_are_partitioned_by_the_calendar_and_a_backfill_loads_each_month(
    project_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dg = _dagster()
    from work_data_hub.integrations.dagster import build_definitions

    monkeypatch.chdir(project_copy)
    defs = build_definitions(env="base", project_path=project_copy)
    job = defs.resolve_job_def("base__trustee_performance__ingest")
    assert job.partitions_def is not None
    keys = job.partitions_def.get_partition_keys()
    assert keys[:3] == ["2024-09", "2024-10", "2024-11"]
    annuity = defs.resolve_job_def("base__annuity_performance__ingest").partitions_def
    assert annuity is not None and annuity.get_partition_keys()[0] == "2024-10"

    # A backfill launches one run per partition of the range, each in its own process (a new
    # translation here: the versions a run saves are fixed when the project is translated).
    backfill = job.partitions_def.get_partition_keys_in_range(
        dg.PartitionKeyRange("2024-09", "2024-10")
    )
    for key in backfill:
        run = build_definitions(env="base", project_path=project_copy).resolve_job_def(job.name)
        with dg.DagsterInstance.ephemeral() as instance:
            assert run.execute_in_process(instance=instance, partition_key=key).success
    reports = sorted((project_copy / "data/08_reporting/run_reports").glob("run_*.json"))
    selected = [
        [f["period"] for f in json.loads(r.read_text("utf-8"))["domains"]["trustee_performance"][
            "files"]["selected"]]
        for r in reports
    ]  # fmt: skip
    assert sorted(selected) == [["2024-09"], ["2024-10"]]


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
    with dg.DagsterInstance.ephemeral() as instance:
        on_time = dg.build_schedule_context(
            instance=instance,
            scheduled_execution_time=datetime.datetime(2024, 11, 2, 7),
            repository_def=defs.get_repository_def(),
        )
        (monthly,) = schedule.evaluate_tick(on_time).run_requests or []
    assert monthly.partition_key == "2024-10"  # last month's delivery

    def tick(cursor: str | None):  # type: ignore[no-untyped-def]
        with dg.DagsterInstance.ephemeral() as instance:
            context = dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs)
            return sensor.evaluate_tick(context)

    first = tick(None)
    # One run per delivered month of the calendar, each for its partition.
    assert sorted(r.partition_key for r in first.run_requests) == ["2024-09", "2024-10", "2024-11"]
    keys = {r.run_key for r in first.run_requests}
    assert len(keys) == 3 and None not in keys
    again = tick(first.cursor)
    assert again.run_requests == [] and "no new or corrected" in (again.skip_message or "")

    # Files discovery would not select (a backup folder) change nothing.
    shutil.copy2(
        project_copy / "data/01_raw/2024/11/V2/2024-11 受托业绩.xlsx",
        project_copy / "data/01_raw/backup/2025-01 受托业绩.xlsx",
    )
    assert tick(first.cursor).run_requests == []
    # A new month's workbook, and a corrected delivery of a month: their partitions only.
    write_trustee(project_copy / "data/01_raw/2025/01/2025-01 受托业绩.xlsx", 2025, 1)
    write_trustee(project_copy / "data/01_raw/2024/10/V2/2024-10 受托业绩.xlsx", 2024, 10)
    new = tick(first.cursor)
    assert sorted(r.partition_key for r in new.run_requests) == ["2024-10", "2025-01"]
    assert not {r.run_key for r in new.run_requests} & keys
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
    # Without a calendar the job is not partitioned: it loads the newest max_files months.
    sources = project_copy / "conf/base/data_sources.yml"
    declared = yaml.safe_load(sources.read_text("utf-8"))
    del declared["domains"]["trustee_performance"]["calendar"]
    sources.write_text(yaml.safe_dump(declared, allow_unicode=True), "utf-8")
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
