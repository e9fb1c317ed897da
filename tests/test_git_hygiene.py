"""Real workbooks in the default inbox are never tracked by git; the sample ships elsewhere."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT
from tests.support.cli import run_kedro
from tests.support.workbooks import write_trustee

GIT = shutil.which("git")
pytestmark = pytest.mark.skipif(GIT is None, reason="git is not installed")


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        [str(GIT), *args], cwd=repo, capture_output=True, text=True, check=True
    ).stdout


def test_a_workbook_copied_into_the_default_inbox_does_not_show_in_git_status(
    tmp_path: Path,
) -> None:
    repo = tmp_path / "clone"
    repo.mkdir()
    _git(repo, "init", "-q")
    shutil.copy2(PROJECT_ROOT / ".gitignore", repo / ".gitignore")
    shutil.copytree(PROJECT_ROOT / "samples", repo / "samples")
    for folder in ("01_raw", "08_reporting"):
        (repo / "data" / folder).mkdir(parents=True)
        (repo / "data" / folder / ".gitkeep").touch()
    write_trustee(repo / "data/01_raw/2025/01/2025_01_受托业绩.xlsx", 2025, 1)
    write_trustee(repo / "data/01_raw/2025_02_受托业绩.xlsx", 2025, 2)
    (repo / "data/08_reporting/run.json").write_text("{}", encoding="utf-8")

    status = _git(repo, "status", "--porcelain", "--untracked-files=all")
    assert "data/01_raw/.gitkeep" in status  # the folder skeleton is tracked
    untracked = [line[3:].strip('"') for line in status.splitlines()]
    assert not [p for p in untracked if p.startswith("data/") and not p.endswith(".gitkeep")]
    assert any(p.startswith("samples/inbox/") for p in untracked)  # the sample is trackable


def test_a_fresh_clone_runs_on_the_shipped_sample(project_copy: Path) -> None:
    shutil.rmtree(project_copy / "data/01_raw")
    (project_copy / "data/01_raw").mkdir()
    (project_copy / "data/01_raw/.gitkeep").touch()  # what a clone has in the default inbox
    shutil.copytree(PROJECT_ROOT / "samples", project_copy / "samples")

    empty = run_kedro(project_copy, "run")
    assert empty.returncode == 1
    last = (empty.stdout + empty.stderr).strip().splitlines()[-1]
    assert "holds no files" in " ".join((empty.stdout + empty.stderr).split())
    assert "--params inbox=samples/inbox" in " ".join((empty.stdout + empty.stderr).split()), last

    sample = run_kedro(project_copy, "run", "--params", "inbox=samples/inbox")
    assert sample.returncode == 0, sample.stderr[-2000:]
    assert list((project_copy / "data/08_reporting/plans").rglob("trustee_performance.sql"))
