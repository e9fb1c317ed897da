"""Start-up: plain kedro commands import only what they use; Dagster never."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.cli import run_kedro


def _imported(project: Path, *args: str) -> set[str]:
    result = run_kedro(project, *args, env={"PYTHONPROFILEIMPORTTIME": "1"})
    assert result.returncode == 0, result.stderr[-2000:]
    return {
        line.split("|")[-1].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }


@pytest.mark.skipif(
    importlib.util.find_spec("kedro_dagster") is not None,
    reason="the opt-in dagster group is installed here: its CLI plugin imports Dagster",
)
def test_plain_kedro_commands_import_no_dagster_module(project_copy: Path) -> None:
    for args in (("registry", "list"), ("--version",)):
        modules = _imported(project_copy, *args)
        assert "kedro" in modules and "work_data_hub.hooks.run_report" in modules
        assert not {m for m in modules if m.split(".")[0] in ("dagster", "kedro_dagster")}, args


def test_kedro_version_imports_neither_the_nodes_nor_the_config_models(project_copy: Path) -> None:
    modules = _imported(project_copy, "--version")
    # (pydantic is imported by Kedro itself, kedro.validation.)
    for heavy in (
        "pandas",
        "sqlalchemy",
        "work_data_hub.config",
        "work_data_hub.pipelines.ingest.nodes",
    ):
        assert heavy not in modules, heavy


def test_kedro_help_and_warehouse_status_import_no_config_models(project_copy: Path) -> None:
    # `kedro --help` builds `run` for its one-line help: the params' list under `kedro run
    # --help` is made only when shown. The warehouse commands take the project's root from Kedro.
    for args in (("--help",), ("warehouse", "status")):
        modules = _imported(project_copy, *args)
        assert "kedro" in modules and "work_data_hub.hooks.run_report" in modules, args
        assert "work_data_hub.config" not in modules, args


def test_a_plan_only_run_imports_no_pandas_pyarrow_or_sqlalchemy(project_copy: Path) -> None:
    # Half a second of every run: Kedro's MemoryDataset imports pandas to guess a copy mode
    # unless one is stated (datasets/catalog.py, conf/base/catalog.yml); fastexcel's
    # to_arrow imports pyarrow and numpy (cleaning/workbook.py).
    modules = _imported(project_copy, "run")
    assert "work_data_hub.pipelines.ingest.nodes" in modules
    for heavy in ("pandas", "numpy", "pyarrow", "sqlalchemy"):
        assert heavy not in modules, heavy


def test_the_dagster_group_is_opt_in_and_bytecode_is_compiled_in_ci() -> None:
    import tomllib

    from tests.conftest import PROJECT_ROOT

    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "dagster" not in project["tool"]["uv"]["default-groups"]
    ci = (PROJECT_ROOT / ".ci/run").read_text(encoding="utf-8")
    assert "uv sync --quiet --compile-bytecode" in ci
    assert "--group dagster --compile-bytecode" in ci


def test_python_minus_x_importtime_works_for_measuring_the_start_up(project_copy: Path) -> None:
    # The same check, as a person measures it: python -X importtime -m kedro registry list.
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "kedro", "registry", "list"],
        cwd=project_copy,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    dagster_lines = [line for line in result.stderr.splitlines() if "| dagster" in line]
    if importlib.util.find_spec("kedro_dagster") is None:
        assert dagster_lines == []
