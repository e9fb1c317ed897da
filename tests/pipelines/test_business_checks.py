"""Business checks stop a delivery that is valid cell by cell but wrong as a whole, before it
replaces anything: at plan time, and inside the plan's own transaction (psql too)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import URL

from tests.support.annuity import annuity_row, run_session, write_annuity_workbook
from tests.support.cli import run_kedro, run_trustee
from tests.support.database import TableDigest, run_psql, table_digest
from tests.support.workbooks import trustee_rows, write_trustee, write_workbook

pytestmark = pytest.mark.database

TRUSTEE = "trustee_performance"
ANNUITY = "annuity_performance"
FOURTEEN = [f"P{n:03d}" for n in range(1, 15)]


def _output(result: subprocess.CompletedProcess[str]) -> str:
    return " ".join((result.stdout + result.stderr).split())


def _report(project: Path, domain: str) -> dict[str, Any]:
    path = sorted((project / "data/08_reporting/run_reports").glob("run_*.json"))[-1]
    return dict(json.loads(path.read_text(encoding="utf-8"))["domains"][domain])


def _digest(connection: Any, table: str) -> TableDigest | None:
    """The table's digest without _run_id: a refused load leaves it as it was."""
    return table_digest(connection, table, ignoring_run_id=True)


def _rows(connection: Any, table: str) -> int:
    digest = _digest(connection, table)
    assert digest is not None, f"table {table} is absent"
    return digest.rows


def _ledger(connection: Any) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT run_id, domain, checks FROM wdh_loads ORDER BY committed_at")
        return list(cursor.fetchall())


@pytest.fixture
def november_loaded(project_copy: Path, database_url: URL, db_connection: Any) -> Path:
    """An inbox whose November (14 rows) is loaded; returns the inbox."""
    inbox = project_copy / "inbox"
    write_trustee(inbox / "2024-11 受托业绩.xlsx", 2024, 11, FOURTEEN)
    loaded = run_trustee(project_copy, f"inbox={inbox},execute=true", database_url=database_url)
    assert loaded.returncode == 0, _output(loaded)
    return inbox


def test_a_correction_of_14_rows_to_2_is_refused_until_volume_is_accepted(
    project_copy: Path, database_url: URL, db_connection: Any, november_loaded: Path
) -> None:
    inbox = november_loaded
    before, ledger_before = _digest(db_connection, TRUSTEE), _ledger(db_connection)
    write_trustee(inbox / "V2" / "2024-11 受托业绩.xlsx", 2024, 11, ["P001", "P002"])

    refused = run_trustee(project_copy, f"inbox={inbox},execute=true", database_url=database_url)
    assert refused.returncode == 1
    output = _output(refused)
    assert "check volume refused the load" in output
    assert "2024-11: 2 rows delivered, the warehouse holds 14 rows for 2024-11" in output
    assert "accept_checks=volume" in output
    assert _digest(db_connection, TRUSTEE) == before and _ledger(db_connection) == ledger_before
    report = _report(project_copy, TRUSTEE)
    assert report["status"] == "failed"
    assert [c["status"] for c in report["summary"]["checks"] if c["name"] == "volume"] == ["failed"]

    accepted = run_trustee(
        project_copy,
        f"inbox={inbox},execute=true,accept_checks=volume",
        database_url=database_url,
    )
    assert accepted.returncode == 0, _output(accepted)
    assert _rows(db_connection, TRUSTEE) == 2
    (*_, (_, _, checks)) = _ledger(db_connection)
    assert checks == [
        {
            "name": "volume",
            "severity": "error",
            "status": "accepted",
            "message": "2024-11: 2 rows delivered, the warehouse holds 14 rows for 2024-11 "
            "(a drop of 85.7%; max_drop 0.5)",
        }
    ]
    report = _report(project_copy, TRUSTEE)
    assert "-- accepted (accept_checks=volume)" in Path(report["plan_file"]).read_text("utf-8")
    (verdict,) = [c for c in report["checks"] if c["name"] == "volume"]
    assert verdict["status"] == "accepted"
    assert verdict["message"].startswith("2024-11: 2 rows delivered, the warehouse holds 14")


