"""Reviewed is applied: review, then apply exactly what was reviewed, as a user runs it (plan,
diff, check, apply), on the sample inbox against the real PostgreSQL."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import URL

from tests.support.cli import run_kedro, run_trustee
from tests.support.database import physical_rows, run_psql, table_digest, table_exists

pytestmark = pytest.mark.database

TABLE = "trustee_performance"


def _output(result: subprocess.CompletedProcess[str]) -> str:
    return " ".join((result.stdout + result.stderr).split())


def _domain_report(project: Path, domain: str = TABLE) -> dict[str, Any]:
    path = sorted((project / "data/08_reporting/run_reports").glob("run_*.json"))[-1]
    report: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return dict(report["domains"][domain])


def _plan(
    project: Path, params: str = "max_files=3,max_reject_ratio=0.1", **kwargs: Any
) -> tuple[Path, dict[str, Any]]:
    """A plan-only run; the plan file it wrote and its domain's run report."""
    result = run_trustee(project, params, **kwargs)
    assert result.returncode == 0, _output(result)
    report = _domain_report(project)
    return Path(report["plan_file"]), report


def _apply(
    project: Path, plan: Path, database_url: URL, extra: str = ""
) -> subprocess.CompletedProcess[str]:
    # The sample's plans hold one reject on purpose: apply_plan tolerates it as execute would.
    params = f"plan={plan},max_reject_ratio=0.1" + (f",{extra}" if extra else "")
    return run_kedro(
        project, "run", "--pipelines", "apply_plan", "--params", params, database_url=database_url
    )


def test_a_checked_plan_writes_nothing_and_applied_equals_an_execute_run(
    project_copy: Path, database_url: URL, db_connection: Any
) -> None:
    plan, planned = _plan(project_copy)

    checked = _apply(project_copy, plan, database_url)
    assert checked.returncode == 0, _output(checked)
    assert "it can be applied" in _output(checked)
    assert "rows to insert: 38" in _output(checked)  # the summary is printed
    assert not table_exists(db_connection, TABLE)

    applied = _apply(project_copy, plan, database_url, "execute=true")
    assert applied.returncode == 0, _output(applied)
    reviewed = table_digest(db_connection, TABLE, ignoring_run_id=True)
    assert reviewed.rows == planned["rows_planned"] == 38
    report = _domain_report(project_copy, "apply_plan")
    assert report["executed"] is True and report["rows_inserted"] == 38

    # An execute=true run of the same inputs replaces the same months with the same rows.
    executed = run_trustee(
        project_copy, "max_files=3,max_reject_ratio=0.1,execute=true", database_url=database_url
    )
    assert executed.returncode == 0, _output(executed)
    assert table_digest(db_connection, TABLE, ignoring_run_id=True) == reviewed


def test_the_summary_counts_are_what_execute_reports(project_copy: Path, database_url: URL) -> None:
    result = run_trustee(
        project_copy, "max_files=3,max_reject_ratio=0.1,execute=true", database_url=database_url
    )
    assert result.returncode == 0, _output(result)
    report = _domain_report(project_copy)
    summary = report["summary"]
    assert summary["rows_to_insert"] == report["rows_inserted"] == report["rows_planned"] == 38
    assert summary["rows_read"] == report["rows_read"]
    assert summary["rows_rejected"] == report["rows_rejected"] == 1
    assert report["rejects_file"].endswith(summary["rejects_file"])
    assert [f["path"] for f in summary["files"]] == [f["path"] for f in report["files"]["selected"]]
    assert sum(f["rows"] for f in summary["files"]) == report["rows_inserted"]
    assert [f["sha256"] for f in summary["files"]] == [
        f["sha256"] for f in report["files"]["selected"]
    ]
    assert summary["refresh_scopes"] == [
        {"report_date": "2024-09-01"},
        {"report_date": "2024-10-01"},
        {"report_date": "2024-11-01"},
    ]
    text = Path(report["plan_file"]).read_text(encoding="utf-8")
    assert f"-- plan_sha256: {summary['plan_sha256']}" in text
    assert "-- rows to insert: 38; rows read: 39; rows rejected: 1 (see " in text


def test_a_plan_with_one_changed_byte_is_refused_even_with_force(
    project_copy: Path, database_url: URL, db_connection: Any
) -> None:
    plan, _ = _plan(project_copy)
    original = plan.read_bytes()
    # One byte in the rows (the first row's first digit), one in a statement (its ORDER BY).
    rows_start = original.index(b"\n", original.index(b"\n-- step copy:") + 1)
    rows_start = original.index(b";\n", rows_start) + 2
    digit = next(i for i in range(rows_start, len(original)) if original[i : i + 1].isdigit())
    changed_rows = original[:digit] + b"9" + original[digit + 1 :]
    if changed_rows == original:
        changed_rows = original[:digit] + b"8" + original[digit + 1 :]
    statement_at = original.index(b"ORDER BY")
    changed_sql = original[:statement_at] + b"order BY" + original[statement_at + 8 :]
    for changed in (changed_rows, changed_sql):
        plan.write_bytes(changed)
        for extra in ("", "execute=true,force=true"):
            result = _apply(project_copy, plan, database_url, extra)
            assert result.returncode != 0
            output = _output(result)
            assert "modified" in output and "never applied, even with force=true" in output
            assert not table_exists(db_connection, TABLE)


