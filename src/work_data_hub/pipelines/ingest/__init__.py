"""The ingest pipeline: discover a domain's workbooks, clean their rows, plan the load."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from work_data_hub.pipelines.ingest.pipeline import create_pipeline

__all__ = ["create_pipeline"]


def __getattr__(name: str) -> Any:
    # Lazy: the hooks import names.py from this package on every kedro command; the nodes
    # (pandas, SQLAlchemy) load only when a pipeline is built.
    if name == "create_pipeline":
        from work_data_hub.pipelines.ingest.pipeline import create_pipeline  # noqa: PLC0415

        return create_pipeline
    raise AttributeError(name)
