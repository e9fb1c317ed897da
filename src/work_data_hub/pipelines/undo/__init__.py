"""``kedro run --pipelines undo --params run=<run id>``: a reviewed plan undoing one load."""

from work_data_hub.pipelines.undo.pipeline import PIPELINE_NAME, create_pipeline

__all__ = ["PIPELINE_NAME", "create_pipeline"]
