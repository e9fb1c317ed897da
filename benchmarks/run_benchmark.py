"""Side by side: the old recipe, pandas ``to_sql``, and this project's plan and execute runs.

Run from the project root (needs PostgreSQL on 127.0.0.1:5432 for the loading methods)::

    uv run python benchmarks/run_benchmark.py            # 100k and 500k rows, 3-6 minutes
    uv run python benchmarks/run_benchmark.py --quick    # 20k and 100k rows, 1-2 minutes
    uv run python benchmarks/run_benchmark.py --rows 50000 200000 --old-max-rows 200000
    uv run python benchmarks/run_benchmark.py --profile  # adds a cProfile of one execute run

(a) and (b) run on at most ``--old-max-rows`` rows (default 100000) and are extrapolated above
that (marked ``*``: measured start-up plus per-row work scaled by rows), because openpyxl alone
needs minutes for 500k rows on this machine.

Workbooks are generated once into ``benchmarks/output/`` (gitignored) and reused. Every method
runs as its own child process, so its wall time includes start-up and its peak RSS is its own
(``os.wait4``). The project runs with ``python -m kedro run`` in a scratch copy of the project
under ``benchmarks/output/project`` (so no benchmark output lands in the repository), against a
fresh database per method; per-step seconds come from the run report JSON.

Methods:
  (a) old     pandas + openpyxl read, a pydantic model validating each row,
              ``psycopg2.extras.execute_values(page_size=1000)`` into the project's table
  (b) to_sql  pandas + openpyxl read, ``DataFrame.to_sql`` of the raw cells (no validation)
  (c) execute ``kedro run --params execute=true,inbox=...``
  (d) plan    ``kedro run --params execute=false,inbox=...`` (writes the psql plan only)
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import io
import json
import math
import os
import pstats
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unicodedata
import uuid
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import openpyxl  # noqa: F401  (loaded at start-up, so reading times only reading)
import pandas as pd
import polars as pl
import psycopg2
from kedro.framework.startup import bootstrap_project
from psycopg2.extras import execute_values
from pydantic import BaseModel, ValidationError, field_validator
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from workbooks import write_trustee_workbook

from work_data_hub.cleaning.engine import clean_sheet, combine
from work_data_hub.cleaning.reading import normalise_header, read_sheet
from work_data_hub.config.project import load_domains
from work_data_hub.datasets.excel_workbook_dataset import ExcelWorkbookDataset
from work_data_hub.load.plan import build_load_plan
from work_data_hub.pipelines.ingest.nodes import clean_workbooks, select_workbooks

HERE = Path(__file__).resolve().parent
PROJECT_ROOT = HERE.parent
OUTPUT = HERE / "output"
DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
DOMAIN = "trustee_performance"
TRUSTEE_FILE = "2024_11_受托业绩报告.xlsx"
# Rows with a bad cell (one in BAD_ROW_EVERY) are rejected; execute tolerates that share.
MAX_REJECT_RATIO = 0.001
TARGET_SPEEDUP = 8.0
TARGET_ROWS_PER_SECOND = 50_000
TARGET_PLAN_RATIO = 1.3
TARGET_RSS_MB = 1536
TARGET_SCALING = 1.3


# --------------------------------------------------------------------------- children
# Each method below runs in a child process (``--child``) and prints its steps as JSON.


def _connect(url: str) -> Any:
    return psycopg2.connect(
        **make_url(url).translate_connect_args(username="user", database="dbname")
    )


def _read_with_openpyxl(path: Path) -> Any:
    frame = pd.read_excel(path, sheet_name=0, engine="openpyxl", dtype=object)
    frame.columns = [normalise_header(column) for column in frame.columns]
    return frame


def _trustee_table_ddl() -> str:
    """The project's own CREATE TABLE for trustee_performance, so both recipes fill one table."""
    bootstrap_project(PROJECT_ROOT)
    domains, _ = load_domains(PROJECT_ROOT)
    domain = domains["trustee_performance"]
    empty = pl.DataFrame(schema=[*domain.columns, "_source_file", "_source_row"])
    plan = build_load_plan(
        empty, domain, run_id="old", rows_read=0, rows_rejected=0, max_reject_ratio=0
    )
    return next(s.sql for s in plan.statements if s.purpose == "create_table")


