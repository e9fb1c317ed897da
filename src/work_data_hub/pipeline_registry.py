"""One namespaced ingest pipeline per domain declared in ``conf/<env>/data_sources.yml``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from kedro.config import MissingConfigException
from kedro.framework.project import settings
from kedro.pipeline import Pipeline
from kedro.utils import find_kedro_project

from work_data_hub import settings as project_settings
from work_data_hub.config import DataSourcesError, DomainConfig, parse_domains
from work_data_hub.pipelines.ingest import create_pipeline


class DomainPipelines(dict[str, Pipeline]):
    """The registered pipelines; asking for an unknown one lists the valid domains."""

    def __missing__(self, name: str) -> Pipeline:
        domains = sorted(key for key in self if key != "__default__")
        raise KeyError(f"Unknown pipeline {name!r}. Valid domains: {', '.join(domains)}")


def load_domains(
    project_path: Path | None = None, env: str | None = None
) -> tuple[dict[str, DomainConfig], dict[str, dict[str, str]]]:
    """Read and validate ``data_sources.yml`` and ``mappings.yml`` through Kedro's config loader.

    The loader is built from this project's settings module rather than Kedro's ``settings``
    proxy, so that tests and notebooks that never bootstrapped the project read the same files.
    """
    root = project_path or find_kedro_project(Path.cwd()) or Path.cwd()
    loader_args: dict[str, Any] = dict(project_settings.CONFIG_LOADER_ARGS)
    loader = project_settings.CONFIG_LOADER_CLASS(
        conf_source=str(root / settings.CONF_SOURCE),
        env=env or os.environ.get("KEDRO_ENV"),
        **loader_args,
    )
    try:
        raw: dict[str, Any] = dict(loader["data_sources"])
    except MissingConfigException as exc:
        raise DataSourcesError(
            f"No data_sources.yml under {root / settings.CONF_SOURCE}: {exc}"
        ) from None
    try:
        mappings_raw: dict[str, Any] = dict(loader["mappings"])
    except MissingConfigException:
        mappings_raw = {}
    mappings = {
        str(name): {str(key): str(value) for key, value in (table or {}).items()}
        for name, table in mappings_raw.items()
    }
    return parse_domains(raw, mappings), mappings


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines: one per domain, and ``__default__`` for all."""
    domains, mappings = load_domains()
    pipelines = DomainPipelines(
        {name: create_pipeline(domain, mappings) for name, domain in domains.items()}
    )
    pipelines["__default__"] = sum(pipelines.values(), Pipeline([]))
    return pipelines
