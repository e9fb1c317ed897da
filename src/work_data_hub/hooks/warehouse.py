"""The warehouse around a run: ``prod`` refuses to start without one; the local one is stopped.

Before the pipeline runs (so before any workbook is read), an ``execute=true`` run reads its
warehouse settings (``WDH_DATABASE__*`` or the credentials entry): one that cannot be used (a
URL whose password needs percent-encoding, say) stops the run there, and in the ``prod``
environment so does having none, since ``prod`` never falls back to the local embedded
warehouse. Other environments start the local warehouse on demand, when the first load
resolves its address; whichever way the run ends, this hook stops it again.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from kedro.config import MissingConfigException
from kedro.framework.hooks import hook_impl

# The warehouse modules (SQLAlchemy, the domain models) are imported by the hooks that use
# them: settings.py imports this module for every `kedro` command, `kedro --version` included.

logger = logging.getLogger(__name__)

CREDENTIALS_KEY = "warehouse"


class WarehouseHooks:
    """Refuses an ``execute=true`` run in ``prod`` with no warehouse; stops the local one."""

    def __init__(self) -> None:
        self._credentials: dict[str, Any] | None = None

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        try:
            credentials = context.config_loader["credentials"]
        except MissingConfigException:
            credentials = {}
        self._credentials = dict(credentials.get(CREDENTIALS_KEY) or {})

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], catalog: Any) -> None:
        execute = catalog.load("params:execute") if "params:execute" in catalog else False
        if execute is not True:
            return
        from work_data_hub.config.project import DEFAULT_RUN_ENV  # noqa: PLC0415
        from work_data_hub.config.warehouse import (  # noqa: PLC0415
            configured_address,
            refuse_unconfigured_in_production,
        )

        env = run_params.get("env") or DEFAULT_RUN_ENV
        if configured_address(self._credentials) is None:
            # Raises in prod, naming WDH_DATABASE__URI and the credentials entry.
            refuse_unconfigured_in_production(env)

    @hook_impl
    def after_pipeline_run(self) -> None:
        _stop_local_warehouses()

    @hook_impl
    def on_pipeline_error(self) -> None:
        _stop_local_warehouses()


def _stop_local_warehouses() -> None:
    # A run that never imported the module started no warehouse (and need not import
    # SQLAlchemy to say so).
    embedded = sys.modules.get("work_data_hub.warehouse.embedded")
    if embedded is not None:
        embedded.stop_local_warehouses()
