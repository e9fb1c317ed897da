"""Helpers for tests that run the project as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL


def run_kedro(
    project: Path,
    *args: str,
    database_url: URL | None = None,
    env: dict[str, str] | None = None,
    timeout: int = 300,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """``kedro <args>`` in ``project`` (or its folder ``cwd``) in a child process, output
    captured as text."""
    child_env = {
        key: value for key, value in os.environ.items() if not key.startswith("WDH_DATABASE__")
    }
    child_env.update({"COLUMNS": "200", "NO_COLOR": "1", "PYTHONUTF8": "1"})
    if database_url is not None:
        child_env["WDH_DATABASE__URI"] = database_url.render_as_string(hide_password=False)
    child_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "kedro", *args],
        cwd=cwd or project,
        env=child_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def run_trustee(project: Path, params: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """``kedro run`` of the trustee domain alone with ``--params params``: the tests' inboxes
    hold trustee workbooks only, and a domain without files stops a whole run."""
    return run_kedro(
        project, "run", "--pipelines", "trustee_performance", "--params", params, **kwargs
    )
