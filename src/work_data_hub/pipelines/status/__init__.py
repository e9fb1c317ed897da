"""``kedro run --pipelines status``: which months of each domain are loaded, pending, missing,
late or refused, on the console and as ``status.json`` and ``status.html``."""

from work_data_hub.pipelines.status.pipeline import PIPELINE_NAME, create_pipeline

__all__ = ["PIPELINE_NAME", "create_pipeline"]
