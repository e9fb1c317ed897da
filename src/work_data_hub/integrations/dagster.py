"""Dagster definitions: each domain pipeline as a Dagster job, an inbox sensor and a monthly
schedule per domain, through kedro-dagster.

Dagster is opt-in (the ``dagster`` dependency group): plain ``kedro`` commands never import it,
because kedro-dagster's CLI plugin is only installed with the group. Install it and point
Dagster at ``defs`` here, from the project root::

    uv sync --group dagster
    uv run dagster job execute -m work_data_hub.integrations.dagster -a defs -j local__trustee_performance__ingest
    uv run dagster dev -m work_data_hub.integrations.dagster -a defs

Jobs come from the job factory in ``conf/base/dagster.yml`` (one per domain namespace);
``execute`` comes from ``conf/<env>/globals.yml`` as for ``kedro run``, so a job only plans
unless the environment says otherwise (``KEDRO_ENV=prod``).

A domain with a delivery calendar gets a job partitioned by month (``2024-10``), from the
calendar's ``first`` month up to the current month plus its ``future_tolerance``: a partition's
run loads exactly that month (``periods=<partition>``), a backfill of a range one run per month,
and the inbox sensor requests the partition of each new or corrected delivery. A domain
without a calendar keeps an unpartitioned job that loads the newest ``max_files`` periods.

Patches into kedro-dagster's internals (``KedroProjectTranslator._catalog``) and Kedro's
``find_pipelines`` are fenced by the version ranges in pyproject.toml and guarded by
tests/integrations/test_dagster.py.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import dagster as dg
import kedro.framework.project as kedro_project
from kedro_dagster import KedroProjectTranslator

from work_data_hub.config import DomainConfig
from work_data_hub.config.project import load_domains, run_env
from work_data_hub.config.project import project_path as find_project_path
from work_data_hub.discovery import (
    DatedFile,
    FileCandidate,
    discover,
    match_domain,
    newest_per_period,
)
from work_data_hub.months import Month, current_month
from work_data_hub.pipelines.ingest.names import INBOX_WORKBOOKS, SELECT_STEP

# Monthly deliveries: a run on the 2nd of each month at 07:00 (the sensor catches late files).
MONTHLY_CRON = "0 7 2 * *"
SENSOR_INTERVAL_SECONDS = 300


@contextlib.contextmanager
def _registered_pipelines_as_found() -> Iterator[None]:
    """kedro-dagster 0.8 discovers pipelines with Kedro's ``find_pipelines()``, which calls each
    ``pipelines/<name>.create_pipeline()`` without arguments. Ours are built per domain from
    data_sources.yml by pipeline_registry.py, so hand it the registered pipelines instead."""
    find_pipelines = kedro_project.find_pipelines

    def registered_pipelines(*args: Any, **kwargs: Any) -> dict[str, Any]:
        return dict(kedro_project.pipelines)

    kedro_project.find_pipelines = registered_pipelines
    try:
        yield
    finally:
        kedro_project.find_pipelines = find_pipelines


class _ParamsNamingNoise(logging.Filter):
    """kedro-dagster warns, for every node of every job, that ``params:x`` became
    ``params__x``: the renaming is how it maps Kedro parameters, nothing to fix here."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Dataset name `params:")


_NAMING_FILTER = _ParamsNamingNoise()


class _MemoryThenCatalogIOManager(dg.IOManager):
    """Keeps the in-memory hand-overs between ops (file manifest, clean rows, plan) like
    ``mem_io_manager``; an input no op produced (``run_id``, filled by the run-context hook
    before the run) is loaded from the Kedro catalog."""

    def __init__(self, catalog: Any, env: str) -> None:
        self._catalog = catalog
        self._env = env
        self._values: dict[tuple[object, ...], object] = {}

    def handle_output(self, context: dg.OutputContext, obj: object) -> None:
        self._values[tuple(context.get_identifier())] = obj

    def load_input(self, context: dg.InputContext) -> object:
        key = tuple(context.get_identifier())
        if key in self._values:
            return self._values[key]
        asset_path = context.asset_key.path
        dataset_name = ".".join(asset_path[1:] if asset_path[0] == self._env else asset_path)
        return self._catalog.load(dataset_name)


def _candidates(inbox: Path) -> list[FileCandidate]:
    candidates = []
    for path in sorted(inbox.rglob("*")):
        if path.is_file():
            stat = path.stat()
            candidates.append(
                FileCandidate(path.relative_to(inbox).as_posix(), stat.st_size, stat.st_mtime)
            )
    return candidates


