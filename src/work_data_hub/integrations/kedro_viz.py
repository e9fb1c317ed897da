"""Keep the operator tools off the network: this project runs where the internet is not reachable.

Kedro's telemetry and Kedro-Viz's Heap analytics are off through the committed ``.telemetry``
file (``consent: false``). What remains is Kedro-Viz's update check: ``kedro viz run`` asks PyPI
for the newest kedro-viz version before starting (``kedro_viz.integrations.pypi``, with a 30 s
timeout and no setting to turn it off), and so does its server for the web page's
``/api/version``. Without a network that call waits for DNS or the timeout; behind a proxy it
reaches the internet. :func:`disable_kedro_viz_update_check` makes both report "no newer
version" without a request.
"""

from __future__ import annotations

import importlib
import logging
import sys

logger = logging.getLogger(__name__)


def _no_newer_version() -> None:
    """Stands in for ``kedro_viz.integrations.pypi.get_latest_version``: nothing is asked."""
    return None


def disable_kedro_viz_update_check() -> bool:
    """Replace Kedro-Viz's PyPI version lookup; ``False`` when kedro-viz is not installed."""
    try:
        pypi = importlib.import_module("kedro_viz.integrations.pypi")
    except ImportError:
        return False
    # `kedro viz run` imports the function from this module when it runs, so replacing the
    # module attribute is enough there; the upgrade hint is simply never shown.
    setattr(pypi, "get_latest_version", _no_newer_version)  # noqa: B010
    # The server's /api/version (asked by the web page) bound the function when its module was
    # imported, which happens before the server loads the project and so these settings.
    version_response = sys.modules.get("kedro_viz.api.rest.responses.version")
    if version_response is not None:
        setattr(version_response, "get_latest_version", _no_newer_version)  # noqa: B010
    return True
