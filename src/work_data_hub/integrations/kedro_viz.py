"""Keep the operator tools off the network: this project runs where the internet is not reachable.

Kedro's telemetry and Kedro-Viz's Heap analytics are off through the committed ``.telemetry``
file (``consent: false``). What remains is Kedro-Viz's update check: ``kedro viz run`` asks PyPI
for the newest kedro-viz version before starting (``kedro_viz.integrations.pypi``, with a 30 s
timeout and no setting to turn it off), and so does its server for the web page's
``/api/version``. Without a network that call waits for DNS or the timeout; behind a proxy it
reaches the internet. :func:`disable_kedro_viz_update_check` makes both report the installed
version as the newest, without a request: no upgrade hint in the console, and no
"Kedro-Viz None is here!" banner on the page (which a ``None`` answer would show).

Applied where kedro-viz runs, not on every kedro command (importing kedro-viz costs ~0.1 s):
by the CLI hook (work_data_hub.hooks.cli) before ``kedro viz ...``, and by settings.py in the
server process, which has imported kedro-viz before it loads the project.

The plan node of each domain shows the summary of the domain's newest plan (Kedro 1.7's node
``preview_fn``, :func:`plan_preview`).

Patched attributes (fenced by ``kedro-viz<13`` in pyproject.toml, guarded by
tests/integrations/test_viz.py): ``kedro_viz.integrations.pypi.get_latest_version`` and
``kedro_viz.api.rest.responses.version.get_latest_version``.
"""

from __future__ import annotations

import importlib
import logging
import sys
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


PYPI_MODULE = "kedro_viz.integrations.pypi"
VERSION_RESPONSE_MODULE = "kedro_viz.api.rest.responses.version"


def _installed_version() -> Any:
    """Stands in for ``kedro_viz.integrations.pypi.get_latest_version``: nothing is asked, and
    the installed version is the newest one known."""
    from kedro_viz import __version__  # noqa: PLC0415
    from packaging.version import parse  # noqa: PLC0415

    return parse(__version__)


def disable_if_loaded() -> bool:
    """:func:`disable_kedro_viz_update_check` when kedro-viz is already imported (its server)."""
    if "kedro_viz" not in sys.modules:
        return False
    return disable_kedro_viz_update_check()


def disable_kedro_viz_update_check() -> bool:
    """Replace Kedro-Viz's PyPI version lookup; ``False`` when kedro-viz is not installed."""
    try:
        pypi = importlib.import_module(PYPI_MODULE)
    except ImportError:
        return False
    # `kedro viz run` imports the function from this module when it runs, so replacing the
    # module attribute is enough there; the upgrade hint is simply never shown.
    setattr(pypi, "get_latest_version", _installed_version)  # noqa: B010
    # The server's /api/version (asked by the web page) bound the function when its module was
    # imported, which happens before the server loads the project and so these settings.
    version_response = sys.modules.get(VERSION_RESPONSE_MODULE)
    if version_response is not None:
        setattr(version_response, "get_latest_version", _installed_version)  # noqa: B010
    return True


# --- the plan node's preview ------------------------------------------------------------------

REPORTING_DIR = "data/08_reporting"


def plan_preview(domain: str, reporting_dir: str = REPORTING_DIR) -> Any:
    """What Kedro-Viz shows on ``domain``'s plan node: the summary of its newest plan
    (counts, scopes, checks, what a diff counted; no cell value), as a ``TextPreview``.

    ``reporting_dir`` is the catalog's default (``globals.yml``), relative to the project,
    where ``kedro viz`` runs.
    """
    from kedro.pipeline.preview_contract import TextPreview  # noqa: PLC0415

    from work_data_hub.load.summary import read_summary_file  # noqa: PLC0415
    from work_data_hub.reports.plan_preview import plan_preview_text  # noqa: PLC0415

    plans = sorted(Path(reporting_dir, "plans", f"{domain}.sql").glob(f"*/{domain}.sql"))
    summary = read_summary_file(plans[-1]) if plans else None
    if summary is None:
        return TextPreview(
            content=f"No plan written yet: `kedro run --pipelines {domain}` writes one.",
            meta={"title": f"{domain}: plan summary"},
        )
    return TextPreview(
        content=plan_preview_text(summary.as_dict(), str(plans[-1])),
        meta={"title": f"{domain}: newest plan"},
    )
