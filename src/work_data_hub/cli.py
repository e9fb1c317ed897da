"""The project's ``kedro run``: Kedro's own command with short errors and strict params.

Kedro imports ``<package>.cli`` and lets its ``cli`` group override the built-in commands
(``kedro.framework.cli.cli.KedroCLI.project_groups``). This ``run`` keeps every option of
Kedro's ``run`` and adds:

- a user mistake (any :class:`~work_data_hub.errors.WorkDataHubError`: params, config, inbox,
  workbook, warehouse, rejects) ends with its short message and exit code 1; the traceback
  only with ``--verbose`` or ``WDH_VERBOSE=1``. Any other exception keeps its traceback;
- ``--params`` is strict: an unknown name is refused with "did you mean" and the valid names,
  a boolean is ``true`` or ``false`` only; ``kedro run --help`` lists the params;
- off a terminal (cron, CI, a pipe) log lines are written plainly, one line each, not wrapped.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

import click

from work_data_hub.errors import user_error

# Kedro imports this module for every command in the project (`kedro --version` too): what a
# command needs is imported when it is built (ProjectCommands.get_command) or runs; the params'
# pydantic model when `kedro run` runs or shows its help.

VERBOSE_VARIABLE = "WDH_VERBOSE"
PLAIN_LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _verbose_requested(flag: bool) -> bool:
    return flag or os.environ.get(VERBOSE_VARIABLE, "").strip().lower() in ("1", "true", "yes")


class _NodeFailureOfUserMistake(logging.Filter):
    """Drop Kedro's "Node ... failed with error" record for a user mistake: the run ends with
    that mistake's message (``short_errors``), so printing it before too says it twice.

    Kedro logs that record inside the ``except`` block that re-raises, so the exception being
    handled is the node's.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith("Node %s failed with error"):
            return True
        return user_error(sys.exc_info()[1] or Exception()) is None


@contextmanager
def short_errors(verbose: bool) -> Iterator[None]:
    """Turn a user mistake into its message and exit code 1; let anything else through.

    Args:
        verbose: Let the user mistake through too (its traceback is shown).

    Raises:
        SystemExit: A user mistake ended the command (exit code 1, its message printed).
    """
    node_failures = logging.getLogger("kedro.pipeline.node")
    once = _NodeFailureOfUserMistake()
    if not verbose:
        node_failures.addFilter(once)
    try:
        yield
    except Exception as exc:
        error = user_error(exc)
        if error is None or verbose:
            raise
        # The message is the last thing printed (`kedro run --help` names the verbose switch).
        click.secho(f"Error: {error}", err=True, fg="red")
        sys.exit(1)
    finally:
        node_failures.removeFilter(once)


def plain_logs_off_terminal() -> None:
    """Off a terminal, swap Rich's console handler for one plain line per record.

    Rich wraps every record at the console's width (80 columns when it cannot ask a terminal),
    splitting paths; a log collector wants each record on one line.
    """
    from rich import get_console  # noqa: PLC0415
    from rich.logging import RichHandler  # noqa: PLC0415

    if get_console().is_terminal:
        return
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, RichHandler):
            plain = logging.StreamHandler(sys.stderr)
            plain.setLevel(handler.level)
            plain.setFormatter(logging.Formatter(PLAIN_LOG_FORMAT))
            root.removeHandler(handler)
            root.addHandler(plain)


def _params_help() -> str:
    from work_data_hub.config.params import describe_run_parameters  # noqa: PLC0415

    rows = describe_run_parameters()
    width = max(len(name) for name, _, _ in rows)
    lines = [
        f"{name.ljust(width)}  {meaning} (default {default})" for name, default, meaning in rows
    ]
    return "\b\nRuntime params (--params name=value,...):\n" + "\n".join(
        f"  {line}" for line in lines
    )