def _file_sha256(inbox: Path, file: DatedFile) -> str:
    with (inbox / file.path).open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def selection_key(domain: DomainConfig, inbox: Path, max_files: int) -> str | None:
    """A key for the files discovery would select for ``domain`` now: the sha256 of their
    paths and contents. ``None`` when there is nothing to read. Same files, same key."""
    selection = discover(
        _candidates(inbox),
        domain.compiled_pattern,
        max_files,
        inbox=str(inbox),
        latest=current_month().plus(domain.future_tolerance),
    )
    if not selection.selected:
        return None
    digest = hashlib.sha256(domain.name.encode())
    for file in selection.selected:
        digest.update(f"\0{file.path}\0{_file_sha256(inbox, file)}".encode())
    return digest.hexdigest()


def delivery_keys(domain: DomainConfig, inbox: Path) -> dict[str, str]:
    """Per month of the domain's calendar, a key for the delivery discovery would read for it
    (the sha256 of its path and content): a new or corrected delivery changes its month's key.
    Months before the calendar's ``first`` and files from the future are left out."""
    assert domain.calendar is not None
    first = domain.calendar.first_month
    latest = current_month().plus(domain.future_tolerance)
    winners, _ = newest_per_period(match_domain(_candidates(inbox), domain.compiled_pattern))
    keys = {}
    for file in winners:
        if first <= Month(file.year, file.month) <= latest:
            digest = hashlib.sha256(f"{domain.name}\0{file.path}\0".encode())
            digest.update(_file_sha256(inbox, file).encode())
            keys[file.period] = digest.hexdigest()
    return keys


