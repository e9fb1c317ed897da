"""`kedro run --params execute=true` as a user runs it, on the sample inbox in a project copy."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import polars as pl
import yaml
from openpyxl import load_workbook
from sqlalchemy.engine import URL

from tests.support.browser import visible_text
from tests.support.cli import run_kedro
from tests.support.database import physical_rows, psql_apply, table_digest, table_exists
from work_data_hub.config import parse_domains
from work_data_hub.load.plan import build_load_plan

TABLE = "trustee_performance"
NEWEST_WORKBOOK = Path("data/01_raw/2024/11/V2/2024-11 受托业绩.xlsx")
PASSWORD = "Cli-Pw-7d1c-not-for-logs"


def _report(project: Path) -> dict[str, Any]:
    (path,) = sorted((project / "data/08_reporting/run_reports").glob("run_*.json"))[-1:]
    report: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return report


def _reports(project: Path) -> list[Path]:
    return sorted((project / "data/08_reporting/run_reports").glob("run_*.json"))


def _output(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout + result.stderr


def test_execute_loads_the_sample_inbox_like_the_plan_and_prints_the_report(
    project_copy: Path, database_url: URL, db_connection: Any
) -> None:
    result = run_kedro(project_copy, "run", "--params", "execute=true", database_url=database_url)
    assert result.returncode == 0, _output(result)
    output = " ".join(_output(result).split())
    (report_path,) = _reports(project_copy)
    assert f"run report: {report_path.relative_to(project_copy)}" in output

    # The console's last line names the page of the same report, which shows its numbers.
    page = report_path.with_suffix(".html")
    last_line = _output(result).strip().splitlines()[-1]
    assert last_line.endswith(str(page.relative_to(project_copy))), last_line
    assert oct(page.stat().st_mode & 0o777) == oct(0o600)
    seen = visible_text(page)
    assert f"{TABLE} loaded 1 14 2 0 14 14 0 14" in seen, seen

    domain = json.loads(report_path.read_text(encoding="utf-8"))["domains"][TABLE]
    assert domain["status"] == "loaded" and domain["executed"] is True
    assert (domain["rows_deleted"], domain["rows_inserted"]) == (0, domain["rows_planned"])
    assert domain["rows_inserted"] == 14
    assert isinstance(domain["transaction_seconds"], float)
    # Each step's seconds, and the rows' rendering beside the COPY (one pass).
    steps = domain["transaction_steps"]
    assert {"copy", "copy_render", "copy_digest", "copy_waited", "commit"} <= set(steps), steps
    executed = table_digest(db_connection, TABLE, ignoring_run_id=True)
    assert executed.rows == 14

    # The plan it wrote, applied by psql to the table as it was (absent), gives the same table.
    with db_connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE {TABLE}, wdh_loads")  # a plan is applied once
    psql_apply(domain["plan_file"], database_url)
    assert table_digest(db_connection, TABLE, ignoring_run_id=True) == executed
    # A second identical run: tests/datasets/test_execute_load.py (in-process, faster).


def test_the_prod_environment_executes_without_the_param(
    project_copy: Path, database_url: URL, db_connection: Any
) -> None:
    # conf/prod/globals.yml says execute: true; the registry's own config loader must not
    # rebind ${globals:...} to another environment's (it did: --env prod only planned).
    result = run_kedro(
        project_copy, "run", "--env", "prod", "--pipelines", TABLE, database_url=database_url
    )
    assert result.returncode == 0, _output(result)
    domain = _report(project_copy)["domains"][TABLE]
    assert domain["status"] == "loaded" and domain["executed"] is True
    assert table_exists(db_connection, TABLE)


def test_a_load_failing_midway_exits_non_zero_and_leaves_the_table_as_before(
    project_copy: Path, database_url: URL, db_connection: Any
) -> None:
    domains = parse_domains(
        yaml.safe_load((project_copy / "conf/base/data_sources.yml").read_text(encoding="utf-8"))
    )
    empty = build_load_plan(
        pl.DataFrame(schema=[*domains[TABLE].columns, "_source_file", "_source_row"]),
        domains[TABLE],
        run_id="setup",
        rows_read=0,
        rows_rejected=0,
        max_reject_ratio=0,
    )
    (create,) = (s.sql for s in empty.statements if s.purpose == "create_table")
    with db_connection.cursor() as cursor:
        cursor.execute(create)
        cursor.execute(
            f"INSERT INTO {TABLE} VALUES ('2024-10-01', 'KEEP', 'ME', 0.01, 1, 10, 'x.xlsx', 2, 'old')"
        )
        cursor.execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT small_funds CHECK (fund_scale < 100)")
    before = physical_rows(db_connection, TABLE)

    result = run_kedro(project_copy, "run", "--params", "execute=true", database_url=database_url)
    assert result.returncode != 0
    output = " ".join(_output(result).split())
    assert 'violates check constraint "small_funds"' in output
    assert "The transaction was rolled back: the table is unchanged" in output
    assert physical_rows(db_connection, TABLE) == before

    report = _report(project_copy)
    domain = report["domains"][TABLE]
    assert report["status"] == "failed" and domain["status"] == "failed"
    assert domain["executed"] is False and Path(domain["plan_file"]).is_file()
    assert "small_funds" in domain["error"]


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_an_unreachable_database_stops_the_run_without_showing_the_password(
    project_copy: Path,
) -> None:
    port = _closed_port()
    uri = f"postgresql://loader:{PASSWORD}@127.0.0.1:{port}/warehouse"
    result = run_kedro(
        project_copy, "run", "--params", "execute=true", env={"WDH_DATABASE__URI": uri}
    )
    assert result.returncode != 0
    output = " ".join(_output(result).split())
    assert (
        f"Cannot connect to the warehouse (host 127.0.0.1, port {port}, database warehouse"
        in output
    )
    assert "WDH_DATABASE__URI, WDH_DATABASE__HOST, WDH_DATABASE__PORT" in output
    assert PASSWORD not in _output(result)
    written = [p for p in project_copy.rglob("*") if p.is_file() and "data/01_raw" not in str(p)]
    written = [p for p in written if "/src/" not in str(p) and "/conf/" not in str(p)]
    # The ledger is read first: the run stops before any workbook is read or any plan made.
    assert not any(p.suffix == ".sql" for p in written) and any(
        p.suffix == ".json" for p in written
    )
    for path in written:
        assert PASSWORD.encode() not in path.read_bytes(), path
    # The first domain to load (annuity_performance) failed; this one had started and was
    # stopped by that failure, with no error of its own.
    domains = _report(project_copy)["domains"]
    assert domains["annuity_performance"]["status"] == "failed"
    assert domains[TABLE]["status"] == "stopped" and "error" not in domains[TABLE]


def test_rejected_rows_above_max_reject_ratio_make_execute_load_nothing(
    project_copy: Path, database_url: URL, db_connection: Any
) -> None:
    workbook_path = project_copy / NEWEST_WORKBOOK
    workbook = load_workbook(workbook_path)
    sheet = workbook.worksheets[0]
    headers = [" ".join(str(cell.value).split()) for cell in sheet[1]]
    sheet.cell(row=2, column=headers.index("收益率") + 1, value="not a rate")
    workbook.save(workbook_path)

    # 1 of 14 rows is 7.1%: above the 5% allowed, so nothing loads (the param reaches the load).
    refused = run_kedro(
        project_copy,
        "run",
        "--params",
        "execute=true,max_reject_ratio=0.05",
        database_url=database_url,
    )
    assert refused.returncode != 0
    output = " ".join(_output(refused).split())
    assert "1 of 14 rows were rejected (7.14%, above max_reject_ratio 5.00%)" in output
    assert "nothing was loaded" in output
    assert not table_exists(db_connection, TABLE)
    assert list((project_copy / "data/08_reporting/rejects").rglob("*.csv"))
    domain = _report(project_copy)["domains"][TABLE]
    assert domain["rows_rejected"] == 1 and Path(domain["plan_file"]).is_file()
    # A ratio that allows it: tests/datasets/test_execute_load.py (in-process, faster).


def test_a_plan_only_run_never_imports_the_database_driver(project_copy: Path) -> None:
    script = textwrap.dedent(
        """
        import sys
        from pathlib import Path

        class Refuse:
            def find_spec(self, name, path=None, target=None):
                if name == "psycopg2" or name.startswith("psycopg2."):
                    raise ImportError("plan-only runs must not import psycopg2")
                return None

        sys.meta_path.insert(0, Refuse())
        from kedro.framework.session import KedroSession
        from kedro.framework.startup import bootstrap_project

        bootstrap_project(Path.cwd())
        with KedroSession.create(project_path=Path.cwd()) as session:
            session.run()
        assert "psycopg2" not in sys.modules, "psycopg2 was imported"
        print("PLANNED WITHOUT PSYCOPG2")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=project_copy,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        env={**_clean_env(), "WDH_DATABASE__URI": "postgresql://nobody@127.0.0.1:1/none"},
    )
    assert result.returncode == 0, _output(result)
    assert "PLANNED WITHOUT PSYCOPG2" in result.stdout
    assert list((project_copy / "data/08_reporting/plans").rglob("*.sql"))