def child_old_recipe(path: Path, url: str) -> dict[str, float]:
    """(a) What the replaced system did: openpyxl, per-row pydantic, execute_values."""
    steps: dict[str, float] = {}
    started = time.perf_counter()
    frame = _read_with_openpyxl(path)
    steps["read"] = time.perf_counter() - started

    def number(value: Any) -> Decimal | None:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return None
        text = re.sub(r"[,\s¥$]", "", unicodedata.normalize("NFKC", str(value)))
        if not text:
            return None
        percent = text.endswith("%")
        try:
            parsed = Decimal(text.removesuffix("%"))
        except InvalidOperation as exc:
            raise ValueError("not a number") from exc
        return parsed / 100 if percent else parsed

    def code(value: Any) -> str:
        text = re.sub(r"[-_\s]", "", unicodedata.normalize("NFKC", str(value)).upper())
        if not re.fullmatch(r"[A-Z0-9.]+", text):
            raise ValueError("bad code")
        return text

    class TrusteeRow(BaseModel):
        report_date: dt.date
        plan_code: str
        company_code: str
        return_rate: Decimal | None
        net_asset_value: Decimal | None
        fund_scale: Decimal | None

        @field_validator("plan_code", "company_code", mode="before")
        @classmethod
        def _code(cls, value: Any) -> str:
            return code(value)

        @field_validator("return_rate", "net_asset_value", "fund_scale", mode="before")
        @classmethod
        def _number(cls, value: Any) -> Decimal | None:
            return number(value)

    def period(year: Any, month: Any) -> dt.date:
        y = int(float(re.sub(r"年$", "", str(year).strip())))
        m = int(float(re.sub(r"月$", "", str(month).strip())))
        return dt.date(y, m, 1)

    started = time.perf_counter()
    rows, rejected = [], 0
    records = frame.to_dict("records")
    for number_in_sheet, record in enumerate(records, start=2):
        if (
            all(v is None or (isinstance(v, float) and math.isnan(v)) for v in record.values())
            or record.get("年") == "合计"
        ):
            continue
        try:
            row = TrusteeRow(
                report_date=period(record["年"], record["月"]),
                plan_code=record["计划代码"],
                company_code=record["公司代码"],
                return_rate=record["收益率"],
                net_asset_value=record["净值"],
                fund_scale=record["规模"],
            )
        except (ValidationError, ValueError):
            rejected += 1
            continue
        rows.append(
            (
                row.report_date,
                row.plan_code,
                row.company_code,
                row.return_rate,
                row.net_asset_value,
                row.fund_scale,
                path.name,
                number_in_sheet,
                "old",
            )
        )
    steps["validate"] = time.perf_counter() - started

    ddl = _trustee_table_ddl()  # set-up, not timed: the old system had its table already
    started = time.perf_counter()
    connection = _connect(url)
    with connection, connection.cursor() as cursor:
        cursor.execute(ddl)
        cursor.execute(
            "DELETE FROM trustee_performance WHERE report_date = ANY(%s)",
            (sorted({row[0] for row in rows}),),
        )
        execute_values(
            cursor,
            "INSERT INTO trustee_performance (report_date, plan_code, company_code, return_rate, "
            "net_asset_value, fund_scale, _source_file, _source_row, _run_id) VALUES %s",
            rows,
            page_size=1000,
        )
    connection.close()
    steps["load"] = time.perf_counter() - started
    steps["rows_loaded"] = len(rows)
    steps["rows_rejected"] = rejected
    return steps


