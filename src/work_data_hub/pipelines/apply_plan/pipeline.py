"""The apply_plan pipeline: saved plan + ledger -> verdict -> (with execute) the load."""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from work_data_hub.pipelines.apply_plan import nodes

# Reserved: a domain cannot take this name (its pipeline would clash).
PIPELINE_NAME = "apply_plan"


def create_pipeline() -> Pipeline:
    """One node between three datasets; the output dataset applies the plan with execute=true."""
    return Pipeline(
        [
            Node(
                nodes.check_saved_plan,
                inputs=[
                    "saved_plan",
                    "ledger",
                    "params:force",
                    "params:max_reject_ratio",
                    "params:accept_checks",
                ],
                outputs="load_plan",
                name="check_saved_plan",
            )
        ],
        namespace=PIPELINE_NAME,
        parameters={"params:force", "params:max_reject_ratio", "params:accept_checks"},
        tags=[PIPELINE_NAME],
    )
