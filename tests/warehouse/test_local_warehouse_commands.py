"""``kedro warehouse start|url|status|stop``: the local warehouse kept between runs, reachable by
psql on a loopback port (the password only in an owner-only password file), used by runs and
not stopped by them; ``stop`` waits for a run that holds it."""

from __future__ import annotations

import re
import stat
import subprocess
import sys
import time
from pathlib import Path

from tests.support.cli import run_kedro
from tests.support.paths import PROJECT_ROOT
from work_data_hub.warehouse.embedded import psql_path

KEPT_URL = re.compile(r"^postgresql://postgres@127\.0\.0\.1:\d+/warehouse\?passfile=\S+$", re.M)


def _docs_ledger_queries() -> str:
    """The SQL block of docs/operations.md, "The ledger queries", as a reader copies it."""
    text = (PROJECT_ROOT / "docs/operations.md").read_text(encoding="utf-8")
    section = text.split("## The ledger queries", 1)[1]
    return section.split("```sql\n", 1)[1].split("```", 1)[0]


def _psql(url: str, sql: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(psql_path()), url, "-X", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def _wait_for(process: subprocess.Popen[str], text: str, seconds: float = 120) -> str:
    assert process.stdout is not None
    seen = ""
    deadline = time.monotonic() + seconds
    while text not in seen and time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            break
        seen += line
    return seen


def test_a_started_warehouse_answers_psql_and_the_docs_ledger_queries(project_copy: Path) -> None:
    loaded = run_kedro(project_copy, "run", "--params", "execute=true,max_reject_ratio=0.1")
    assert loaded.returncode == 0, loaded.stdout + loaded.stderr
    started = run_kedro(project_copy, "warehouse", "start")
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        (url,) = KEPT_URL.findall(started.stdout)
        passfile = project_copy / "data/warehouse.pgpass"
        assert f"passfile={passfile}" in url
        assert stat.S_IMODE(passfile.stat().st_mode) == 0o600
        password = passfile.read_text(encoding="utf-8").strip().rsplit(":", 1)[1]
        assert password not in started.stdout + started.stderr
        assert run_kedro(project_copy, "warehouse", "url").stdout.strip() == url

        newest = _psql(url, _docs_ledger_queries())
        assert newest.returncode == 0, newest.stderr
        run_id = re.search(r"Run (\S+) succeeded", loaded.stdout + loaded.stderr)
        assert run_id is not None
        lines = [line for line in newest.stdout.splitlines() if run_id.group(1) in line]
        assert {line.split("|")[1] for line in lines if line.count("|") == 7} == {
            "annuity_performance", "trustee_performance"
        }  # fmt: skip
        # Without the password file, TCP is refused: only its owner can read the password.
        refused = _psql(url.split("?")[0], "SELECT 1")
        assert refused.returncode != 0 and "password" in refused.stderr

        # A run uses the kept warehouse and leaves it running.
        again = run_kedro(project_copy, "run", "--params", "execute=true,reload=true,"
                          "max_reject_ratio=0.1,periods=2024-11")  # fmt: skip
        assert again.returncode == 0, again.stdout + again.stderr
        status = run_kedro(project_copy, "warehouse", "status").stdout
        assert "running, kept by `kedro warehouse start`" in status

        # `stop` waits for a run that holds the warehouse.
        holder = subprocess.Popen(
            [sys.executable, "-c",
             "import sys, time; from pathlib import Path; "
             "from work_data_hub.warehouse.embedded import local_warehouse_address; "
             "local_warehouse_address(Path(sys.argv[1])); print('held', flush=True); "
             "time.sleep(300)", str(project_copy)],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert "held" in _wait_for(holder, "held")
        stopping = subprocess.Popen(
            [sys.executable, "-m", "kedro", "warehouse", "stop"],
            cwd=project_copy, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        assert "Waiting for the run" in _wait_for(stopping, "Waiting for the run")
        time.sleep(1)
        assert stopping.poll() is None
        holder.kill()
        holder.wait()
        assert "Stopped the local warehouse." in _wait_for(stopping, "Stopped")
        assert stopping.wait(timeout=120) == 0
        assert "not running" in run_kedro(project_copy, "warehouse", "status").stdout
        assert not passfile.exists()
    finally:
        run_kedro(project_copy, "warehouse", "stop")
