"""The ingest pipeline for one domain, namespaced by the domain's name."""

from __future__ import annotations

import inspect
import warnings
from functools import partial, update_wrapper
from typing import Any

from kedro.pipeline import Node, Pipeline
from kedro.utils import KedroExperimentalWarning

from work_data_hub.config import DomainConfig
from work_data_hub.integrations.kedro_viz import plan_preview
from work_data_hub.pipelines.ingest import nodes

# The names the hooks and the catalog's dataset factories rely on (defined in names.py, which
# imports nothing, so that the hooks can import them without the nodes' pandas and SQL).
from work_data_hub.pipelines.ingest.names import (
    CLEAN_ROWS,
    CLEAN_STEP,
    CLEANING_SUMMARY,
    FILE_MANIFEST,
    INBOX_WORKBOOKS,
    LOAD_LEDGER,
    LOAD_PLAN,
    PLAN_STEP,
    REJECTS,
    REJECTS_WORKBOOKS,
    RUN_ID,
    SELECT_STEP,
    SELECTED_FILES,
    SKIP_STEP,
)

# Run-wide parameters stay un-prefixed in every namespaced domain pipeline.
SHARED_PARAMETERS = {
    "params:inbox",
    "params:max_files",
    "params:periods",
    "params:max_reject_ratio",
    "params:reload",
    "params:accept_checks",
}


def with_settings(function: Any, **bound: Any) -> Any:
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


def _quietly_previewed(function: Any, **options: Any) -> Node:
    """A node with a ``preview_fn``, without Kedro's "experimental" warning on every run's
    console (the feature is fenced by ``kedro>=1.7,<2``)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", KedroExperimentalWarning)
        return Node(function, **options)


def create_pipeline(domain: DomainConfig) -> Pipeline:
    """Discover, clean and plan one domain; the plan dataset applies it when ``execute``.

    Args:
        domain: The domain each node is bound to (the registry namespaces the copy by its name).
    """
    template = Pipeline(
        [
            Node(
                with_settings(nodes.select_workbooks, domain=domain),
                inputs=[INBOX_WORKBOOKS, "params:inbox", "params:max_files", "params:periods"],
                outputs=SELECTED_FILES,
                name=SELECT_STEP,
            ),
            Node(
                with_settings(nodes.skip_loaded, domain=domain),
                inputs=[SELECTED_FILES, LOAD_LEDGER, "params:reload"],
                outputs=FILE_MANIFEST,
                name=SKIP_STEP,
            ),
            Node(
                with_settings(nodes.clean_workbooks, domain=domain),
                inputs=[INBOX_WORKBOOKS, FILE_MANIFEST],
                outputs=[CLEAN_ROWS, REJECTS, CLEANING_SUMMARY, REJECTS_WORKBOOKS],
                name=CLEAN_STEP,
            ),
            _quietly_previewed(
                with_settings(nodes.plan_load, domain=domain),
                inputs=[
                    CLEAN_ROWS,
                    CLEANING_SUMMARY,
                    FILE_MANIFEST,
                    RUN_ID,
                    "params:max_reject_ratio",
                    "params:accept_checks",
                ],
                outputs=LOAD_PLAN,
                name=PLAN_STEP,
                # Kedro-Viz shows the newest plan's summary on this node.
                preview_fn=partial(plan_preview, domain.name),
            ),
        ],
        tags=["ingest"],
    )
    return Pipeline(
        template,
        namespace=domain.name,
        parameters=SHARED_PARAMETERS,
        inputs={RUN_ID},
        tags=[domain.name],
    )
