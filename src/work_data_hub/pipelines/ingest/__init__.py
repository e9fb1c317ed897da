"""The ingest pipeline: discover a domain's workbooks, clean their rows, plan the load."""

from work_data_hub.pipelines.ingest.pipeline import create_pipeline

__all__ = ["create_pipeline"]
