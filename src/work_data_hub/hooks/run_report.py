"""Turns node and dataset events into the run report (JSON), log events with the same fields,
and the per-domain summary table every run ends with (on success and on failure).

Coupled to the pipeline by the names exported from :mod:`work_data_hub.pipelines.ingest.pipeline`
and to the datasets by the protocols of :mod:`work_data_hub.datasets.results`.

A domain's status: ``not_run`` (none of its nodes ran), ``stopped`` (some ran, then another
domain's failure ended the run), ``failed`` (one of its own nodes failed: ``failed_step`` and
``error`` say which and why), ``planned`` (plan written), ``loaded`` (plan applied),
``already_loaded`` (every selected file was loaded before) or ``no_delivery`` (nothing to read:
``files.no_delivery`` says why; nothing written). ``files.future`` lists files whose period is
too far ahead to be selected.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.pipeline import Node, Pipeline

from work_data_hub.datasets import background_writes
from work_data_hub.datasets.owner_only import open_owner_only
from work_data_hub.datasets.results import (
    LoadOutcome,
    ReportsFile,
    ReportsLedgerRead,
    ReportsLoad,
    ReportsReview,
    SaveResultMissingError,
    WritesDiffRows,
)
from work_data_hub.errors import WorkDataHubError, error_record
from work_data_hub.hooks.run_context import run_parameters
from work_data_hub.pipelines.ingest.names import (
    CLEANING_SUMMARY,
    FILE_MANIFEST,
    LOAD_LEDGER,
    LOAD_PLAN,
    REJECTS,
    REJECTS_WORKBOOKS,
    SELECTED_FILES,
)
from work_data_hub.reports.run_report_page import render_run_report
from work_data_hub.text import plural

logger = logging.getLogger("work_data_hub.run")

# The seconds of a domain's marked rejects workbooks, written in the background (from the
# hand-off to the last one), and the seconds the run stood still waiting for them.
WRITTEN_STEP = "rejects_workbooks_written"
WAITED_STEP = "rejects_workbooks_waited"

# Counts in the domain_done message, in order: (field, how the message names it).
_MESSAGE_COUNTS = (
    ("rows_read", "read"),
    ("rows_skipped", "skipped"),
    ("rows_rejected", "rejected"),
    ("rows_planned", "planned"),
    ("rows_deleted", "deleted"),
    ("rows_inserted", "inserted"),
)


def _domain_and_step(name: str) -> tuple[str, str]:
    domain, _, step = name.rpartition(".")
    return domain or "(none)", step


def _without_none(fields: dict[str, Any]) -> dict[str, Any]:
    # A count nobody measured is absent, never None (plan-only runs delete and insert nothing).
    return {key: value for key, value in fields.items() if value is not None}


def pipelines_run(run_params: dict[str, Any]) -> list[str]:
    """The pipelines a run was asked for: ``kedro run --pipelines``, or (kedro-dagster, whose
    jobs filter ``__default__`` by namespace) the domains of the job, else ``__default__``."""
    names = run_params.get("pipeline_names") or run_params.get("node_namespaces")
    return list(names or [run_params.get("pipeline_name") or "__default__"])


class ReportingFolderError(WorkDataHubError, OSError):
    """The reporting folder cannot be written; raised before any file is read or loaded.

    Args:
        message: What is wrong and what to do.
        folder: The folder that cannot be written.
    """

    def __init__(self, message: str, *, folder: str) -> None:
        super().__init__(message, folder=folder)


def _check_writable(folder: Path) -> None:
    """Fail before anything is read or loaded, not after a load whose report cannot be kept."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise ReportingFolderError(
            f"The reporting folder {folder} cannot be written ({exc.strerror or exc}: "
            f"{exc.filename or folder}); nothing was read or loaded. Make it a writable folder "
            "or point 'reporting_dir' in conf/base/globals.yml elsewhere.",
            folder=str(folder),
        ) from None


