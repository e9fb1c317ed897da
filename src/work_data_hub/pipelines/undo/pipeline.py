"""The undo pipeline: warehouse (read-only) + run -> undo plan -> (with execute) applied."""

from __future__ import annotations

from collections.abc import Mapping

from kedro.pipeline import Node, Pipeline

from work_data_hub.config import DomainConfig
from work_data_hub.pipelines.ingest.names import RUN_ID
from work_data_hub.pipelines.ingest.pipeline import with_settings
from work_data_hub.pipelines.undo import nodes

# Reserved: a domain cannot take this name (its pipeline would clash).
PIPELINE_NAME = "undo"
PARAMETERS = {"params:run", "params:domain", "params:force"}


def create_pipeline(domains: Mapping[str, DomainConfig]) -> Pipeline:
    """One node; the output dataset writes the plan and, with execute=true, applies it."""
    return Pipeline(
        [
            Node(
                with_settings(nodes.plan_undo, domains=dict(domains)),
                inputs=["warehouse", "params:run", "params:domain", "params:force", RUN_ID],
                outputs="load_plan",
                name="plan_undo",
            )
        ],
        namespace=PIPELINE_NAME,
        parameters=PARAMETERS,
        inputs={RUN_ID},
        tags=[PIPELINE_NAME],
    )
