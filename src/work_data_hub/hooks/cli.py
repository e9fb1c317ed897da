"""Check ``data_sources.yml`` before any kedro command that loads the domains starts.

Registered as a Kedro CLI hook through the ``kedro.cli_hooks`` entry point in pyproject.toml.
Without it, ``kedro viz run`` would start its server process, which dies on a bad config
while the parent waits for it; this check stops every such command first, with the list of
problems and exit code 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from kedro.framework.cli.hooks import cli_hook_impl

# Commands that build the pipelines (and so read data_sources.yml).
CHECKED_COMMANDS = frozenset({"run", "registry", "viz", "ipython", "jupyter", "catalog"})
PACKAGE_NAME = "work_data_hub"
# Commands whose paths (data/01_raw, data/08_reporting, data/warehouse) are relative to the
# project root: run from a subfolder, they would write a stray data/ tree there.
ROOT_COMMANDS = frozenset({"warehouse", "status"})


def _refuse_outside_the_root(root: Path) -> None:
    here = Path.cwd().resolve()
    if here != root.resolve():
        click.secho(
            f"Error: run kedro from the project's root folder, {root} (cd {root}); from "
            f"{here} its folders (data/01_raw, data/08_reporting) would be looked for and "
            "written in the wrong place. Nothing was run.",
            err=True,
            fg="red",
        )
        raise SystemExit(1)


class DataSourcesCheck:
    """Validates the domains once per command; a bad config ends the command cleanly."""

    @cli_hook_impl
    def before_command_run(self, project_metadata: Any, command_args: list[str]) -> None:
        if project_metadata is None or project_metadata.package_name != PACKAGE_NAME:
            return
        if command_args and command_args[0] == "viz":
            from work_data_hub.integrations.kedro_viz import (  # noqa: PLC0415
                disable_kedro_viz_update_check,
            )

            disable_kedro_viz_update_check()  # offline: no PyPI request, no upgrade banner
        if not command_args or command_args[0] not in CHECKED_COMMANDS | ROOT_COMMANDS:
            return
        if "--help" in command_args or "-h" in command_args:
            return
        _refuse_outside_the_root(Path(project_metadata.project_path))
        if command_args[0] not in CHECKED_COMMANDS:
            return
        from work_data_hub.conf_files import ConfigSyntaxError  # noqa: PLC0415
        from work_data_hub.config import DataSourcesError  # noqa: PLC0415
        from work_data_hub.config.project import kedro_env, load_domains  # noqa: PLC0415

        try:
            load_domains(project_metadata.project_path, kedro_env(command_args))
        except (DataSourcesError, ConfigSyntaxError) as exc:
            click.secho(f"Error: {exc}", err=True, fg="red")
            raise SystemExit(1) from None


cli_hooks = DataSourcesCheck()