def child_to_sql(path: Path, url: str) -> dict[str, float]:
    """(b) pandas + openpyxl and ``DataFrame.to_sql`` (what SQLTableDataset does), raw cells."""
    steps: dict[str, float] = {}
    started = time.perf_counter()
    frame = _read_with_openpyxl(path).astype("string")
    steps["read"] = time.perf_counter() - started
    started = time.perf_counter()
    engine = create_engine(make_url(url).set(drivername="postgresql+psycopg2"))
    frame.to_sql("trustee_performance_raw", engine, if_exists="replace", index=False)
    engine.dispose()
    steps["load"] = time.perf_counter() - started
    steps["rows_loaded"] = len(frame)
    return steps


# --------------------------------------------------------------------------- parent


def _run_child(command: list[str], cwd: Path, env: dict[str, str], log: Path) -> dict[str, Any]:
    """Run ``command``; wall seconds, peak RSS (MB) and exit code of that child alone."""
    with log.open("wb") as output:
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=output, stderr=output)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    return {
        "seconds": seconds,
        "cpu": usage.ru_utime + usage.ru_stime,
        "rss_mb": usage.ru_maxrss / 1024,
        "code": process.returncode,
    }


def _child_env() -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("WDH_DATABASE__") and k != "PYTHONDONTWRITEBYTECODE"
    }
    env.update({"PYTHONUTF8": "1", "NO_COLOR": "1", "COLUMNS": "200"})
    # Start-up as on an installed machine: with PYTHONDONTWRITEBYTECODE (set in some sandboxes)
    # every child would recompile every module it imports, seconds per kedro start. The
    # bytecode goes to the gitignored output folder, not into the virtual environment.
    env["PYTHONPYCACHEPREFIX"] = str(OUTPUT / "pycache")
    return env


def warm_up(project: Path) -> None:
    """One untimed run of each kind of child, so every method starts with compiled bytecode."""
    env = _child_env()
    log = OUTPUT / "warm_up.log"
    sample = PROJECT_ROOT / "data" / "01_raw"
    commands = [
        [sys.executable, str(Path(__file__).resolve()), "--child", "imports"],
        [sys.executable, "-m", "kedro", "run", "--params", f"inbox={sample}"],
    ]
    for command in commands:
        if _run_child(command, project, env, log)["code"]:
            raise SystemExit(f"warm-up {command[1:]} failed; see {log}")


class Server:
    """Fresh databases on the benchmark server, dropped at the end."""

    def __init__(self, url: str) -> None:
        self.url = make_url(url)
        self.created: list[str] = []

    def _admin(self) -> Any:
        connection = _connect(self.url.render_as_string(hide_password=False))
        connection.autocommit = True
        return connection

    def fresh(self) -> str:
        name = f"wdh_bench_{uuid.uuid4().hex[:10]}"
        admin = self._admin()
        with admin.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        admin.close()
        self.created.append(name)
        return self.url.set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        admin = self._admin()
        with admin.cursor() as cursor:
            for name in self.created:
                cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def scratch_project() -> Path:
    """A copy of the project's code and conf to run kedro in; its data/ stays out of the repo."""
    target = OUTPUT / "project"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for name in ("pyproject.toml", ".kedro.yml", ".telemetry"):
        if (PROJECT_ROOT / name).exists():
            shutil.copy2(PROJECT_ROOT / name, target / name)
    shutil.copytree(PROJECT_ROOT / "conf", target / "conf", ignore=shutil.ignore_patterns("local"))
    (target / "conf" / "local").mkdir(exist_ok=True)
    shutil.copytree(
        PROJECT_ROOT / "src",
        target / "src",
        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"),
    )
    return target


def workbook(rows: int) -> Path:
    """The trustee workbook with ``rows`` data rows, generated on first use."""
    path = OUTPUT / f"inbox_{rows}" / TRUSTEE_FILE
    if not path.exists():
        started = time.perf_counter()
        write_trustee_workbook(path, rows)
        print(f"generated {path.relative_to(PROJECT_ROOT)} in {time.perf_counter() - started:.1f}s")
    return path


