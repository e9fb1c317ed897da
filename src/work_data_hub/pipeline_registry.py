"""One namespaced ingest pipeline per domain declared in ``conf/<env>/data_sources.yml``."""

from __future__ import annotations

from kedro.pipeline import Pipeline

from work_data_hub.config.project import load_domains
from work_data_hub.errors import WorkDataHubError
from work_data_hub.pipelines import apply_plan, status, undo
from work_data_hub.pipelines.ingest import create_pipeline


class UnknownPipelineError(WorkDataHubError, KeyError):
    """``--pipelines`` names no registered pipeline; the message lists the valid domains.

    Args:
        message: The unknown name and the valid domains.
        pipeline: The name asked for.
        domains: The valid domains.
    """

    def __init__(self, message: str, *, pipeline: str, domains: list[str]) -> None:
        super().__init__(message, pipeline=pipeline, domains=list(domains))

    def __str__(self) -> str:
        # KeyError's own str() quotes the message.
        return str(self.args[0])


class DomainPipelines(dict[str, Pipeline]):
    """The registered pipelines; asking for an unknown one lists the valid domains."""

    def __missing__(self, name: str) -> Pipeline:
        domains = sorted(
            key
            for key in self
            if key
            not in (
                "__default__",
                apply_plan.PIPELINE_NAME,
                status.PIPELINE_NAME,
                undo.PIPELINE_NAME,
            )
        )
        raise UnknownPipelineError(
            f"Unknown pipeline {name!r}. Valid domains: {', '.join(domains)}",
            pipeline=name,
            domains=domains,
        )


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines: one per domain, ``__default__`` for all domains, and,
    run only when named, ``apply_plan`` (applies a saved plan), ``status`` (which months are
    loaded, pending, missing, late or refused) and ``undo`` (undoes a load).

    Raises:
        DataSourcesError: ``data_sources.yml`` is missing or invalid (every problem named).
    """
    domains, _ = load_domains()  # mapping tables are already resolved into the domains
    pipelines = DomainPipelines({name: create_pipeline(domain) for name, domain in domains.items()})
    pipelines["__default__"] = sum(pipelines.values(), Pipeline([]))
    pipelines[apply_plan.PIPELINE_NAME] = apply_plan.create_pipeline()
    pipelines[status.PIPELINE_NAME] = status.create_pipeline(domains)
    pipelines[undo.PIPELINE_NAME] = undo.create_pipeline(domains)
    return pipelines