def _clean_env() -> dict[str, str]:
    return {
        key: value for key, value in os.environ.items() if not key.startswith("WDH_DATABASE__")
    } | {"NO_COLOR": "1", "PYTHONUTF8": "1"}


def test_an_identical_second_execute_run_skips_every_file_and_exits_0(
    project_copy: Path, database_url: URL, db_connection: Any
) -> None:
    first = run_kedro(
        project_copy, "run", "--pipelines", TABLE, "--params", "execute=true,max_files=2",
        database_url=database_url,
    )  # fmt: skip
    assert first.returncode == 0, _output(first)
    first_run = _report(project_copy)["run_id"]
    loaded = table_digest(db_connection, TABLE, ignoring_run_id=True)

    second = run_kedro(
        project_copy, "run", "--pipelines", TABLE, "--params", "execute=true,max_files=2",
        database_url=database_url,
    )  # fmt: skip
    assert second.returncode == 0, _output(second)
    domain = _report(project_copy)["domains"][TABLE]
    assert domain["status"] == "already_loaded"
    skipped = domain["files"]["already_loaded"]
    assert sorted((f["path"], f["run_id"]) for f in skipped) == [
        ("2024/10/2024年10月受托业绩.xlsx", first_run),
        ("2024/11/V2/2024-11 受托业绩.xlsx", first_run),
    ]
    assert domain["files"]["selected"] == []
    assert "already loaded 2024/11/V2/2024-11 受托业绩.xlsx" in " ".join(_output(second).split())
    assert (
        table_digest(db_connection, TABLE, ignoring_run_id=True) == loaded
    )  # not even _run_id changed
    with db_connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM wdh_loads")
        assert cursor.fetchone()[0] == 1
