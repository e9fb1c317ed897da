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

Patches into kedro-dagster's internals (``KedroProjectTranslator._catalog``) and Kedro's
``find_pipelines`` are fenced by the version ranges in pyproject.toml and guarded by
tests/integrations/test_dagster.py.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import kedro.framework.project as kedro_project
from kedro_dagster import KedroProjectTranslator

from work_data_hub.config import DomainConfig
from work_data_hub.config.project import load_domains, run_env
from work_data_hub.config.project import project_path as find_project_path
from work_data_hub.discovery import FileCandidate, NoMatchingFileError, discover

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


def selection_key(domain: DomainConfig, inbox: Path, max_files: int) -> str | None:
    """A key for the files discovery would select for ``domain`` now: the sha256 of their
    paths and contents. ``None`` when no file matches. Same files, same key."""
    candidates = []
    for path in sorted(inbox.rglob("*")):
        if path.is_file():
            stat = path.stat()
            candidates.append(
                FileCandidate(path.relative_to(inbox).as_posix(), stat.st_size, stat.st_mtime)
            )
    try:
        selection = discover(candidates, domain.compiled_pattern, max_files, inbox=str(inbox))
    except NoMatchingFileError:
        return None
    digest = hashlib.sha256(domain.name.encode())
    for file in selection.selected:
        with (inbox / file.path).open("rb") as handle:
            file_digest = hashlib.file_digest(handle, "sha256").hexdigest()
        digest.update(f"\0{file.path}\0{file_digest}".encode())
    return digest.hexdigest()


def inbox_sensor(
    domain: DomainConfig, job_name: str, inbox: Path, max_files: int
) -> dg.SensorDefinition:
    """Requests a run of ``job_name`` when the files discovery would select change.

    The run key is :func:`selection_key`: Dagster never launches two runs with one key, and the
    cursor keeps the last key, so the same files never trigger twice.
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
        key = selection_key(domain, inbox, max_files)
        if key is None:
            return dg.SkipReason(f"no {domain.name} workbook in {inbox}")
        if key == context.cursor:
            return dg.SkipReason("the selected files have not changed")
        return dg.SensorResult(run_requests=[dg.RunRequest(run_key=key)], cursor=key)

    return watch_inbox


def monthly_schedule(domain: DomainConfig, job_name: str) -> dg.ScheduleDefinition:
    """A run of ``job_name`` every month (:data:`MONTHLY_CRON`), for deliveries on time."""
    return dg.ScheduleDefinition(
        name=f"{domain.name}__monthly",
        job_name=job_name,
        cron_schedule=MONTHLY_CRON,
        description=f"Monthly {domain.name} ingest.",
    )


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
    max_files = int(catalog.load("params:max_files"))
    domains, _ = load_domains(project_path, env)
    jobs = {job.name: job for job in location.named_jobs.values()}
    sensors, schedules = [], []
    for name, domain in domains.items():
        job_name = f"{env}__{name}__ingest"
        if job_name in jobs:
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
