"""What the warehouse client raises; each message names the warehouse, never the password."""

from __future__ import annotations

from kedro.io import DatasetError

from work_data_hub.errors import WorkDataHubError


class LoadFailedError(WorkDataHubError, DatasetError):
    """The database refused the load; the transaction was rolled back, nothing changed."""
