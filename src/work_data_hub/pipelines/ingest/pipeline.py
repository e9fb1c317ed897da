"""The ingest pipeline for one domain, namespaced by the domain's name."""

from __future__ import annotations

import inspect
from functools import partial, update_wrapper
from typing import Any

from kedro.pipeline import Node, Pipeline

from work_data_hub.config import DomainConfig
from work_data_hub.pipelines.ingest import nodes

# Run-wide parameters stay un-prefixed in every namespaced domain pipeline.
SHARED_PARAMETERS = {
    "params:inbox",
    "params:max_files",
    "params:max_reject_ratio",
    "params:reload",
}


def _bound(function: Any, **bound: Any) -> Any:
    """``function`` with the domain's settings bound, keeping its name and source for Kedro-Viz.

    A plain function rather than a ``partial``: Kedro-Viz shows the code of functions only.
    """
    bound_call = partial(function, **bound)

    def node_function(*args: Any, **kwargs: Any) -> Any:
        return bound_call(*args, **kwargs)

    update_wrapper(node_function, function)
    # Kedro checks node inputs against this signature: the bound keywords are not inputs.
    node_function.__signature__ = inspect.signature(bound_call)  # type: ignore[attr-defined]
    return node_function


def create_pipeline(domain: DomainConfig) -> Pipeline:
    """Discover, clean and plan one domain; the plan dataset applies it when ``execute``."""
    template = Pipeline(
        [
            Node(
                _bound(nodes.select_workbooks, domain=domain),
                inputs=["inbox_workbooks", "params:inbox", "params:max_files"],
                outputs="selected_files",
                name="select_workbooks",
            ),
            Node(
                _bound(nodes.skip_loaded, domain=domain),
                inputs=["selected_files", "load_ledger", "params:reload"],
                outputs="file_manifest",
                name="skip_loaded",
            ),
            Node(
                _bound(nodes.clean_workbooks, domain=domain),
                inputs=["inbox_workbooks", "file_manifest"],
                outputs=["clean_rows", "rejects", "cleaning_summary"],
                name="clean_workbooks",
            ),
            Node(
                _bound(nodes.plan_load, domain=domain),
                inputs=[
                    "clean_rows",
                    "cleaning_summary",
                    "file_manifest",
                    "run_id",
                    "params:max_reject_ratio",
                ],
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
