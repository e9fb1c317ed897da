"""How the conf files are found and read: the loader and its arguments settings.py gives Kedro.

A bottom-floor module, so that config/ reads data_sources.yml with the very loader Kedro uses
without importing settings.py (which imports every hook), and ``kedro --version`` (which loads
settings.py) imports no configuration models. The loader is Kedro's, whose YAML syntax errors
name the line at fault, show it and say why (:class:`ProjectConfigLoader`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from kedro.config import OmegaConfigLoader

from work_data_hub.errors import WorkDataHubError

CONFIG_LOADER_ARGS: dict[str, Any] = {
    "base_env": "base",
    "default_run_env": "local",
    "config_patterns": {
        "data_sources": ["data_sources*", "data_sources*/**"],
        "mappings": ["mappings*", "mappings*/**"],
        "globals": ["globals*", "globals*/**"],
    },
}


class ConfigSyntaxError(WorkDataHubError, ValueError):
    """A configuration file is not valid YAML; the message names the file, shows the line and
    says why.

    Args:
        message: The file, the lines around the mistake and why.
        file: The configuration file, when the parser named it.
        line: The line (from 1) the parser stopped at, when known.
        column: Its column (from 1), when known.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        super().__init__(message, file=file, line=line, column=column)


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
        return ConfigSyntaxError(str(error), file=file)
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
        f"{file or 'a configuration file'} is not valid YAML:\n" + "\n".join(parts),
        file=file,
        line=problem.line + 1,
        column=problem.column + 1,
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