def test_the_refused_correction_planned_without_a_warehouse_fails_inside_psql(
    project_copy: Path, database_url: URL, db_connection: Any, november_loaded: Path
) -> None:
    inbox = november_loaded
    before = _digest(db_connection, TRUSTEE)
    write_trustee(inbox / "V2" / "2024-11 受托业绩.xlsx", 2024, 11, ["P001", "P002"])
    planned = run_trustee(project_copy, f"inbox={inbox}")  # plan-only: no warehouse at all
    assert planned.returncode == 0, _output(planned)
    plan = _report(project_copy, TRUSTEE)["plan_file"]
    assert "volume (error): not_evaluated" in Path(plan).read_text(encoding="utf-8")

    applied = run_psql(plan, database_url)
    assert applied.returncode != 0
    assert "ERROR:  volume: 2024-11: 2 rows delivered, the warehouse holds 14" in applied.stderr
    assert "accept_checks=volume" in applied.stderr
    assert _digest(db_connection, TRUSTEE) == before


def _annuity_month(groups: list[tuple[str, str]], rows_per_group: int = 2) -> list[dict[str, Any]]:
    rows = []
    for business, plan_type in groups:
        for n in range(rows_per_group):
            rows.append(
                annuity_row(
                    业务类型=business,
                    计划类型=plan_type,
                    组合代码=f"{business}{plan_type}{n}",
                    id=n,
                )
            )
    return rows


def test_an_annuity_correction_without_a_group_is_refused_until_coverage_is_accepted(
    project_copy: Path, database_url: URL, db_connection: Any
) -> None:
    inbox = project_copy / "inbox"
    groups = [("企年投资", "集合计划"), ("企年受托", "集合计划"), ("其他", "单一计划")]
    v1 = _annuity_month(groups)
    write_annuity_workbook(inbox / "V1" / "2024年11月年金终稿数据.xlsx", v1)
    params = f"inbox={inbox},execute=true"
    loaded = run_kedro(project_copy, "run", "--pipelines", ANNUITY, "--params", params,
                       database_url=database_url)  # fmt: skip
    assert loaded.returncode == 0, _output(loaded)
    # V2 lacks 其他/单一计划; it brings one more row elsewhere so volume holds.
    v2 = _annuity_month(groups[:2], rows_per_group=3)
    write_annuity_workbook(inbox / "V2" / "2024年11月年金终稿数据.xlsx", v2)
    before = _digest(db_connection, ANNUITY)

    refused = run_kedro(project_copy, "run", "--pipelines", ANNUITY, "--params", params,
                        database_url=database_url)  # fmt: skip
    assert refused.returncode == 1
    output = _output(refused)
    assert "check coverage refused the load" in output
    assert (
        "2024-11: 业务类型=其他, 计划类型=单一计划 holds 2 rows in the warehouse and none" in output
    )
    assert "accept_checks=coverage" in output
    assert _digest(db_connection, ANNUITY) == before

    accepted = run_kedro(project_copy, "run", "--pipelines", ANNUITY, "--params",
                         params + ",accept_checks=coverage", database_url=database_url)  # fmt: skip
    assert accepted.returncode == 0, _output(accepted)
    with db_connection.cursor() as cursor:
        cursor.execute(
            f'SELECT DISTINCT _source_file FROM {ANNUITY} WHERE "月度" = %s', ("2024-11-01",)
        )
        files = [row[0] for row in cursor.fetchall()]
        cursor.execute(f"SELECT count(*) FROM {ANNUITY}")
        (count,) = cursor.fetchone()
    assert files == ["V2/2024年11月年金终稿数据.xlsx"] and count == len(v2)


def test_apply_plan_refuses_a_plan_with_rejects_at_max_reject_ratio_0(
    project_copy: Path, database_url: URL, db_connection: Any
) -> None:
    # The sample's September trustee workbook carries one rejected cell.
    planned = run_trustee(project_copy, "max_files=3")
    assert planned.returncode == 0, _output(planned)
    plan = _report(project_copy, TRUSTEE)["plan_file"]
    params = f"plan={plan},execute=true"
    refused = run_kedro(project_copy, "run", "--pipelines", "apply_plan", "--params", params,
                        database_url=database_url)  # fmt: skip
    assert refused.returncode == 1
    assert "rejected rows: 1 of 39 rows were rejected" in _output(refused)
    assert "above max_reject_ratio 0.00%" in _output(refused)
    with db_connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('trustee_performance') IS NULL")
        assert cursor.fetchone()[0]
    applied = run_kedro(project_copy, "run", "--pipelines", "apply_plan", "--params",
                        params + ",max_reject_ratio=0.1", database_url=database_url)  # fmt: skip
    assert applied.returncode == 0, _output(applied)
    assert _rows(db_connection, TRUSTEE) == 38


