"""Writes each run's log as JSON lines to ``data/08_reporting/logs/run_<run id>.jsonl``.

Why a hook and not a handler in ``conf/logging.yml``: Kedro 1.7 applies ``conf/logging.yml``
when ``kedro.framework.project`` is imported, before any project code (settings.py, hooks,
the pipeline registry) runs, and refuses handler, formatter and filter classes outside
``logging`` and ``kedro.logging`` unless ``KEDRO_LOGGING_MODULE_ALLOWLIST`` names their module.
A project class in that file would stop every ``kedro`` command unless each user exported the
variable. So ``conf/logging.yml`` keeps to trusted classes (the readable console) and this hook,
which needs no allowlist, attaches the JSON-lines handler for the length of a run. It also
knows the run id, so each run gets its own file next to its run report.
"""

from __future__ import annotations

import logging
from collections.abc import Generator
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl

from work_data_hub.hooks.json_lines import JsonLinesFileHandler

DEFAULT_LOG_DIR = "data/08_reporting/logs"
logger = logging.getLogger(__name__)


class RunLogHooks:
    """Attaches a :class:`JsonLinesFileHandler` to the root logger while a run lasts."""

    def __init__(self, level: int = logging.INFO) -> None:
        self._level = level
        self._handler: JsonLinesFileHandler | None = None
        self.path: Path | None = None

    # tryfirst, and a wrapper at the end: the file is open before any other hook logs the
    # run's start, and stays open until every other hook is done with the run's end, closed
    # even when one of them raises (the run report's, for a file written in the background
    # that failed).
    @hook_impl(tryfirst=True)
    def before_pipeline_run(self, run_params: dict[str, Any], catalog: Any) -> None:
        self._detach()
        log_dir = Path(DEFAULT_LOG_DIR)
        if "params:run_log_dir" in catalog:
            log_dir = Path(catalog.load("params:run_log_dir"))
        run_id = str(run_params["run_id"])
        try:
            log_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            # The run report's own check stops the run when the reporting folder is unusable;
            # a log folder alone going wrong must not stop a load, but is said out loud.
            logger.warning(
                "Run %s: no JSON-lines log, the folder %s cannot be created (%s); set "
                "'run_log_dir' in conf/base/parameters.yml to a writable folder",
                run_id,
                log_dir,
                exc.strerror or exc,
            )
            return
        self.path = log_dir / f"run_{run_id.replace(':', '-')}.jsonl"
        self._handler = JsonLinesFileHandler(self.path, fields={"run_id": run_id})
        self._handler.setLevel(self._level)
        logging.getLogger().addHandler(self._handler)

    @hook_impl(wrapper=True)
    def after_pipeline_run(self) -> Generator[None, Any, Any]:
        try:
            return (yield)
        finally:
            self._detach()

    @hook_impl(wrapper=True)
    def on_pipeline_error(self) -> Generator[None, Any, Any]:
        try:
            return (yield)
        finally:
            self._detach()

    def _detach(self) -> None:
        if self._handler is not None:
            logging.getLogger().removeHandler(self._handler)
            self._handler.close()
            self._handler = None
