"""Turns node and dataset events into the run report (JSON) and log lines with the same fields."""

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

from work_data_hub.config import check_run_parameters
from work_data_hub.datasets.owner_only import open_owner_only
from work_data_hub.errors import WorkDataHubError

logger = logging.getLogger("work_data_hub.run")

RUN_PARAMETERS = (
    "execute",
    "max_files",
    "inbox",
    "max_reject_ratio",
    "reload",
    "diff",
    "plan",
    "force",
)


def _domain_and_step(name: str) -> tuple[str, str]:
    domain, _, step = name.rpartition(".")
    return domain or "(none)", step


class ReportingFolderError(WorkDataHubError, OSError):
    """The reporting folder cannot be written; raised before any file is read or loaded."""


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
            "or point 'reporting_dir' in conf/base/globals.yml elsewhere."
        ) from None


class RunReportHooks:
    """Collects per-domain counts, files and timings; writes one JSON report per run."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._catalog: Any = None
        self._run: dict[str, Any] = {}
        self._domains: dict[str, dict[str, Any]] = {}
        self._started: dict[str, float] = {}
        self._report_dir = Path("data/08_reporting/run_reports")

    def _domain(self, name: str) -> dict[str, Any]:
        return self._domains.setdefault(name, {"status": "pending", "seconds": {}})

    @hook_impl
    def before_pipeline_run(
        self, run_params: dict[str, Any], pipeline: Pipeline, catalog: Any
    ) -> None:
        self._reset()
        self._catalog = catalog
        params = {
            name: catalog.load(f"params:{name}")
            for name in RUN_PARAMETERS
            if f"params:{name}" in catalog
        }
        if "params:run_report_dir" in catalog:
            self._report_dir = Path(catalog.load("params:run_report_dir"))
        _check_writable(self._report_dir)
        self._run = {
            "run_id": run_params["run_id"],
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "env": run_params.get("env"),
            "pipelines": run_params.get("pipeline_names") or ["__default__"],
            "params": params,
            "_clock": time.perf_counter(),
        }
        for node in pipeline.nodes:
            if node.namespace:
                self._domain(node.namespace)
        logger.info(
            "Run %s started: domains %s, params %s",
            run_params["run_id"],
            sorted(self._domains),
            params,
            extra={"event": "run_start", "run_id": run_params["run_id"], "params": params},
        )
        check_run_parameters(params, inbox_must_hold_files=True)
        if "run_id" in catalog:
            # Declared in catalog.yml (for its Kedro-Viz layer): fill it, do not replace it.
            catalog.save("run_id", run_params["run_id"])
        else:
            catalog["run_id"] = run_params["run_id"]

    @hook_impl
    def before_node_run(self, node: Node) -> None:
        self._started[node.name] = time.perf_counter()

    @hook_impl
    def after_node_run(self, node: Node, outputs: dict[str, Any]) -> None:
        domain_name, step = _domain_and_step(node.name)
        domain = self._domain(domain_name)
        domain["status"] = "running"
        domain["seconds"][step] = round(
            time.perf_counter() - self._started.pop(node.name, time.perf_counter()), 3
        )
        for name, value in outputs.items():
            _, output = _domain_and_step(name)
            if output == "file_manifest":
                domain["files"] = value.report()
                self._log_files(domain_name, domain["files"])
            elif output == "cleaning_summary":
                domain.update({k: v for k, v in value.items() if k != "files"})
                domain["files_read"] = value["files"]
            elif output == "load_plan":
                domain.update(table=value.table, mode=value.mode, rows_planned=value.rows_to_insert)

    @hook_impl
    def before_dataset_saved(self, dataset_name: str) -> None:
        self._started[f"save:{dataset_name}"] = time.perf_counter()

    @hook_impl
    def after_dataset_saved(self, dataset_name: str) -> None:
        domain_name, output = _domain_and_step(dataset_name)
        seconds = time.perf_counter() - self._started.pop(
            f"save:{dataset_name}", time.perf_counter()
        )
        if output not in ("load_plan", "rejects") or self._catalog is None:
            return
        domain = self._domain(domain_name)
        domain["seconds"][f"save_{output}"] = round(seconds, 3)
        dataset = self._catalog[dataset_name]
        if output == "rejects":
            domain["rejects_file"] = str(dataset._get_load_path())
            return
        result = getattr(dataset, "last_result", None)
        if result is not None:
            domain.update(
                plan_file=result.plan_path,
                executed=result.executed,
                rows_deleted=result.rows_deleted,
                rows_inserted=result.rows_inserted,
                transaction_seconds=result.transaction_seconds,
                plan_sha256=result.plan_sha256,
            )
            summary = getattr(result, "summary", None)
            if summary:
                domain["summary"] = summary
                if summary.get("diff") is not None:
                    domain["diff"] = summary["diff"]
        if result is not None and result.nothing_to_load:
            domain["status"] = "already_loaded"  # every selected file: see files.already_loaded
        else:
            domain["status"] = "loaded" if domain.get("executed") else "planned"
        self._log_domain(domain_name, domain)

    def _log_files(self, name: str, files: dict[str, Any]) -> None:
        selected = [{"path": f["path"], "period": f["period"]} for f in files["selected"]]
        superseded = [{"path": f["path"], "period": f["period"]} for f in files["superseded"]]
        logger.info(
            "%s: %s files selected, %s superseded, %s not selected",
            name,
            len(selected),
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
        logger.info(
            "%s: %s; table %s, mode %s, read %s, skipped %s, rejected %s, planned %s, "
            "deleted %s, inserted %s",
            name,
            domain["status"],
            domain.get("table"),
            domain.get("mode"),
            domain.get("rows_read"),
            domain.get("rows_skipped"),
            domain.get("rows_rejected"),
            domain.get("rows_planned"),
            domain.get("rows_deleted"),
            domain.get("rows_inserted"),
            extra={"event": "domain_done", "domain": name, **fields},
        )

    @hook_impl
    def on_node_error(self, error: Exception, node: Node) -> None:
        domain_name, step = _domain_and_step(node.name)
        domain = self._domain(domain_name)
        domain.update(status="failed", failed_step=step, error=str(error))

    @hook_impl
    def after_pipeline_run(self, run_params: dict[str, Any]) -> None:
        self._write_report("succeeded", None)

    @hook_impl
    def on_pipeline_error(self, error: Exception, run_params: dict[str, Any]) -> None:
        for domain in self._domains.values():
            if domain["status"] in ("running", "pending") and "error" not in domain:
                domain["status"] = "failed" if domain["status"] == "running" else "not_run"
        failed = [d for d in self._domains.values() if d["status"] == "failed"]
        if failed and "error" not in failed[0]:
            failed[0]["error"] = str(error)
        for name, domain in self._domains.items():
            # A refused execute still wrote its plan: the report says where, and that nothing loaded.
            plan = f"{name}.load_plan"
            if domain["status"] != "failed" or self._catalog is None:
                continue
            # Only a dataset the run already made (``in catalog`` would also match the pattern).
            if plan in list(self._catalog.keys()):
                result = getattr(self._catalog[plan], "last_result", None)
                if result is not None:
                    domain.update(plan_file=result.plan_path, executed=False)
        self._write_report("failed", str(error))

    def _write_report(self, status: str, error: str | None) -> None:
        if not self._run:
            return
        clock = self._run.pop("_clock")
        report = {
            **self._run,
            "status": status,
            "error": error,
            "seconds": round(time.perf_counter() - clock, 3),
            "domains": self._domains,
        }
        path = self._report_dir / f"run_{self._run['run_id'].replace(':', '-')}.json"
        with os.fdopen(open_owner_only(path), "w", encoding="utf-8") as handle:
            json.dump(report, handle, ensure_ascii=False, indent=2, default=str)
        logger.info(
            "Run %s %s in %.2fs; run report: %s",
            self._run["run_id"],
            status,
            report["seconds"],
            path,
            extra={
                "event": "run_end",
                "run_id": self._run["run_id"],
                "status": status,
                "error": error,
                "seconds": report["seconds"],
                "domains": {name: d["status"] for name, d in self._domains.items()},
                "report": str(path),
            },
        )
        self._run = {}
