"""The status pipeline: inbox + ledger (read-only) + run reports -> the delivery status."""

from __future__ import annotations

from collections.abc import Mapping

from kedro.pipeline import Node, Pipeline

from work_data_hub.config import DomainConfig
from work_data_hub.pipelines.ingest.pipeline import with_settings
from work_data_hub.pipelines.status import nodes

# Reserved: a domain cannot take this name (its pipeline would clash).
PIPELINE_NAME = "status"

INBOX_FILES = "status_inbox_files"
LEDGER = "status_ledger"
RUN_REPORTS = "status_run_reports"
STATUS_JSON = "status_json"
STATUS_HTML = "status_html"


def create_pipeline(domains: Mapping[str, DomainConfig]) -> Pipeline:
    """One node; it never writes to the warehouse (the ledger dataset is read-only)."""
    return Pipeline(
        [
            Node(
                with_settings(nodes.delivery_status, domains=dict(domains)),
                inputs=[INBOX_FILES, "params:inbox", LEDGER, RUN_REPORTS],
                outputs=[STATUS_JSON, STATUS_HTML],
                name="delivery_status",
            )
        ],
        tags=[PIPELINE_NAME],
    )
