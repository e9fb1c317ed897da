"""``kedro run --pipelines apply_plan --params plan=PATH``: check a saved plan, then apply it."""

from work_data_hub.pipelines.apply_plan.pipeline import PIPELINE_NAME, create_pipeline

__all__ = ["PIPELINE_NAME", "create_pipeline"]