def summary_table(domains: dict[str, dict[str, Any]]) -> str:
    """One line per domain: status, files, rows read / rejected / inserted, plan file."""
    header = ("domain", "status", "files", "read", "rejected", "inserted", "plan")
    rows: list[tuple[str, ...]] = [header]
    for name, domain in domains.items():
        files = domain.get("files", {}).get("selected")
        rows.append(
            (
                name,
                str(domain["status"]),
                "-" if files is None else str(len(files)),
                *(
                    "-" if domain.get(field) is None else str(domain[field])
                    for field in ("rows_read", "rows_rejected", "rows_inserted")
                ),
                str(domain.get("plan_file", "-")),
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(len(header) - 1)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
        + "  "
        + row[-1]
        for row in rows
    )


class RunReportHooks:
    """Collects per-domain counts, files and timings; writes one JSON report per run.

    A plan's diff (``diff=true``) writes every row it names beside the report,
    ``run_<run id>.<domain>.diff.jsonl``; the report's ``diff.rows_file`` names it.
    """

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._catalog: Any = None
        self._run: dict[str, Any] = {}
        self._domains: dict[str, dict[str, Any]] = {}
        self._started: dict[str, float] = {}
        self._report_dir = Path("data/08_reporting/run_reports")

    def _domain(self, name: str) -> dict[str, Any]:
        return self._domains.setdefault(name, {"status": "not_run", "seconds": {}})

    @hook_impl
    def before_pipeline_run(
        self, run_params: dict[str, Any], pipeline: Pipeline, catalog: Any
    ) -> None:
        self._reset()
        self._catalog = catalog
        params = run_parameters(catalog)
        if "params:run_report_dir" in catalog:
            self._report_dir = Path(catalog.load("params:run_report_dir"))
        _check_writable(self._report_dir)
        for node in pipeline.nodes:
            if node.namespace:
                self._domain(node.namespace)
        self._run = {
            "run_id": run_params["run_id"],
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "env": run_params.get("env"),
            "pipelines": pipelines_run(run_params),
            "params": params,
            "_clock": time.perf_counter(),
        }
        # A pipeline of no domain (status, apply_plan) names its pipelines instead.
        subject = (
            f"domains {', '.join(sorted(self._domains))}"
            if self._domains
            else f"pipelines {', '.join(self._run['pipelines'])}"
        )
        logger.info(
            "Run %s started: %s, params %s",
            run_params["run_id"],
            subject,
            ", ".join(f"{name}={value}" for name, value in params.items()),
            extra={"event": "run_start", "run_id": run_params["run_id"], "params": params},
        )

    @hook_impl
    def before_node_run(self, node: Node, inputs: dict[str, Any]) -> None:
        self._started[node.name] = time.perf_counter()
        # The values the nodes got: under Dagster a job's run config can override the catalog's.
        params = self._run.get("params")
        if params is not None:
            for name, value in inputs.items():
                if name.startswith("params:") and name.removeprefix("params:") in params:
                    params[name.removeprefix("params:")] = value
        if not node.namespace:
            return  # not a domain's node (the status pipeline): no domain line
        domain_name, _ = _domain_and_step(node.name)
        domain = self._domain(domain_name)
        if domain["status"] == "not_run":
            domain["status"] = "running"

    @hook_impl
    def after_node_run(self, node: Node, inputs: dict[str, Any], outputs: dict[str, Any]) -> None:
        if not node.namespace:
            return
        domain_name, step = _domain_and_step(node.name)
        domain = self._domain(domain_name)
        domain["seconds"][step] = round(
            time.perf_counter() - self._started.pop(node.name, time.perf_counter()), 3
        )
        for name, value in inputs.items():
            read = value.last_read if isinstance(value, ReportsLedgerRead) else None
            if _domain_and_step(name)[1] == LOAD_LEDGER and read:
                # The last load of each period, against which the page charts this delivery.
                domain["ledger"] = {
                    period: {"rows": load.rows, "run_id": load.run_id,
                             "committed_at": load.committed_at, "path": load.path}
                    for period, load in read.items()
                }  # fmt: skip
        for name, value in outputs.items():
            _, output = _domain_and_step(name)
            if output == SELECTED_FILES:
                # Kept in case the ledger cannot be read: the report still names the files.
                domain["files"] = value.report()
            elif output == FILE_MANIFEST:
                domain["files"] = value.report()
                self._log_files(domain_name, domain["files"])
            elif output == CLEANING_SUMMARY:
                summary = value.report()
                domain.update(_without_none({k: v for k, v in summary.items() if k != "files"}))
                domain["files_read"] = summary["files"]
            elif output == LOAD_PLAN:
                domain.update(table=value.table, mode=value.mode, rows_planned=value.rows_to_insert)

    @hook_impl
    def before_dataset_loaded(self, dataset_name: str) -> None:
        # A load that never finishes (the ledger's warehouse unreachable) fails its domain.
        self._started[f"load:{dataset_name}"] = time.perf_counter()

    @hook_impl
    def after_dataset_loaded(self, dataset_name: str) -> None:
        self._started.pop(f"load:{dataset_name}", None)

    @hook_impl
    def before_dataset_saved(self, dataset_name: str) -> None:
        self._started[f"save:{dataset_name}"] = time.perf_counter()
        domain_name, output = _domain_and_step(dataset_name)
        if output == LOAD_PLAN and self._run and self._catalog is not None:
            # Every row a diff names goes beside the run report, which names the file.
            dataset = self._catalog.get(dataset_name)
            if isinstance(dataset, WritesDiffRows):
                rows = self._report_file(f".{domain_name}.diff.jsonl").absolute()
                dataset.write_diff_rows_to(rows)

    def _report_file(self, suffix: str) -> Path:
        """``<run_report_dir>/run_<run id><suffix>``: the run report and the files beside it."""
        return self._report_dir / f"run_{self._run['run_id'].replace(':', '-')}{suffix}"

    @hook_impl
    def after_dataset_saved(self, dataset_name: str) -> None:
        domain_name, output = _domain_and_step(dataset_name)
        seconds = time.perf_counter() - self._started.pop(
            f"save:{dataset_name}", time.perf_counter()
        )
        if output not in (LOAD_PLAN, REJECTS, REJECTS_WORKBOOKS) or self._catalog is None:
            return
        domain = self._domain(domain_name)
        domain["seconds"][f"save_{output}"] = round(seconds, 3)
        if output in (REJECTS, REJECTS_WORKBOOKS):
            written = self._reporting(dataset_name, ReportsFile).last_written
            if written is not None:
                field = "rejects_file" if output == REJECTS else "rejects_workbooks"
                domain[field] = written.path
            return
        result = self._record_load(domain, dataset_name)
        if domain.get("files", {}).get("no_delivery"):
            domain["status"] = "no_delivery"
        elif result is not None and result.nothing_to_load:
            domain["status"] = "already_loaded"  # every selected file: see files.already_loaded
        else:
            domain["status"] = "loaded" if domain.get("executed") else "planned"
        self._log_domain(domain_name, domain)

    def _reporting(self, dataset_name: str, protocol: type) -> Any:
        dataset = self._catalog.get(dataset_name)
        if not isinstance(dataset, protocol):
            raise SaveResultMissingError(dataset_name, dataset, protocol)
        return dataset

    def _record_load(self, domain: dict[str, Any], dataset_name: str) -> LoadOutcome | None:
        result: LoadOutcome | None = self._reporting(dataset_name, ReportsLoad).last_result
        if result is None:
            return None
        domain.update(
            _without_none(
                {
                    "plan_file": result.plan_path,
                    "executed": result.executed,
                    "rows_deleted": result.rows_deleted,
                    "rows_inserted": result.rows_inserted,
                    "transaction_seconds": result.transaction_seconds,
                    "transaction_steps": result.step_seconds,
                    "warehouse": result.warehouse,
                    "plan_sha256": result.plan_sha256,
                }
            )
        )
        if result.summary:
            domain["summary"] = result.summary
            # The business checks of the plan (the cleaning summary's are the delivery's only).
            domain["checks"] = result.summary.get("checks", [])
            domain["accepted_checks"] = result.summary.get("accepted_checks", [])
            if result.summary.get("diff") is not None:
                domain["diff"] = result.summary["diff"]
        # A review is optional: a plan dataset that writes none need not say so.
        dataset = self._catalog.get(dataset_name)
        review = dataset.last_review if isinstance(dataset, ReportsReview) else None
        if review is not None:
            domain.update(review_page=review.page, review_workbook=review.workbook)
        return result

    def _log_files(self, name: str, files: dict[str, Any]) -> None:
        selected = [{"path": f["path"], "period": f["period"]} for f in files["selected"]]
        superseded = [{"path": f["path"], "period": f["period"]} for f in files["superseded"]]
        logger.info(
            "%s: %s selected, %s superseded, %s not selected",
            name,
            plural(len(selected), "file"),
            len(superseded),
            len(files["not_selected"]),
            extra={
                "event": "files",
                "domain": name,
                "selected": selected,
                "superseded": superseded,
                "not_selected": len(files["not_selected"]),
            },
        )

    def _log_domain(self, name: str, domain: dict[str, Any]) -> None:
        fields = {k: v for k, v in domain.items() if k not in ("files", "files_read")}
        counts = ", ".join(
            f"{label} {domain[field]}" for field, label in _MESSAGE_COUNTS if field in domain
        )
        where = f"table {domain['table']}, mode {domain['mode']}; " if "table" in domain else ""
        logger.info(
            "%s: %s; %srows %s",
            name,
            domain["status"],
            where,
            counts,
            extra={"event": "domain_done", "domain": name, **fields},
        )

    @hook_impl
    def on_node_error(self, error: Exception, node: Node) -> None:
        self._started.pop(node.name, None)
        domain_name, step = _domain_and_step(node.name)
        self._fail(domain_name, step, error)

    def _fail(self, domain_name: str, step: str, error: BaseException) -> None:
        domain = self._domain(domain_name)
        if domain["status"] == "failed":
            return
        # ``error`` is the message, for people; orchestrators read ``error_type`` and
        # ``error_fields`` (what the message names), not the text.
        record = error_record(error)
        domain.update(
            status="failed",
            failed_step=step,
            error=record["message"],
            error_type=record["type"],
            error_fields=record["fields"],
        )
        self._record_failed_plan(domain_name, domain)
        fields = {k: v for k, v in domain.items() if k not in ("files", "files_read")}
        # ERROR, so that alerts on errors catch a failed domain; the console's final line
        # (work_data_hub.cli) gives the reason, the event's fields keep it.
        logger.error(
            "%s: failed at step %s",
            domain_name,
            step,
            extra={
                "event": "domain_done",
                "domain": domain_name,
                "step": step,
                "reason": str(error),
                **fields,
            },
        )

    def _record_failed_plan(self, name: str, domain: dict[str, Any]) -> None:
        """A refused execute still wrote its plan: the report says where, and that nothing loaded."""
        if self._catalog is None:
            return
        plan = f"{name}.{LOAD_PLAN}"
        # Only a dataset the run already made (``in catalog`` would also match the pattern).
        if plan in list(self._catalog.keys()):
            result = self._reporting(plan, ReportsLoad).last_result
            if result is not None:
                domain.update(plan_file=result.plan_path, executed=False)
                if result.summary:
                    domain["summary"] = result.summary
                    domain["checks"] = result.summary.get("checks", [])

    @hook_impl
    def after_pipeline_run(self, run_params: dict[str, Any]) -> None:
        failure = self._background_writes_done()
        if failure is not None:
            # Nobody waited for them (the load's node was not run: ``kedro run --nodes``).
            self._write_report("failed", error_record(failure))
            raise failure
        self._write_report("succeeded", None)

    def _background_writes_done(self) -> BaseException | None:
        """Wait for every domain's files written in the background (its marked rejects
        workbooks); record their seconds, and how long the run waited for them. A domain
        whose files failed, and had not failed already, fails at their step. Returns the
        first failure."""
        first: BaseException | None = None
        for written in background_writes.wait_all():
            domain = self._domain(written.domain)
            domain["seconds"][WRITTEN_STEP] = round(written.seconds, 3)
            domain["seconds"][WAITED_STEP] = round(written.waited, 3)
            if written.error is not None:
                domain.pop("rejects_workbooks", None)  # not all of them are there
                self._fail(written.domain, WRITTEN_STEP, written.error)
                first = first or written.error
        return first

    @hook_impl
    def on_pipeline_error(self, error: Exception, run_params: dict[str, Any]) -> None:
        # What started and never finished failed: a node (when Kedro did not call
        # on_node_error for it) or a dataset load or save (Kedro has no hook for those failing).
        for started in list(self._started):
            kind, _, name = (
                started.rpartition(":")
                if started.startswith(("save:", "load:"))
                else ("", "", started)
            )
            domain_name, step = _domain_and_step(name)
            self._fail(domain_name, f"{kind}_{step}" if kind else step, error)
        self._started.clear()
        # Recorded, never raised: the run ends with its own error.
        self._background_writes_done()
        for domain in self._domains.values():
            if domain["status"] == "running":
                domain["status"] = "stopped"
        self._write_report("failed", error_record(error))

    def _write_report(self, status: str, record: dict[str, Any] | None) -> None:
        if not self._run:
            return
        clock = self._run.pop("_clock")
        error = record["message"] if record is not None else None
        report = {
            **self._run,
            "status": status,
            "error": error,
            **(
                {"error_type": record["type"], "error_fields": record["fields"]}
                if record is not None
                else {}
            ),
            "seconds": round(time.perf_counter() - clock, 3),
            "domains": self._domains,
        }
        path = self._report_file(".json")
        written = json.dumps(report, ensure_ascii=False, indent=2, default=str)
        with os.fdopen(open_owner_only(path), "w", encoding="utf-8") as handle:
            handle.write(written)
        # The page is rendered from the JSON as written, so the two never disagree.
        page = path.with_suffix(".html")
        with os.fdopen(open_owner_only(page), "w", encoding="utf-8") as handle:
            handle.write(render_run_report(json.loads(written)))
        logger.info(
            "Run %s %s in %.2fs; run report: %s\n%s\nrun report page (open in a browser): %s",
            self._run["run_id"],
            status,
            report["seconds"],
            path,
            summary_table(self._domains),
            page,
            extra={
                "event": "run_end",
                "run_id": self._run["run_id"],
                "status": status,
                "error": error,
                "seconds": report["seconds"],
                "domains": {name: d["status"] for name, d in self._domains.items()},
                "report": str(path),
                "report_page": str(page),
            },
        )
        self._run = {}
