"""The Kedro project and environment a command works in, and the domains it declares.

The only place that works out the Kedro environment (``--env``, else ``KEDRO_ENV``, else Kedro's
default run environment) and reads ``data_sources.yml`` and ``mappings.yml``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kedro.config import MissingConfigException
from kedro.framework.project import settings
from kedro.utils import find_kedro_project

from work_data_hub.conf_files import CONFIG_LOADER_ARGS, ProjectConfigLoader
from work_data_hub.config.domains import DataSourcesError, DomainConfig, parse_domains

DEFAULT_RUN_ENV = "local"
# The source checkout this module belongs to: the project when a tool starts elsewhere.
SOURCE_PROJECT_PATH = Path(__file__).resolve().parents[3]


def kedro_env(command_args: Sequence[str] = ()) -> str | None:
    """The environment a command names (``--env``/``-e``), else ``KEDRO_ENV``, else None."""
    for position, argument in enumerate(command_args):
        if argument in ("--env", "-e") and position + 1 < len(command_args):
            return command_args[position + 1]
        if argument.startswith("--env="):
            return argument.removeprefix("--env=")
    return os.environ.get("KEDRO_ENV") or None


def command_line_env() -> str | None:
    """``kedro_env`` of the running ``kedro`` command line (else ``KEDRO_ENV``).

    ``register_pipelines()`` gets no context, and a config loader built in another environment
    than the session's would rebind ``${globals:...}`` for the whole run (``--env prod`` would
    then plan only), so the registry reads the environment the command was given.
    """
    program = sys.argv[0] if sys.argv else ""
    # `kedro ...`, or `python -m kedro ...` (whose argv[0] Kedro rewrites to that text).
    if Path(program).name == "kedro" or program.endswith("-m kedro"):
        return kedro_env(sys.argv[1:])
    return kedro_env()


def run_env(explicit: str | None = None) -> str:
    """The environment a run uses: ``explicit``, else ``KEDRO_ENV``, else ``local``."""
    return explicit or kedro_env() or DEFAULT_RUN_ENV


def project_path(start: Path | None = None) -> Path:
    """The Kedro project around ``start`` (the working directory), else this source checkout."""
    return find_kedro_project(start or Path.cwd()) or SOURCE_PROJECT_PATH


Domains = tuple[dict[str, DomainConfig], dict[str, dict[str, str]]]
# (conf folder, env, every conf file's path, size and mtime) -> what they declare. A kedro
# command reads the domains twice (the CLI check, then the pipeline registry): the second
# read is free while no file changed.
_READ: dict[tuple[str, str | None, tuple[tuple[str, int, int], ...]], Domains] = {}


def _conf_files_stamp(conf: Path) -> tuple[tuple[str, int, int], ...]:
    stamps = []
    for folder, _, names in os.walk(conf):
        for name in names:
            stat = os.stat(os.path.join(folder, name))
            stamps.append((os.path.join(folder, name), stat.st_size, stat.st_mtime_ns))
    return tuple(sorted(stamps))


def load_domains(project_path: Path | None = None, env: str | None = None) -> Domains:
    """Read and validate ``data_sources.yml`` and ``mappings.yml`` through Kedro's config loader.

    The loader is built from this project's settings module rather than Kedro's ``settings``
    proxy, so that tests and notebooks that never bootstrapped the project read the same files.

    Args:
        project_path: The project (default: the one around the working directory).
        env: The Kedro environment (default: the command line's, else Kedro's default).

    Raises:
        DataSourcesError: ``data_sources.yml`` is missing or invalid (every problem named).
    """
    root = project_path or find_kedro_project(Path.cwd()) or Path.cwd()
    conf = root / settings.CONF_SOURCE
    env = env or command_line_env()
    key = (str(conf.resolve()), env, _conf_files_stamp(conf))
    if key not in _READ:
        _READ.clear()
        _READ[key] = _read_domains(root, env)
    domains, mappings = _READ[key]
    return dict(domains), {name: dict(table) for name, table in mappings.items()}


def _read_domains(root: Path, env: str | None) -> Domains:
    loader = ProjectConfigLoader(
        conf_source=str(root / settings.CONF_SOURCE),
        env=env,
        **CONFIG_LOADER_ARGS,
    )
    try:
        raw: dict[str, Any] = dict(loader["data_sources"])
    except MissingConfigException as exc:
        raise DataSourcesError(
            f"No data_sources.yml under {root / settings.CONF_SOURCE}: {exc}"
        ) from None
    try:
        mappings_raw: dict[str, Any] = dict(loader["mappings"])
    except MissingConfigException:
        mappings_raw = {}
    mappings = {
        str(name): {str(key): str(value) for key, value in (table or {}).items()}
        for name, table in mappings_raw.items()
    }
    return parse_domains(raw, mappings), mappings
