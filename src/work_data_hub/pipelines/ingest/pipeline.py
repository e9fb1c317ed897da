"""The ingest pipeline for one domain, namespaced by the domain's name."""

from __future__ import annotations

from functools import partial, update_wrapper
from typing import Any

from kedro.pipeline import Node, Pipeline

from work_data_hub.config import DomainConfig
from work_data_hub.pipelines.ingest import nodes

# Run-wide parameters stay un-prefixed in every namespaced domain pipeline.
SHARED_PARAMETERS = {"params:inbox", "params:max_files", "params:max_reject_ratio"}


def _bound(function: Any, **bound: Any) -> Any:
    """``function`` with the domain's settings bound, keeping its name and source for Kedro-Viz."""
    return update_wrapper(partial(function, **bound), function)


def create_pipeline(domain: DomainConfig, mappings: dict[str, dict[str, str]]) -> Pipeline:
    """Discover, clean and plan one domain; the plan dataset applies it when ``execute``."""
    template = Pipeline(
        [
            Node(
                _bound(nodes.select_workbooks, domain=domain),
                inputs=["inbox_workbooks", "params:inbox", "params:max_files"],
                outputs="file_manifest",
                name="select_workbooks",
            ),
            Node(
                _bound(nodes.clean_workbooks, domain=domain, mappings=mappings),
                inputs=["inbox_workbooks", "file_manifest"],
                outputs=["clean_rows", "rejects", "cleaning_summary"],
                name="clean_workbooks",
            ),
            Node(
                _bound(nodes.plan_load, domain=domain),
                inputs=["clean_rows", "cleaning_summary", "run_id", "params:max_reject_ratio"],
                outputs="load_plan",
                name="plan_load",
            ),
        ],
        tags=["ingest"],
    )
    return Pipeline(
        template,
        namespace=domain.name,
        parameters=SHARED_PARAMETERS,
        inputs={"run_id"},
        tags=[domain.name],
    )
