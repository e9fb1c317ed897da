"""Every run leaves its log as JSON lines under data/08_reporting/logs, carrying the counts."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from tests.conftest import PROJECT_ROOT
from tests.helpers import run_kedro
from work_data_hub.json_lines import JsonLinesFileHandler


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

    files = events["files"][0]
    assert files["domain"] == "trustee_performance"
    assert [f["period"] for f in files["selected"]] == ["2024-11"]  # type: ignore[union-attr]
    assert files["superseded"][0]["path"].startswith("2024/11/V1/")  # type: ignore[index]

    done = events["domain_done"][0]
    report = json.loads(
        next((project_copy / "data/08_reporting/run_reports").glob("*.json")).read_text(
            encoding="utf-8"
        )
    )
    expected = report["domains"]["trustee_performance"]
    for field in (
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
    ):
        assert done[field] == expected[field], field
    assert done["rows_read"] > 0 and done["executed"] is False

    end = events["run_end"][0]
    assert end["status"] == "succeeded" and isinstance(end["seconds"], float)
    assert end["domains"] == {"trustee_performance": "planned"}
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
