"""The Kedro project and environment a command works in, and the domains it declares.

The only place that works out the Kedro environment (``--env``, else ``KEDRO_ENV``, else Kedro's
default run environment) and reads ``data_sources.yml`` and ``mappings.yml``.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from kedro.config import MissingConfigException, OmegaConfigLoader
from kedro.framework.project import settings
from kedro.utils import find_kedro_project

from work_data_hub.config.domains import DataSourcesError, DomainConfig, parse_domains
from work_data_hub.errors import WorkDataHubError

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


class ConfigSyntaxError(WorkDataHubError, ValueError):
    """A configuration file is not valid YAML; the message names the file, shows the line and
    says why."""


# Kedro's message for a file its loader cannot parse; the parser's own error is its context.
_KEDRO_YAML_ERROR = re.compile(r"Invalid YAML or JSON file (?P<file>.+?), unable to read line")


# What PyYAML's most common complaints mean for a person editing the file.
_YAML_HINTS = {
    "mapping values are not allowed": (
        "a ':' where no 'key: value' can start: quote a value holding ': ', or fix the line "
        "above, which may not be a complete 'key: value' line"
    ),
    "cannot start any token": "a tab or another character YAML does not allow here (indent "
    "with spaces)",
    "expected <block end>": "this line's indentation does not match the lines around it",
    "could not find expected ':'": "a line that is not 'key: value' inside a mapping",
    "found undefined alias": "a '*' starts an alias: quote the value",
    "found unexpected end of stream": "a quote or bracket opened above is never closed",
}


def yaml_syntax_error(error: yaml.YAMLError) -> ConfigSyntaxError:
    """``error`` (PyYAML's, or Kedro's wrapping of it) as a message a person editing the file
    can act on: the file, the line the parser stopped at and the one before it (numbered from
    1, a caret under the column), any line it names as the start of the construct, and why.

    Kedro's own message gives the parser's 0-based line: its "line 9" is the file's line 10.
    """
    original = error.__context__ if isinstance(error.__context__, yaml.MarkedYAMLError) else error
    found = _KEDRO_YAML_ERROR.search(str(error))
    file = found["file"] if found else None
    if not isinstance(original, yaml.MarkedYAMLError) or original.problem_mark is None:
        return ConfigSyntaxError(str(error))
    try:
        lines = Path(file).read_text(encoding="utf-8").splitlines() if file else []
    except OSError:
        lines = []
    problem, context = original.problem_mark, original.context_mark
    why = original.problem or "not valid YAML"
    hint = next((text for key, text in _YAML_HINTS.items() if key in why), None)
    parts = []
    if original.context and context is not None and context.line < problem.line - 1:
        parts.append(f"  line {context.line + 1}: {original.context}")
        parts.append(_numbered(lines, context.line, context.line, context.column))
    elif original.context:
        where = f" at line {context.line + 1}" if context is not None else ""
        why = f"{why} ({original.context}{where})"
    parts.append(f"  line {problem.line + 1}, column {problem.column + 1}: {why}")
    first = problem.line - 1 if problem.line > 0 else problem.line
    if context is not None and problem.line - 1 <= context.line < problem.line:
        first = context.line
    parts.append(_numbered(lines, first, problem.line, problem.column))
    if hint:
        parts.append(f"  {hint}")
    return ConfigSyntaxError(
        f"{file or 'a configuration file'} is not valid YAML:\n" + "\n".join(parts)
    )


def _numbered(lines: list[str], first: int, last: int, column: int) -> str:
    """Lines ``first``..``last`` (0-based) numbered from 1, a caret under ``column`` of the last."""
    width = len(str(last + 1))
    shown = [
        f"  {number + 1:>{width}} | {lines[number] if number < len(lines) else ''}"
        for number in range(max(first, 0), last + 1)
    ]
    shown.append(f"  {' ' * width} | {' ' * column}^")
    return "\n".join(shown)


class ProjectConfigLoader(OmegaConfigLoader):
    """Kedro's OmegaConfigLoader, whose YAML syntax errors name the right line, show it and say
    why (:func:`yaml_syntax_error`), as a :class:`ConfigSyntaxError`."""

    def __getitem__(self, key: str) -> dict[str, Any]:
        try:
            config: dict[str, Any] = super().__getitem__(key)
        except yaml.YAMLError as exc:
            raise yaml_syntax_error(exc) from None
        return config


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
    from work_data_hub import settings as project_settings  # noqa: PLC0415  (settings imports hooks)

    loader_args: dict[str, Any] = dict(project_settings.CONFIG_LOADER_ARGS)
    loader = project_settings.CONFIG_LOADER_CLASS(
        conf_source=str(root / settings.CONF_SOURCE),
        env=env,
        **loader_args,
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