def run_recipe(method: str, path: Path, server: Server, rows: int) -> dict[str, Any]:
    url = server.fresh()
    handle, steps_file = tempfile.mkstemp(suffix=".json", dir=OUTPUT)
    os.close(handle)
    log = OUTPUT / f"{method}_{rows}.log"
    command = [sys.executable, str(Path(__file__).resolve()), "--child", method]
    command += ["--file", str(path), "--database", url, "--steps-json", steps_file]
    result = _run_child(command, PROJECT_ROOT, _child_env(), log)
    if result["code"]:
        raise SystemExit(f"method {method} failed at {rows} rows; see {log}")
    result["steps"] = json.loads(Path(steps_file).read_text())
    Path(steps_file).unlink()
    return result


def run_kedro(
    project: Path, path: Path, server: Server, rows: int, execute: bool, profile: Path | None = None
) -> dict[str, Any]:
    env = _child_env()
    params = f"execute={'true' if execute else 'false'},inbox={path.parent},max_reject_ratio={MAX_REJECT_RATIO}"
    if execute:
        env["WDH_DATABASE__URI"] = server.fresh()
    reports = project / "data" / "08_reporting" / "run_reports"
    before = set(reports.glob("*.json")) if reports.exists() else set()
    name = "execute" if execute else "plan"
    log = OUTPUT / f"{name}_{rows}.log"
    profiler = ["-m", "cProfile", "-o", str(profile)] if profile else []
    command = [sys.executable, *profiler, "-m", "kedro", "run", "--pipelines", DOMAIN]
    command += ["--params", params]
    result = _run_child(command, project, env, log)
    if result["code"]:
        raise SystemExit(f"kedro run ({name}) failed at {rows} rows; see {log}")
    (report_path,) = set(reports.glob("*.json")) - before
    report = json.loads(report_path.read_text(encoding="utf-8"))
    domain = report["domains"]["trustee_performance"]
    steps = dict(domain["seconds"])
    if domain.get("transaction_seconds") is not None:
        steps["transaction"] = domain["transaction_seconds"]
    steps["in_kedro_run"] = report["seconds"]
    steps["rows_loaded"] = domain.get("rows_inserted") or domain.get("rows_planned")
    result["steps"] = steps
    return result


def extrapolate(result: dict[str, Any], factor: float) -> None:
    """Scale a smaller run's per-row work by ``factor``; its start-up is not per row."""
    steps = result["steps"]
    timed = sum(v for k, v in steps.items() if not k.startswith("rows_"))
    start_up = result["seconds"] - timed
    result["seconds"] = start_up + timed * factor
    result["cpu"] *= result["seconds"] / (start_up + timed)
    result["steps"] = {k: v * factor for k, v in steps.items()}
    result["extrapolated"] = True


def overlap_check(rows: int, files: int = 3, rounds: int = 3) -> str:
    """clean_workbooks (reads file n+1 while cleaning file n) against one file after another."""
    domains, _ = load_domains(PROJECT_ROOT)
    domain = domains["trustee_performance"]
    inbox = OUTPUT / f"inbox_overlap_{files}x{rows}"
    for month in range(1, files + 1):
        path = inbox / f"2024_{month:02d}_受托业绩报告.xlsx"
        if not path.exists():
            write_trustee_workbook(path, rows, month=month)
    loaders = {
        p.name: ExcelWorkbookDataset(filepath=str(p)).load for p in sorted(inbox.glob("*.xlsx"))
    }
    manifest = select_workbooks(loaders, str(inbox), files, domain=domain)
    today = dt.date.today()
    ratios = []
    for _ in range(rounds):
        started = time.perf_counter()
        clean_workbooks(loaders, manifest, domain=domain)
        ahead = time.perf_counter() - started
        started = time.perf_counter()
        sheets = [read_sheet(loaders[f.path](), domain.sheet) for f in manifest.selection.selected]
        combine([clean_sheet(sheet, domain, today) for sheet in sheets], domain)
        ratios.append((time.perf_counter() - started) / ahead)
    ratios.sort()
    return (
        f"Read-ahead: {files} files of {rows} rows cleaned one after another take "
        f"{ratios[len(ratios) // 2]:.2f}x the time of clean_workbooks with read-ahead "
        f"(median of {rounds} rounds, in-process; ratios {', '.join(f'{r:.2f}' for r in ratios)})."
    )