def _raw_params(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    # Kept as typed: checked in the command, where a mistake gets the short message.
    return value


def _checked_params(ctx: click.Context, param: click.Parameter, raw: Any) -> dict[str, Any]:
    """``--params`` checked on its text (names, booleans), then parsed as Kedro parses it.

    Items are split at commas outside square brackets (Kedro's own split for node names), so
    a list keeps its commas: ``periods=[2024-09,2024-11],execute=true``.
    """
    from kedro.framework.cli.utils import split_node_names  # noqa: PLC0415
    from omegaconf import OmegaConf  # noqa: PLC0415

    from work_data_hub.config.params import (  # noqa: PLC0415
        check_command_line_params,
        check_parameter_names,
    )

    if isinstance(raw, dict):  # from --config: already parsed
        check_parameter_names(raw)
        return raw
    texts: dict[str, str] = {}
    dot_list: list[str] = []
    for item in split_node_names(ctx, param, raw or ""):
        key, equals, text = item.partition("=")
        if not equals or not key.strip():
            ctx.fail(
                f"Invalid format of `{param.name}` option: Item `{item}` must contain a key "
                "and a value separated by `=`."
            )
        texts[key.strip().split(".")[0]] = text
        dot_list.append(f"{key.strip()}={text}")
    container = OmegaConf.to_container(OmegaConf.from_dotlist(dot_list))
    assert isinstance(container, dict)
    parsed = {str(name): value for name, value in container.items()}
    check_command_line_params(texts, parsed)
    return parsed


def _check_pipelines(pipeline: str | None, pipelines: list[str]) -> None:
    """An unknown pipeline is refused with the valid domains, before the session starts."""
    from kedro.framework.project import pipelines as registered  # noqa: PLC0415

    for name in [*([pipeline] if pipeline else []), *pipelines]:
        registered[name]  # an unknown name raises UnknownPipelineError, listing the domains


def _run_command() -> click.Command:
    from kedro.framework.cli.project import run as kedro_run  # noqa: PLC0415

    params: list[click.Parameter] = []
    params_option: click.Parameter | None = None
    for parameter in kedro_run.params:
        if parameter.name == "params" and isinstance(parameter, click.Option):
            params_option = click.Option(
                ["--params"],
                type=click.UNPROCESSED,
                default="",
                help="Runtime params name=value, comma separated (listed below).",
                callback=_raw_params,
            )
            params.append(params_option)
        else:
            params.append(parameter)
    params.append(
        click.Option(
            ["--verbose"],
            is_flag=True,
            default=False,
            help=f"Show the traceback of a user mistake too (or set {VERBOSE_VARIABLE}=1).",
        )
    )

    def run(verbose: bool, **options: Any) -> Any:
        ctx = click.get_current_context()
        verbose = _verbose_requested(verbose)
        plain_logs_off_terminal()
        with short_errors(verbose):
            assert params_option is not None
            options["params"] = _checked_params(ctx, params_option, options["params"])
            _check_pipelines(options.get("pipeline"), options.get("pipelines") or [])
            assert kedro_run.callback is not None
            return kedro_run.callback(**options)

    return _RunCommand(
        name="run",
        callback=run,
        params=params,
        help=(kedro_run.help or "Run the pipeline.")
        + " A user mistake ends with a short message naming what to fix.",
        context_settings={"max_content_width": 100},
    )


class _RunCommand(click.Command):
    """``kedro run``; the params' list under its help is made when that help is shown (it
    imports the params' model; ``kedro --help`` builds this command for its one-line help)."""

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        self.epilog = self.epilog or _params_help()
        super().format_epilog(ctx, formatter)


def project_path() -> Path:
    """The root of the project Kedro runs this command in (hooks/cli.py checked it is the working
    directory); else, outside Kedro's command line, the project around the working directory."""
    metadata = click.get_current_context().find_root().obj
    if isinstance(getattr(metadata, "project_path", None), Path):
        return Path(metadata.project_path)
    from work_data_hub.config.project import project_path as around_here  # noqa: PLC0415

    return around_here()


def _warehouse_group() -> click.Command:
    """``kedro warehouse start|url|status|stop``: the local embedded warehouse between runs."""

    def waiting() -> None:
        click.echo("Waiting for the run that uses the local warehouse to end (Ctrl-C gives up)...")

    @click.group(name="warehouse")
    def warehouse() -> None:
        """The local warehouse (embedded PostgreSQL in data/warehouse) for psql and notebooks."""

    @warehouse.command()
    @click.option("--port", type=int, default=None, help="Loopback port (default: a free one).")
    def start(port: int | None) -> None:
        """Keep the local warehouse running on a loopback port; print its URL."""
        from work_data_hub.warehouse.local import start_kept_warehouse  # noqa: PLC0415

        with short_errors(_verbose_requested(False)):
            kept = start_kept_warehouse(project_path(), port=port, waiting=waiting)
        click.echo(f"The local warehouse ({kept.data_dir}) is running; connect with:")
        click.echo(kept.text)
        click.echo("e.g. psql '<url>'; `kedro warehouse stop` stops it.")

    @warehouse.command()
    def url() -> None:
        """Print the URL of the local warehouse `start` keeps running."""
        from work_data_hub.warehouse.local import kept_warehouse  # noqa: PLC0415

        kept = kept_warehouse(project_path())
        if kept is None:
            raise click.ClickException("The local warehouse is not started: kedro warehouse start")
        click.echo(kept.text)

    @warehouse.command()
    def status() -> None:
        """Say whether the local warehouse exists, runs, is kept, and whether a run uses it."""
        from work_data_hub.warehouse.local import warehouse_status  # noqa: PLC0415

        state = warehouse_status(project_path())
        click.echo(f"data folder: {state.data_dir} ({'exists' if state.exists else 'not created'})")
        if state.kept is not None:
            click.echo(f"running, kept by `kedro warehouse start`: {state.kept.text}")
        elif state.running:
            click.echo("running for a run (stopped when that run ends)")
        else:
            click.echo("not running")
        if state.used_by_a_run:
            click.echo("in use by a run")

    @warehouse.command()
    def stop() -> None:
        """Stop the local warehouse, after the run that uses it (if any) has ended."""
        from work_data_hub.warehouse.local import stop_kept_warehouse  # noqa: PLC0415

        with short_errors(_verbose_requested(False)):
            stopped = stop_kept_warehouse(project_path(), waiting=waiting)
        click.echo(
            "Stopped the local warehouse." if stopped else "The local warehouse is not running."
        )

    return warehouse


class ProjectCommands(click.Group):
    """The project's commands, each built when first asked for."""

    _factories: ClassVar[dict[str, Callable[[], click.Command]]] = {
        "run": _run_command,
        "warehouse": _warehouse_group,
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(self._factories)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self._factories:
            self.add_command(self._factories[cmd_name]())
        return self.commands.get(cmd_name)


@click.group(name="work_data_hub", cls=ProjectCommands)
def cli() -> None:
    """WorkDataHub's project commands."""