def test_diff_reports_what_the_plan_replaces_and_never_writes(
    project_copy: Path, database_url: URL, db_connection: Any
) -> None:
    _, empty = _plan(
        project_copy, "max_files=3,max_reject_ratio=0.1,diff=true", database_url=database_url
    )
    assert empty["diff"] == {
        "rows_to_delete": 0,
        "rows_to_insert": 38,
        "keys_new": 38,
        "keys_changed": 0,
        "keys_unchanged": 0,
        "keys_disappearing": 0,
        "table_exists": False,
        # No table, no rows to compare: the row-level lists stay empty and uncounted.
        "matched_by": [],
        "rows_removed": None,
        "rows_changed": None,
        "rows_added": None,
        "removed": [],
        "changed": [],
        "added": [],
        "rows_file": None,
    }
    assert not table_exists(db_connection, TABLE)

    loaded = run_trustee(
        project_copy, "max_files=3,max_reject_ratio=0.1,execute=true", database_url=database_url
    )
    assert loaded.returncode == 0, _output(loaded)
    before = physical_rows(db_connection, TABLE)
    plan, again = _plan(
        project_copy, "max_files=3,max_reject_ratio=0.1,diff=true", database_url=database_url
    )
    # Every row it names (none) is in the file beside the run report.
    assert Path(again["diff"].pop("rows_file")).read_bytes() == b""
    assert again["diff"] == {
        "rows_to_delete": 38,
        "rows_to_insert": 38,
        "keys_new": 0,
        "keys_changed": 0,
        "keys_unchanged": 38,
        "keys_disappearing": 0,
        "table_exists": True,
        "matched_by": ["report_date", "plan_code", "company_code"],
        "rows_removed": 0,
        "rows_changed": 0,
        "rows_added": 0,
        "removed": [],
        "changed": [],
        "added": [],
    }
    assert physical_rows(db_connection, TABLE) == before
    text = plan.read_text(encoding="utf-8")
    assert "-- against the warehouse (diff=true, read-only):" in text
    assert "--   rows to delete: 38" in text
    assert "keys: 0 new, 0 changed, 38 unchanged, 0 would disappear" in text

    # One month only: the other months' rows are outside its scope and not counted.
    _, one_month = _plan(project_copy, "max_files=1,diff=true", database_url=database_url)
    assert one_month["diff"]["rows_to_delete"] == one_month["diff"]["rows_to_insert"] == 14


def test_a_plan_only_run_without_diff_never_connects(project_copy: Path) -> None:
    unreachable = "postgresql://nobody:secret@127.0.0.1:1/none"
    result = run_trustee(project_copy, "max_files=1", env={"WDH_DATABASE__URI": unreachable})
    assert result.returncode == 0, _output(result)
    assert "diff" not in _domain_report(project_copy)


def test_apply_plan_is_a_reserved_name(project_copy: Path) -> None:
    path = project_copy / "conf/base/data_sources.yml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("  trustee_performance:", "  apply_plan:", 1), encoding="utf-8")
    result = run_kedro(project_copy, "registry", "list")
    assert result.returncode != 0
    assert "domain 'apply_plan': the name is reserved" in _output(result)


def test_a_second_apply_is_refused_as_already_applied(
    project_copy: Path, database_url: URL, db_connection: Any
) -> None:
    plan, _ = _plan(project_copy)
    first = _apply(project_copy, plan, database_url, "execute=true")
    assert first.returncode == 0, _output(first)
    before = physical_rows(db_connection, TABLE)

    again = _apply(project_copy, plan, database_url, "execute=true,force=true")
    assert again.returncode != 0
    assert "already applied" in _output(again)
    by_psql = run_psql(plan, database_url)
    assert by_psql.returncode != 0 and "already applied" in by_psql.stderr
    assert physical_rows(db_connection, TABLE) == before


def test_a_plan_made_before_a_newer_load_is_stale_and_force_applies_it(
    project_copy: Path, database_url: URL, db_connection: Any
) -> None:
    plan, _ = _plan(project_copy)
    newer = run_trustee(project_copy, "max_files=1,execute=true", database_url=database_url)
    assert newer.returncode == 0, _output(newer)
    before = physical_rows(db_connection, TABLE)

    refused = _apply(project_copy, plan, database_url, "execute=true")
    assert refused.returncode != 0
    assert "stale" in _output(refused) and "force=true" in _output(refused)
    by_psql = run_psql(plan, database_url)
    assert by_psql.returncode != 0 and "stale" in by_psql.stderr
    assert physical_rows(db_connection, TABLE) == before

    forced = _apply(project_copy, plan, database_url, "execute=true,force=true")
    assert forced.returncode == 0, _output(forced)
    assert table_digest(db_connection, TABLE, ignoring_run_id=True).rows == 38
