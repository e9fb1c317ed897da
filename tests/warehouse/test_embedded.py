"""The local warehouse (an embedded PostgreSQL under data/warehouse) and the tests' own servers.

With nothing configured, ``execute=true`` loads into the project's local warehouse, started on
demand and stopped when the run ends, and a later run (or the catalog) sees what it loaded.
``prod`` refuses to run without a configured warehouse, before reading any workbook. Servers
a killed process left behind are taken back: the local warehouse by the next run, the test
servers by the next test session.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest

from tests.support.cli import run_kedro, run_trustee
from tests.support.postgres import OWNER_FILE, reap_leftover_servers, throwaway_server
from work_data_hub.datasets.warehouse_query_dataset import WarehouseQueryDataset
from work_data_hub.datasets.warehouse_table_dataset import WarehouseTableDataset
from work_data_hub.warehouse import embedded as embedded_warehouse
from work_data_hub.warehouse.embedded import (
    local_warehouse_address,
    running_server,
    stop_local_warehouses,
    warehouse_dir,
)

pytestmark = pytest.mark.database


def _report(project: Path) -> dict[str, object]:
    newest = max((project / "data/08_reporting/run_reports").glob("run_*.json"), key=_mtime)
    return dict(json.loads(newest.read_text(encoding="utf-8")))


def _mtime(path: Path) -> float:
    return path.stat().st_mtime


def test_a_second_run_sees_the_first_runs_table(
    project_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # November first, then only October: November's rows after the second run are the first's.
    first = run_trustee(project_copy, "execute=true")
    assert first.returncode == 0, first.stdout + first.stderr
    domain = _report(project_copy)["domains"]["trustee_performance"]  # type: ignore[index]
    assert domain["warehouse"] == "embedded, data/warehouse"
    assert domain["rows_inserted"] > 0
    assert "Connecting to the warehouse (embedded, data/warehouse)" in first.stdout + first.stderr
    assert running_server(warehouse_dir(project_copy)) is None, "stopped when the run ended"

    second = run_trustee(project_copy, "execute=true,inbox=data/01_raw/2024/10")
    assert second.returncode == 0, second.stdout + second.stderr
    assert running_server(warehouse_dir(project_copy)) is None

    monkeypatch.chdir(project_copy)
    try:
        table = WarehouseTableDataset(table_name="trustee_performance").load()
        runs = WarehouseQueryDataset(
            sql="SELECT DISTINCT _run_id FROM trustee_performance ORDER BY 1"
        ).load()
    finally:
        stop_local_warehouses()
    months = set(table["report_date"].astype(str).str[:7])
    assert months == {"2024-10", "2024-11"}
    assert len(runs) == 2


def test_prod_refuses_a_missing_warehouse_before_reading_any_workbook(
    project_copy: Path,
) -> None:
    result = run_kedro(project_copy, "run", "--env", "prod", "--params", "execute=true")
    said = result.stdout + result.stderr
    assert result.returncode != 0
    assert "WDH_DATABASE__URI" in said and "conf/local/credentials.yml" in said
    assert "inbox_workbooks" not in said, "no workbook is read"
    assert not warehouse_dir(project_copy).exists(), "prod never starts the local warehouse"
    assert not list((project_copy / "data/08_reporting").rglob("*.sql"))


def test_a_warehouse_left_by_a_killed_run_is_adopted_and_stopped(
    tmp_path: Path,
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    # A process that starts the warehouse and dies without stopping it.
    killed = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os, sys; from pathlib import Path; "
            "from work_data_hub.warehouse.embedded import local_warehouse_address; "
            "local_warehouse_address(Path(sys.argv[1])); os._exit(9)",
            str(project),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert killed.returncode == 9, killed.stderr
    assert running_server(warehouse_dir(project)) is not None

    local_warehouse_address(project)
    stop_local_warehouses()
    assert running_server(warehouse_dir(project)) is None


def test_a_warehouse_another_live_run_started_is_left_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    local_warehouse_address(project)
    try:
        # Seen from a second run: the owner (this process) is alive, so it is not ours to stop.
        monkeypatch.setattr(embedded_warehouse, "_LOCAL_WAREHOUSES", {})
        monkeypatch.setattr(embedded_warehouse, "_owner_alive", lambda data_dir: True)
        local_warehouse_address(project)
        stop_local_warehouses()
        assert running_server(warehouse_dir(project)) is not None
    finally:
        monkeypatch.undo()
        stop_local_warehouses()
    assert running_server(warehouse_dir(project)) is None


def test_test_servers_of_a_killed_session_are_reaped() -> None:
    # Beside the sessions' own folder, as they are (not under pytest's temp root).
    root = Path(tempfile.mkdtemp(prefix="wdh-reap-test-"))
    folder = root / "run-dead"
    folder.mkdir(parents=True)
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], check=True,
                          capture_output=True, text=True)  # fmt: skip
    (folder / OWNER_FILE).write_text(
        json.dumps({"pid": int(gone.stdout), "started": time.time()}), encoding="utf-8"
    )
    # A server the dead session started (entered, never exited).
    started = throwaway_server(folder, "trust")  # kept: collecting it would stop the server
    server = started.__enter__()
    pid = int((server.data_dir / "postmaster.pid").read_text().split()[0])

    try:
        assert reap_leftover_servers(root) == [folder]
        assert not folder.exists()
        assert not _running(pid)
    finally:
        started.__exit__(None, None, None)
        shutil.rmtree(root, ignore_errors=True)


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