def test_a_total_row_off_by_one_cell_refuses_the_delivery(
    project_copy: Path, database_url: URL, db_connection: Any
) -> None:
    inbox = project_copy / "inbox"
    rows = trustee_rows(2024, 11, ["P001", "P002", "P003"])  # 规模 1000, 2000, 3000
    rows.append(["合计", None, None, None, None, None, 6000])
    write_workbook(inbox / "2024-11 受托业绩.xlsx", rows)
    loaded = run_trustee(project_copy, f"inbox={inbox},execute=true", database_url=database_url)
    assert loaded.returncode == 0, _output(loaded)

    rows[2][6] = 2500  # one cell changed; the total row still says 6000
    write_workbook(inbox / "V2" / "2024-11 受托业绩.xlsx", rows)
    before = _digest(db_connection, TRUSTEE)
    refused = run_trustee(project_copy, f"inbox={inbox},execute=true", database_url=database_url)
    assert refused.returncode == 1
    output = _output(refused)
    assert "check total_row refused the load" in output
    assert (
        "row 5 (合计), column fund_scale: the total is 6000, the 3 rows read sum to 6500" in output
    )
    assert "off by -500" in output and "accept_checks=total_row" in output
    assert _digest(db_connection, TRUSTEE) == before


def test_continuity_against_the_warehouse_warns_with_row_numbers_and_loads(
    project_copy: Path, database_url: URL, db_connection: Any
) -> None:
    inbox = project_copy / "inbox"
    october = [annuity_row(月度="202410", 组合代码=f"90000{n}", id=n) for n in range(3)]
    write_annuity_workbook(inbox / "2024年10月年金终稿数据.xlsx", october)
    params = f"inbox={inbox},execute=true"
    loaded = run_kedro(project_copy, "run", "--pipelines", ANNUITY, "--params", params,
                       database_url=database_url)  # fmt: skip
    assert loaded.returncode == 0, _output(loaded)
    # November opens where October closed (1187.75), but for 900001, which opens at 1000.5.
    november = [
        annuity_row(月度="202411", 组合代码=f"90000{n}", 期初资产规模=1187.75, 期末资产规模=1375)
        for n in range(3)
    ]
    november[1] = annuity_row(月度="202411", 组合代码="900001")
    write_annuity_workbook(inbox / "2024年11月年金终稿数据.xlsx", november)
    line = (
        "计划代码=P1001, 组合代码=900001: 期初资产规模 of 2024-11 is 1000.5 "
        "(2024年11月年金终稿数据.xlsx row 3), 期末资产规模 of 2024-10 in the warehouse is "
        "1187.75 (2024年10月年金终稿数据.xlsx row 3), off by -187.25"
    )
    # diff=true stages the rows read-only, so it names the break before anything is loaded.
    before = _digest(db_connection, ANNUITY)
    reviewed = run_kedro(project_copy, "run", "--pipelines", ANNUITY, "--params",
                         f"inbox={inbox},diff=true", database_url=database_url)  # fmt: skip
    assert reviewed.returncode == 0, _output(reviewed)
    assert f"check continuity warned: {line}" in _output(reviewed)
    assert _digest(db_connection, ANNUITY) == before

    warned = run_kedro(project_copy, "run", "--pipelines", ANNUITY, "--params", params,
                       database_url=database_url)  # fmt: skip
    assert warned.returncode == 0, _output(warned)
    # The plan's transaction judged it (the stage it reads exists only there), and said so.
    assert f"check continuity warned: {line}" in _output(warned)
    reported = {c["name"]: c for c in _report(project_copy, ANNUITY)["checks"]}
    assert (reported["continuity"]["status"], reported["continuity"]["message"]) == ("warned", line)
    (*_, (_, _, checks)) = _ledger(db_connection)
    assert checks == [
        {"name": "continuity", "severity": "warn", "status": "warned", "message": line}
    ]


def test_the_sample_inbox_passes_its_checks(project_copy: Path, monkeypatch: Any) -> None:
    report = run_session(project_copy, monkeypatch, max_files=3)
    for domain in (TRUSTEE, ANNUITY):
        statuses = {(c["name"], c["status"]) for c in report["domains"][domain]["checks"]}
        assert not {status for _, status in statuses} & {"failed", "warned"}, statuses
    annuity = {
        c["name"]: c["status"]
        for c in report["domains"][ANNUITY]["checks"]
        if not c["reads_warehouse"]  # those are compared inside the plan's transaction
    }
    # October and November are both delivered: November opens where October closed.
    assert annuity["continuity"] == annuity["identity"] == annuity["total_row"] == "passed"
