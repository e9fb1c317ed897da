"""The run's context: its runtime parameters, checked before anything is read, and its id.

Runs started by ``kedro run`` have had their ``--params`` text checked by the project's CLI
(``work_data_hub.cli``); this hook checks what every run (also a notebook's session or a
Dagster job) hands Kedro: unknown names, wrong types and values, a missing or empty inbox.
"""

from __future__ import annotations

import logging
from typing import Any

from kedro.framework.hooks import hook_impl

from work_data_hub.pipelines.ingest.names import RUN_ID

# work_data_hub.config is imported when a run starts, not when settings.py is: every kedro
# command imports the settings, and the config package brings pydantic's models.

logger = logging.getLogger("work_data_hub.run")


def run_parameters(catalog: Any) -> dict[str, Any]:
    """The runtime parameters as the run's catalog resolved them (defaults included)."""
    from work_data_hub.config.params import run_parameter_names  # noqa: PLC0415

    return {
        name: catalog.load(f"params:{name}")
        for name in run_parameter_names()
        if f"params:{name}" in catalog
    }


def check_accepted_checks(names: tuple[str, ...]) -> None:
    """``accept_checks`` may name only business checks some domain declares."""
    if not names:
        return
    from work_data_hub.config.params import RunParametersError  # noqa: PLC0415
    from work_data_hub.config.project import load_domains  # noqa: PLC0415

    domains, _ = load_domains()
    declared = sorted(
        {check.name for domain in domains.values() for check in domain.business_checks}
    )
    unknown = [name for name in names if name not in declared]
    if unknown:
        raise RunParametersError(
            f"Invalid runtime parameters:\n  param 'accept_checks': {unknown} "
            f"{'is' if len(unknown) == 1 else 'are'} not a check of any domain; the declared "
            f"checks are {', '.join(declared) or '(none)'}"
        )


class RunContextHooks:
    """Refuses a run with bad runtime parameters; hands the run id to the catalog."""

    # tryfirst: before the progress display starts and before any other hook reads the params.
    @hook_impl(tryfirst=True)
    def before_pipeline_run(self, run_params: dict[str, Any], catalog: Any) -> None:
        from work_data_hub.config.params import (  # noqa: PLC0415
            RunParametersError,
            check_parameter_names,
            check_run_parameters,
        )

        run_id = run_params["run_id"]
        try:
            check_parameter_names(run_params.get("runtime_params") or {})
            checked = check_run_parameters(run_parameters(catalog), inbox_must_hold_files=True)
            check_accepted_checks(checked.accept_checks or ())
        except RunParametersError as exc:
            # The console shows the reason once, at the end (work_data_hub.cli); the JSON log
            # keeps it in this event's fields.
            logger.error(
                "Run %s refused: invalid runtime parameters",
                run_id,
                extra={"event": "run_refused", "run_id": run_id, "reason": str(exc)},
            )
            raise
        if RUN_ID in catalog:
            # Declared in catalog.yml (for its Kedro-Viz layer): fill it, do not replace it.
            catalog.save(RUN_ID, run_id)
        else:
            catalog[RUN_ID] = run_id
