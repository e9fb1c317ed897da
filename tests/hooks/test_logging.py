"""What an operator sees: JSON-lines run logs under data/08_reporting/logs, and progress."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path
from types import SimpleNamespace

import pytest
from rich.console import Console

from tests.conftest import PROJECT_ROOT
from tests.support.cli import run_kedro
from work_data_hub.hooks.json_lines import JsonLinesFileHandler
from work_data_hub.hooks.progress import ProgressHooks
from work_data_hub.hooks.run_log import RunLogHooks

COUNTED_FIELDS = (
    "rows_read",
    "rows_skipped",
    "rows_rejected",
    "rows_planned",
    "rows_deleted",
    "rows_inserted",
    "table",
    "mode",
    "executed",
    "seconds",
)


def _events(path: Path) -> dict[str, list[dict[str, object]]]:
    events: dict[str, list[dict[str, object]]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        events.setdefault(str(record.get("event")), []).append(record)
    return events


def test_a_default_run_writes_json_lines_with_the_run_report_events(project_copy: Path) -> None:
    result = run_kedro(project_copy, "run")
    assert result.returncode == 0, result.stderr + result.stdout

    logs = list((project_copy / "data/08_reporting/logs").glob("run_*.jsonl"))
    assert len(logs) == 1, logs
    assert oct(logs[0].stat().st_mode & 0o777) == oct(0o600)
    events = _events(logs[0])
    run_id = events["run_start"][0]["run_id"]
    assert logs[0].name == f"run_{run_id}.jsonl"
    assert events["run_start"][0]["params"]["execute"] is False  # type: ignore[index]

    report = json.loads(
        next((project_copy / "data/08_reporting/run_reports").glob("*.json")).read_text(
            encoding="utf-8"
        )
    )
    files = {event["domain"]: event for event in events["files"]}
    done = {event["domain"]: event for event in events["domain_done"]}
    assert set(files) == set(done) == set(report["domains"]) and len(report["domains"]) >= 2
    for domain, expected in report["domains"].items():
        selected = [(f["path"], f["period"]) for f in expected["files"]["selected"]]
        superseded = [(f["path"], f["period"]) for f in expected["files"]["superseded"]]
        assert [(f["path"], f["period"]) for f in files[domain]["selected"]] == selected
        assert [(f["path"], f["period"]) for f in files[domain]["superseded"]] == superseded
        for field in COUNTED_FIELDS:
            # A count nobody measured (deleted, inserted in a plan-only run) is absent.
            assert done[domain].get(field) == expected.get(field), (domain, field)
        assert None not in done[domain].values() and None not in expected.values()
        assert "rows_deleted" not in done[domain] and "None" not in str(done[domain]["message"])
        assert done[domain]["rows_read"] > 0 and done[domain]["executed"] is False
    trustee = files["trustee_performance"]
    assert [f["period"] for f in trustee["selected"]] == ["2024-11"]
    assert trustee["superseded"][0]["path"].startswith("2024/11/V1/")

    end = events["run_end"][0]
    assert end["status"] == "succeeded" and isinstance(end["seconds"], float)
    assert end["domains"] == dict.fromkeys(report["domains"], "planned")
    # Every line of the run carries its id, also the node and Kedro lines without an event.
    assert {r["run_id"] for rs in events.values() for r in rs} == {run_id}
    assert "None" in events  # plain log lines (Kedro's, the nodes') are kept too


def test_the_formatter_writes_one_parseable_object_per_record(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "run.jsonl"
    path.parent.mkdir()
    handler = JsonLinesFileHandler(path, fields={"run_id": "r1"})
    logger = logging.getLogger("tests.json_lines")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        logger.info('quote " and\nnewline, 中文 %s', 1, extra={"event": "x", "rows": 3})
        try:
            raise ValueError("boom")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
        handler.close()
    first, second = (json.loads(line) for line in path.read_text(encoding="utf-8").splitlines())
    assert first["message"] == 'quote " and\nnewline, 中文 1'
    assert (first["event"], first["rows"], first["run_id"]) == ("x", 3, "r1")
    assert second["level"] == "ERROR" and "ValueError: boom" in second["exception"]
    assert "args" not in first and "msg" not in first


def test_the_console_config_names_only_classes_kedro_trusts_without_an_allowlist() -> None:
    """conf/logging.yml is applied when Kedro is imported; a project class there would need
    KEDRO_LOGGING_MODULE_ALLOWLIST in every user's environment."""
    import yaml
    from kedro.framework.project import _DEFAULT_LOGGING_MODULE_ALLOWLIST, _ProjectLogging

    config = yaml.safe_load((PROJECT_ROOT / "conf/logging.yml").read_text(encoding="utf-8"))
    checker = _ProjectLogging.__new__(_ProjectLogging)
    checker._logging_module_allowlist = _DEFAULT_LOGGING_MODULE_ALLOWLIST
    checker._validate_logging_config(config)  # raises ValueError for an untrusted class


class _Catalog(dict[str, object]):
    def load(self, name: str) -> object:
        return self[name]


def _read_step(hooks: ProgressHooks) -> tuple[object, list[str]]:
    opened: list[str] = []
    files = ["2024/10/a.xlsx", "2024/11/b.xlsx"]
    manifest = SimpleNamespace(selection=SimpleNamespace(selected=files))
    workbooks = {path: (lambda path=path: opened.append(path) or path) for path in files}
    hooks.before_pipeline_run(catalog=_Catalog({"params:execute": True}))
    node = SimpleNamespace(name="d.clean_workbooks")
    override = hooks.before_node_run(
        node=node, inputs={"d.file_manifest": manifest, "d.inbox_workbooks": workbooks}
    )
    loaders = override["d.inbox_workbooks"] if override else workbooks
    assert [loaders[path]() for path in files] == files  # the node still gets each workbook
    hooks.after_node_run(node=node)
    plan = SimpleNamespace(rows_to_insert=14, table="t")
    hooks.before_dataset_saved(dataset_name="d.load_plan", data=plan)
    hooks.after_dataset_saved(dataset_name="d.load_plan")
    hooks.after_pipeline_run()
    return override, opened


def test_progress_shows_each_workbook_and_the_copy_on_a_terminal() -> None:
    screen = io.StringIO()
    override, opened = _read_step(ProgressHooks(Console(file=screen, force_terminal=True)))
    assert override is not None and opened == ["2024/10/a.xlsx", "2024/11/b.xlsx"]
    shown = screen.getvalue()
    assert "d: reading 2024/11/b.xlsx (2/2)" in shown
    assert "d: loading 14 rows into t (COPY)" in shown


def test_progress_is_silent_when_output_is_not_a_terminal() -> None:
    pipe = io.StringIO()
    override, opened = _read_step(ProgressHooks(Console(file=pipe)))
    assert override is None  # the node's inputs are untouched
    assert opened == ["2024/10/a.xlsx", "2024/11/b.xlsx"]
    assert pipe.getvalue() == ""


def test_an_unusable_log_folder_is_reported_and_does_not_stop_the_run(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("", encoding="utf-8")
    hooks = RunLogHooks()
    handlers = list(logging.getLogger().handlers)
    with caplog.at_level(logging.WARNING):
        hooks.before_pipeline_run(
            run_params={"run_id": "r1"},
            catalog=_Catalog({"params:run_log_dir": str(blocker / "logs")}),
        )
    hooks.after_pipeline_run()
    assert logging.getLogger().handlers == handlers
    assert "no JSON-lines log" in caplog.text and "run_log_dir" in caplog.text