def inbox_sensor(
    domain: DomainConfig, job_name: str, inbox: Path, max_files: int
) -> dg.SensorDefinition:
    """Requests a run of ``job_name`` when the files discovery would select change; for a
    partitioned job, a run of the partition of each month whose delivery is new or corrected.

    The run key is the delivery's key (:func:`selection_key`, :func:`delivery_keys`): Dagster
    never launches two runs with one key, and the cursor keeps the keys seen, so the same files
    never trigger twice.
    """

    @dg.sensor(
        name=f"{domain.name}__inbox",
        job_name=job_name,
        minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
        description=f"Runs {job_name} when new or changed {domain.name} workbooks are in {inbox}.",
    )
    def watch_inbox(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
        if not inbox.is_dir():
            return dg.SkipReason(f"inbox {inbox} does not exist")
        if domain.calendar is not None:
            return _partition_requests(domain, inbox, context.cursor)
        key = selection_key(domain, inbox, max_files)
        if key is None:
            return dg.SkipReason(f"no {domain.name} workbook in {inbox}")
        if key == context.cursor:
            return dg.SkipReason("the selected files have not changed")
        return dg.SensorResult(run_requests=[dg.RunRequest(run_key=key)], cursor=key)

    return watch_inbox


def _partition_requests(
    domain: DomainConfig, inbox: Path, cursor: str | None
) -> dg.SensorResult | dg.SkipReason:
    keys = delivery_keys(domain, inbox)
    if not keys:
        return dg.SkipReason(f"no {domain.name} workbook in {inbox}")
    seen: dict[str, str] = json.loads(cursor) if cursor else {}
    changed = sorted(period for period, key in keys.items() if seen.get(period) != key)
    if not changed:
        return dg.SkipReason("no new or corrected delivery")
    return dg.SensorResult(
        run_requests=[dg.RunRequest(run_key=keys[p], partition_key=p) for p in changed],
        cursor=json.dumps({**seen, **keys}, sort_keys=True),
    )


def monthly_partitions(domain: DomainConfig) -> dg.MonthlyPartitionsDefinition | None:
    """The months of the domain's calendar, ``first`` to the current month plus the domain's
    ``future_tolerance``; None without a calendar."""
    if domain.calendar is None:
        return None
    return dg.MonthlyPartitionsDefinition(
        start_date=domain.calendar.first,
        fmt="%Y-%m",
        end_offset=1 + domain.future_tolerance,
    )


def partitioned_job(
    job: dg.JobDefinition,
    domain: DomainConfig,
    partitions: dg.PartitionsDefinition,
    catalog_io_manager: dg.IOManager,
) -> dg.JobDefinition:
    """``job`` with one partition per month; a partition's run sets ``periods`` to its month
    (in the select step's config, where kedro-dagster puts a node's params).

    kedro-dagster reads a partition key as the key of a Kedro ``PartitionedDataset``: the inbox
    (one partition per file) would be cut to a file named ``2024-10``. The inbox is read through
    ``catalog_io_manager`` instead, whole; discovery then picks the month's file.
    """
    base_config: Mapping[str, Any] = job.run_config or {}
    select_op = f"{domain.name}__{SELECT_STEP}"
    resources: dict[str, Any] = {k: v for k, v in job.resource_defs.items() if k != "io_manager"}
    for key in resources:
        if key.endswith(f"__{domain.name}__{INBOX_WORKBOOKS}_io_manager"):
            resources[key] = dg.IOManagerDefinition.hardcoded_io_manager(catalog_io_manager)

    def run_config(partition_key: str) -> dict[str, Any]:
        ops = dict(base_config.get("ops", {}))
        ops[select_op] = {"config": {"params:periods": partition_key}}
        return {**base_config, "ops": ops}

    return dg.JobDefinition(
        graph_def=job.graph,
        # kedro-dagster's own resources; the io_manager comes from the Definitions.
        resource_defs=resources,
        executor_def=job.executor_def,
        logger_defs=job.loggers,
        name=job.name,
        description=job.description,
        config=dg.PartitionedConfig(
            partitions_def=partitions, run_config_for_partition_key_fn=run_config
        ),
        tags=job.tags,
        metadata=job.metadata,
        hook_defs=job.hook_defs,
    )


def monthly_schedule(domain: DomainConfig, job_name: str) -> dg.ScheduleDefinition:
    """A run of ``job_name`` every month (:data:`MONTHLY_CRON`), for deliveries on time; for a
    partitioned job, the run of last month's partition."""
    if domain.calendar is None:
        return dg.ScheduleDefinition(
            name=f"{domain.name}__monthly",
            job_name=job_name,
            cron_schedule=MONTHLY_CRON,
            description=f"Monthly {domain.name} ingest.",
        )
    first = domain.calendar.first_month

    @dg.schedule(
        name=f"{domain.name}__monthly",
        job_name=job_name,
        cron_schedule=MONTHLY_CRON,
        description=f"Monthly {domain.name} ingest of last month's partition.",
    )
    def last_month(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        tick = context.scheduled_execution_time
        month = (Month.of(tick.date()) if tick else current_month()).plus(-1)
        if month < first:
            return dg.SkipReason(f"{domain.name}'s calendar starts {first}")
        return dg.RunRequest(run_key=f"{domain.name}:{month}", partition_key=str(month))

    return last_month


def build_definitions(env: str | None = None, project_path: Path | None = None) -> dg.Definitions:
    """Translate the Kedro project into Dagster definitions for ``env`` (``KEDRO_ENV``, else
    ``local``, Kedro's default run environment). The project is the Kedro project around the
    working directory (as for ``kedro run``), else the checkout this module comes from.

    Args:
        env: The Kedro environment (default: ``KEDRO_ENV``, else ``local``).
        project_path: The Kedro project (default: found as described above).

    Raises:
        DataSourcesError: ``data_sources.yml`` is missing or invalid.
    """
    env = run_env(env)
    project_path = project_path or find_project_path()
    kedro_dagster_logger = logging.getLogger("kedro_dagster.utils")
    kedro_dagster_logger.addFilter(_NAMING_FILTER)
    with _registered_pipelines_as_found():
        translator = KedroProjectTranslator(env=env, project_path=project_path)
        location = translator.to_dagster()
    # The catalog the translated hooks see: the run-context hook fills `run_id` in it.
    catalog = translator._catalog
    io_manager = _MemoryThenCatalogIOManager(catalog, env)
    resources: dict[str, Any] = {
        **location.named_resources,
        "io_manager": dg.IOManagerDefinition.hardcoded_io_manager(io_manager),
    }
    inbox = Path(catalog.load("params:inbox"))
    if not inbox.is_absolute():
        inbox = project_path / inbox
    max_files = int(catalog.load("params:max_files") or 1)
    domains, _ = load_domains(project_path, env)
    jobs = {job.name: job for job in location.named_jobs.values()}
    sensors, schedules = [], []
    for name, domain in domains.items():
        job_name = f"{env}__{name}__ingest"
        if job_name in jobs:
            partitions = monthly_partitions(domain)
            if partitions is not None:
                jobs[job_name] = partitioned_job(jobs[job_name], domain, partitions, io_manager)
            sensors.append(inbox_sensor(domain, job_name, inbox, max_files))
            schedules.append(monthly_schedule(domain, job_name))
    return dg.Definitions(
        assets=list(location.named_assets.values()),
        resources=resources,
        jobs=list(jobs.values()),
        sensors=sensors,
        schedules=schedules,
        executor=dg.in_process_executor,
    )


def __getattr__(name: str) -> Any:
    # `defs` is built on first access (Dagster's loader reads it); importing this module for
    # build_definitions() alone does not bootstrap the project.
    if name == "defs":
        return build_definitions()
    raise AttributeError(name)
