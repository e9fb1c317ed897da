"""The run report and its log events: each error on its own domain, counts never None, a
summary table at the end, and a dataset that stops reporting its saves fails loudly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from kedro.io import DataCatalog, MemoryDataset

from tests.support.cli import run_kedro
from tests.support.workbooks import write_garbage
from work_data_hub.datasets.results import SaveResultMissingError
from work_data_hub.hooks.run_report import RunReportHooks, pipelines_run, summary_table
from work_data_hub.pipelines.ingest import names
from work_data_hub.pipelines.ingest.pipeline import create_pipeline
from work_data_hub.text import plural


def _report(project: Path) -> dict[str, Any]:
    reports = sorted((project / "data/08_reporting/run_reports").glob("*.json"))
    return json.loads(reports[-1].read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def _log_events(project: Path) -> list[dict[str, Any]]:
    (log,) = (project / "data/08_reporting/logs").glob("run_*.jsonl")
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]


def test_a_domain_never_attempted_is_not_run_and_the_error_is_its_own(project_copy: Path) -> None:
    # A month the inbox lacks: annuity_performance (first in the run) fails at its first step.
    result = run_kedro(project_copy, "run", "--params", "periods=[2024-10,2024-12]")
    assert result.returncode == 1
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert len(lines) <= 25 and "Traceback" not in result.stderr
    missing = "annuity_performance: no workbook for period 2024-12"
    assert lines[-1].startswith(f"Error: {missing}")

    report = _report(project_copy)
    annuity, trustee = (
        report["domains"][d] for d in ("annuity_performance", "trustee_performance")
    )
    assert (annuity["status"], annuity["failed_step"]) == ("failed", names.SELECT_STEP)
    assert missing in annuity["error"]
    assert trustee["status"] == "not_run" and "error" not in trustee

    errors = [e for e in _log_events(project_copy) if e["level"] == "ERROR" and "event" in e]
    assert [(e["event"], e["domain"], e["step"]) for e in errors] == [
        ("domain_done", "annuity_performance", names.SELECT_STEP)
    ]
    assert missing in errors[0]["reason"]


def test_a_domain_stopped_by_another_domains_failure_keeps_no_foreign_error(
    project_copy: Path,
) -> None:
    write_garbage(project_copy / "data/01_raw/2024/11/V2/2024-11 受托业绩.xlsx")
    result = run_kedro(project_copy, "run")
    assert result.returncode == 1
    report = _report(project_copy)
    annuity, trustee = (
        report["domains"][d] for d in ("annuity_performance", "trustee_performance")
    )
    assert (trustee["status"], trustee["failed_step"]) == ("failed", names.CLEAN_STEP)
    assert annuity["status"] == "stopped" and "error" not in annuity
    assert annuity["rows_read"] > 0  # what it did before the run stopped is kept
    events = _log_events(project_copy)
    assert [e["domain"] for e in events if e["level"] == "ERROR" and "event" in e] == [
        "trustee_performance"
    ]
    end = next(e for e in events if e.get("event") == "run_end")
    assert end["domains"] == {"annuity_performance": "stopped", "trustee_performance": "failed"}
    for event in events:
        assert None not in {k: v for k, v in event.items() if k.startswith("rows_")}.values()


def test_a_plan_dataset_that_does_not_report_its_save_fails_loudly() -> None:
    hooks = RunReportHooks()
    hooks._catalog = DataCatalog({f"d.{names.LOAD_PLAN}": MemoryDataset()})
    with pytest.raises(SaveResultMissingError, match=r"'d\.load_plan' is a MemoryDataset"):
        hooks.after_dataset_saved(f"d.{names.LOAD_PLAN}")


def test_the_pipeline_uses_the_names_the_hooks_rely_on() -> None:
    from tests.reliability.support import trustee_domain

    pipeline = create_pipeline(trustee_domain())
    prefix = "trustee_performance."
    assert {n.name for n in pipeline.nodes} == {
        prefix + step
        for step in (
            names.SELECT_STEP,
            names.SKIP_STEP,
            names.CLEAN_STEP,
            names.PLAN_STEP,
        )
    }
    outputs = {prefix + o for o in (names.SELECTED_FILES, names.FILE_MANIFEST, names.CLEAN_ROWS)}
    outputs |= {prefix + names.REJECTS, prefix + names.REJECTS_WORKBOOKS}
    outputs |= {prefix + o for o in (names.CLEANING_SUMMARY, names.LOAD_PLAN)}
    assert pipeline.all_outputs() == outputs
    assert names.RUN_ID in pipeline.inputs() and prefix + names.INBOX_WORKBOOKS in pipeline.inputs()
    assert prefix + names.LOAD_LEDGER in pipeline.inputs()


def test_summary_table_plurals_and_pipelines() -> None:
    table = summary_table(
        {
            "a": {
                "status": "loaded",
                "files": {"selected": [{}, {}]},
                "rows_read": 3,
                "rows_rejected": 0,
                "rows_inserted": 3,
                "plan_file": "p.sql",
            },
            "b": {"status": "not_run"},
        }
    )
    assert [line.split() for line in table.splitlines()] == [
        ["domain", "status", "files", "read", "rejected", "inserted", "plan"],
        ["a", "loaded", "2", "3", "0", "3", "p.sql"],
        ["b", "not_run", "-", "-", "-", "-", "-"],
    ]
    assert (plural(1, "row"), plural(0, "row"), plural(2, "file")) == ("1 row", "0 rows", "2 files")
    assert pipelines_run({"pipeline_names": ["t"]}) == ["t"]
    assert pipelines_run({"pipeline_names": []}) == ["__default__"]
    # kedro-dagster: one job filters __default__ by its domain's namespace.
    dagster = {"pipeline_name": "__default__", "node_namespaces": ["trustee_performance"]}
    assert pipelines_run(dagster) == ["trustee_performance"]
