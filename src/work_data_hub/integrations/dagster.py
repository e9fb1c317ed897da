"""Dagster definitions: each domain pipeline as a Dagster job, through kedro-dagster.

The ``dagster`` dependency group is installed by ``uv sync`` (a default group, see
pyproject.toml). Point Dagster at ``defs`` here, from the project root::

    uv run dagster job execute -m work_data_hub.integrations.dagster -a defs -j local__trustee_performance__ingest
    uv run dagster dev -m work_data_hub.integrations.dagster -a defs

Jobs come from the job factory in ``conf/base/dagster.yml`` (one per domain namespace);
``execute`` comes from ``conf/<env>/globals.yml`` as for ``kedro run``, so a job only plans
unless the environment says otherwise (``KEDRO_ENV=prod``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import kedro.framework.project as kedro_project
from kedro_dagster import KedroProjectTranslator

from work_data_hub.config.project import project_path as find_project_path
from work_data_hub.config.project import run_env


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


class _MemoryThenCatalogIOManager(dg.IOManager):
    """Keeps the in-memory hand-overs between ops (file manifest, clean rows, plan) like
    ``mem_io_manager``; an input no op produced (``run_id``, filled by RunReportHooks before
    the run) is loaded from the Kedro catalog."""

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


def build_definitions(env: str | None = None, project_path: Path | None = None) -> dg.Definitions:
    """Translate the Kedro project into Dagster definitions for ``env`` (``KEDRO_ENV``, else
    ``local``, Kedro's default run environment). The project is the Kedro project around the
    working directory (as for ``kedro run``), else the checkout this module comes from."""
    env = run_env(env)
    project_path = project_path or find_project_path()
    with _registered_pipelines_as_found():
        translator = KedroProjectTranslator(env=env, project_path=project_path)
        location = translator.to_dagster()
    # The catalog the translated hooks see: RunReportHooks fills `run_id` in it before the run.
    io_manager = _MemoryThenCatalogIOManager(translator._catalog, env)
    resources: dict[str, Any] = {
        **location.named_resources,
        "io_manager": dg.IOManagerDefinition.hardcoded_io_manager(io_manager),
    }
    return dg.Definitions(
        assets=list(location.named_assets.values()),
        resources=resources,
        jobs=list(location.named_jobs.values()),
        executor=dg.in_process_executor,
    )


def __getattr__(name: str) -> Any:
    # `defs` is built on first access (Dagster's loader reads it); importing this module for
    # build_definitions() alone does not bootstrap the project.
    if name == "defs":
        return build_definitions()
    raise AttributeError(name)