def profile_summary(profile: Path, top: int = 25) -> str:
    """The functions where a profiled run spent its time (cProfile, sorted by own time)."""
    buffer = io.StringIO()
    stats = pstats.Stats(str(profile), stream=buffer)
    stats.strip_dirs().sort_stats("tottime").print_stats(top)
    own = buffer.getvalue()
    buffer = io.StringIO()
    stats = pstats.Stats(str(profile), stream=buffer)
    stats.sort_stats("cumulative").print_stats(r"work_data_hub|python_calamine|copy_expert", top)
    return f"{own}\n{buffer.getvalue()}"


def _steps_text(steps: dict[str, Any]) -> str:
    return ", ".join(
        f"{k} {v:.2f}"
        for k, v in steps.items()
        if not k.startswith("rows_") and isinstance(v, int | float)
    )


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--rows", type=int, nargs="+", help="workbook sizes (default 100000 500000)"
    )
    parser.add_argument("--quick", action="store_true", help="20000 and 100000 rows")
    parser.add_argument(
        "--old-max-rows",
        type=int,
        default=100_000,
        help="run (a) and (b) on at most this many rows (default 100000, so the default run "
        "fits in ten minutes) and extrapolate above it; --old-max-rows 500000 measures them",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also run execute once more at the largest size under cProfile and summarise it",
    )
    parser.add_argument(
        "--overlap",
        type=int,
        metavar="ROWS",
        help="also time reading ahead: 3 workbooks of ROWS rows, with and without read-ahead",
    )
    parser.add_argument("--server", default=os.environ.get("WDH_BENCH_SERVER", DEFAULT_SERVER))
    parser.add_argument("--child", choices=["old", "to_sql", "imports"], help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--database", help=argparse.SUPPRESS)
    parser.add_argument("--steps-json", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> None:
    args = _arguments()
    if args.child == "imports":  # warm-up: touch what the recipes import lazily
        _read_with_openpyxl(next((PROJECT_ROOT / "data" / "01_raw").rglob("*.xlsx")))
        _trustee_table_ddl()
        return
    if args.child:
        child = child_old_recipe if args.child == "old" else child_to_sql
        args.steps_json.write_text(json.dumps(child(args.file, args.database)))
        return

    sizes = args.rows or ([20_000, 100_000] if args.quick else [100_000, 500_000])
    OUTPUT.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    project = scratch_project()
    warm_up(project)
    server = Server(args.server)
    results: dict[int, dict[str, dict[str, Any]]] = {}
    notes: list[str] = []
    try:
        for rows in sizes:
            path = workbook(rows)
            measured: dict[str, dict[str, Any]] = {}
            recipe_rows = min(rows, args.old_max_rows)
            recipe_path = workbook(recipe_rows) if recipe_rows != rows else path
            for method in ("old", "to_sql"):
                if recipe_rows in results:  # measured at that size already in this run
                    result = copy.deepcopy(results[recipe_rows][method])
                else:
                    result = run_recipe(method, recipe_path, server, recipe_rows)
                if recipe_rows != rows:
                    extrapolate(result, rows / recipe_rows)
                    notes.append(
                        f"({'a' if method == 'old' else 'b'}) at {rows} rows is extrapolated from a "
                        f"{recipe_rows}-row run: its start-up as measured, its steps and CPU "
                        "scaled linearly by rows; its RSS is that run's"
                    )
                measured[method] = result
                print(
                    f"{rows:>7} {method:<8} {result['seconds']:7.1f}s  {_steps_text(result['steps'])}"
                )
            for execute in (True, False):
                result = run_kedro(project, path, server, rows, execute)
                name = "execute" if execute else "plan"
                measured[name] = result
                print(
                    f"{rows:>7} {name:<8} {result['seconds']:7.1f}s  {_steps_text(result['steps'])}"
                )
            results[rows] = measured
        if args.profile:
            profile = OUTPUT / f"execute_{max(sizes)}.prof"
            run_kedro(project, workbook(max(sizes)), server, max(sizes), True, profile)
            print(f"\nProfile of an extra execute run at {max(sizes)} rows ({profile}):")
            print(profile_summary(profile))
        if args.overlap:
            bootstrap_project(PROJECT_ROOT)
            print(overlap_check(args.overlap))
    finally:
        server.drop_all()
    print()
    print(report(results, notes, time.perf_counter() - began))


LABELS = {
    "old": "(a) openpyxl + pydantic + execute_values",
    "to_sql": "(b) openpyxl + to_sql (raw cells)",
    "execute": "(c) kedro run execute=true",
    "plan": "(d) kedro run plan-only",
}


def report(results: dict[int, dict[str, dict[str, Any]]], notes: list[str], total: float) -> str:
    lines = [
        f"Machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, load average "
        f"{os.getloadavg()[0]:.1f} at the end; shared with other work, so compare methods within "
        "this run (ratios), not across runs. seconds = wall time of the whole child process; "
        "CPU s = that child's own user+system CPU (the PostgreSQL server's is not counted).",
        "",
        "| rows | method | seconds | rows/s | vs (a) | CPU s | peak RSS MB | per-step seconds |",
        "|---:|---|---:|---:|---:|---:|---:|---|",
    ]
    for rows, measured in results.items():
        old = measured["old"]["seconds"]
        for method, result in measured.items():
            speedup = old / result["seconds"]
            star = "*" if result.get("extrapolated") else ""
            lines.append(
                f"| {rows} | {LABELS[method]} | {result['seconds']:.1f}{star} | "
                f"{rows / result['seconds']:,.0f} | {speedup:.1f}x | {result['cpu']:.1f}{star} | "
                f"{result['rss_mb']:.0f} | "
                f"{_steps_text(result['steps'])} |"
            )
    lines += [f"* {note}" for note in dict.fromkeys(notes)]
    lines.append("")
    lines.append(f"Benchmark wall time {total:.0f}s.")
    largest, smallest = max(results), min(results)
    big = results[largest]
    checks = {
        f"execute >= {TARGET_SPEEDUP:g}x (a)": big["old"]["seconds"] / big["execute"]["seconds"]
        >= TARGET_SPEEDUP,
        f"execute >= {TARGET_ROWS_PER_SECOND:,} rows/s": largest / big["execute"]["seconds"]
        >= TARGET_ROWS_PER_SECOND,
        f"plan-only within {TARGET_PLAN_RATIO}x of execute": big["plan"]["seconds"]
        <= TARGET_PLAN_RATIO * big["execute"]["seconds"],
        f"peak RSS <= {TARGET_RSS_MB} MB": max(big["execute"]["rss_mb"], big["plan"]["rss_mb"])
        <= TARGET_RSS_MB,
    }
    if smallest != largest:
        small = results[smallest]
        per_row_big = big["execute"]["seconds"] / largest
        per_row_small = small["execute"]["seconds"] / smallest
        checks[f"per-row cost at {largest} within {TARGET_SCALING}x of {smallest}"] = (
            per_row_big <= TARGET_SCALING * per_row_small
        )
    held = [name for name, ok in checks.items() if ok]
    missed = [name for name, ok in checks.items() if not ok]
    lines.append(
        f"Targets at {largest} rows: hold: {'; '.join(held) or 'none'}; "
        f"missed: {'; '.join(missed) or 'none'}."
    )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
