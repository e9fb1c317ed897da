"""A progress display for the long steps of a run: reading each workbook, and the load (COPY).

Shown only when the output is an interactive terminal; in CI, cron, a pipe or a notebook the
hooks do nothing at all. The display sits in hooks around the node and the dataset save, so the
cleaning and loading code stays as it is: per workbook it costs one extra function call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kedro.framework.hooks import hook_impl
from kedro.pipeline import Node
from rich import get_console
from rich.console import Console

if TYPE_CHECKING:
    from rich.progress import Progress

from work_data_hub.pipelines.ingest.names import (
    CLEAN_STEP,
    FILE_MANIFEST,
    INBOX_WORKBOOKS,
    LOAD_PLAN,
)


def _is_interactive(console: Console) -> bool:
    return console.is_terminal and not console.is_dumb_terminal and not console.is_jupyter


class ProgressHooks:
    """Shows ``reading <file> (2/3)`` while a domain's workbooks are read, and a spinner while
    a load plan is saved (and, with ``execute=true``, copied into PostgreSQL)."""

    def __init__(self, console: Console | None = None) -> None:
        self._console = console
        self._progress: Progress | None = None
        self._execute = False
        self._tasks: dict[str, Any] = {}

    @hook_impl
    def before_pipeline_run(self, catalog: Any) -> None:
        console = self._console or _default_console()
        if not _is_interactive(console):
            return
        # Imported here: rich.progress costs ~50 ms that non-interactive runs need not pay.
        from rich.progress import (  # noqa: PLC0415
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
        )

        self._execute = bool("params:execute" in catalog and catalog.load("params:execute"))
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=console,
            transient=True,
        )
        self._progress.start()

    @hook_impl
    def before_node_run(self, node: Node, inputs: dict[str, Any]) -> dict[str, Any] | None:
        domain, _, step = node.name.rpartition(".")
        if self._progress is None or step != CLEAN_STEP:
            return None
        workbooks_name = f"{domain}.{INBOX_WORKBOOKS}"
        manifest = inputs.get(f"{domain}.{FILE_MANIFEST}")
        workbooks = inputs.get(workbooks_name)
        if manifest is None or workbooks is None:
            return None
        total = len(manifest.selection.selected)
        task = self._progress.add_task(f"{domain}: reading", total=total)
        self._tasks[node.name] = task
        # The node opens each selected workbook through its loader: wrap the loaders so that
        # each opening moves the bar. The node's own code is unchanged.
        counter = {"opened": 0}
        progress = self._progress

        def reading(path: str, load: Callable[[], Any]) -> Callable[[], Any]:
            def load_with_progress() -> Any:
                progress.update(
                    task,
                    completed=counter["opened"],
                    description=f"{domain}: reading {path} ({counter['opened'] + 1}/{total})",
                    refresh=True,  # one render per workbook, so even quick files show
                )
                counter["opened"] += 1
                return load()

            return load_with_progress

        return {workbooks_name: {path: reading(path, load) for path, load in workbooks.items()}}

    @hook_impl
    def after_node_run(self, node: Node) -> None:
        task = self._tasks.pop(node.name, None)
        if self._progress is not None and task is not None:
            self._progress.remove_task(task)

    @hook_impl
    def before_dataset_saved(self, dataset_name: str, data: Any) -> None:
        domain, _, output = dataset_name.rpartition(".")
        if self._progress is None or output != LOAD_PLAN:
            return
        rows = getattr(data, "rows_to_insert", 0)
        table = getattr(data, "table", domain)
        action = f"loading {rows} rows into {table} (COPY)" if self._execute else "writing plan"
        self._tasks[dataset_name] = self._progress.add_task(f"{domain}: {action}", total=None)
        self._progress.refresh()

    @hook_impl
    def after_dataset_saved(self, dataset_name: str) -> None:
        task = self._tasks.pop(dataset_name, None)
        if self._progress is not None and task is not None:
            self._progress.remove_task(task)

    @hook_impl
    def after_pipeline_run(self) -> None:
        self._stop()

    @hook_impl
    def on_pipeline_error(self) -> None:
        self._stop()

    def _stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
        self._progress = None
        self._tasks.clear()


def _default_console() -> Console:
    # Kedro's RichHandler prints through rich's global console: sharing it keeps log lines
    # above the progress bar instead of tearing it.
    return get_console()
