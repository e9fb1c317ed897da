"""Real workbooks in the default inbox are never tracked by git; the shipped sample is."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT
from tests.support.cli import run_kedro
from tests.support.workbooks import write_trustee

GIT = shutil.which("git")
pytestmark = pytest.mark.skipif(
    GIT is None or not (PROJECT_ROOT / ".git").exists(), reason="needs git and a git checkout"
)


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        [str(GIT), *args], cwd=repo, capture_output=True, text=True, check=True
    ).stdout


def test_a_workbook_copied_into_the_default_inbox_does_not_show_in_git_status(
    tmp_path: Path,
) -> None:
    clone = tmp_path / "clone"
    _git(tmp_path, "clone", "-q", str(PROJECT_ROOT), str(clone))
    # The sample ships in the default inbox, so a clone can run at once.
    assert [p for p in _git(clone, "ls-files", "data/01_raw").splitlines() if ".xlsx" in p]
    write_trustee(clone / "data/01_raw/2025/01/2025_01_受托业绩.xlsx", 2025, 1)
    write_trustee(clone / "data/01_raw/2025_02_受托业绩.xlsx", 2025, 2)
    (clone / "data/08_reporting/run.json").write_text("{}", encoding="utf-8")
    assert _git(clone, "status", "--porcelain", "--untracked-files=all") == ""
    assert _git(clone, "add", "--dry-run", "-A") == ""


def test_a_fresh_clone_runs_on_the_shipped_sample(project_copy: Path) -> None:
    sample = run_kedro(project_copy, "run")
    assert sample.returncode == 0, sample.stderr[-2000:]
    assert list((project_copy / "data/08_reporting/plans").rglob("trustee_performance.sql"))


def test_an_empty_default_inbox_names_the_sample_generator(project_copy: Path) -> None:
    shutil.rmtree(project_copy / "data/01_raw")
    (project_copy / "data/01_raw").mkdir()
    (project_copy / "data/01_raw/.gitkeep").touch()
    empty = run_kedro(project_copy, "run")
    assert empty.returncode == 1
    output = " ".join((empty.stdout + empty.stderr).split())
    assert "holds no files" in output and "scripts/make_sample_inbox.py" in output
