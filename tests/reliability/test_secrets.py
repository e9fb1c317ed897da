"""Secrets kept, outputs owner-only.

The database password appears nowhere a run leaves text: console and log lines, the run report,
plans, rejects, Kedro-Viz's build, exception text. (The test server trusts local connections, so
any password "works", which is all this needs.) Plans, rejects and run reports carry data and
are created readable by the owner only.
"""

from __future__ import annotations

import json
import os
import stat
import traceback
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import URL

from tests.reliability.support import TABLE, run_domain, trustee_rows, write_workbook
from tests.support.cli import run_kedro
from work_data_hub.load.sql import quote

pytestmark = pytest.mark.database

ENV_PASSWORD = "Env-Pa55word-7f3a"
FILE_PASSWORD = "File-Pa55word-9c1e"


def _with_password(url: URL, password: str) -> str:
    return url.set(password=password).render_as_string(hide_password=False)


def _files_holding(root: Path, *secrets: str) -> list[str]:
    found = []
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path}: {s}" for s in secrets if s.encode() in data]
    return found


def _project_with_secrets(project: Path, database: URL) -> dict[str, str]:
    """Both routes to the warehouse hold a password: the environment (which wins) and the file."""
    (project / "conf/local/credentials.yml").write_text(
        f"warehouse:\n  con: {_with_password(database, FILE_PASSWORD)}\n", encoding="utf-8"
    )
    return {"WDH_DATABASE__URI": _with_password(database, ENV_PASSWORD)}


def test_an_execute_run_with_rejects_leaks_no_password_and_writes_owner_only_files(
    project_copy: Path, shared_database: URL, shared_connection: Any
) -> None:
    with shared_connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {quote(TABLE)}, wdh_loads")
    env = _project_with_secrets(project_copy, shared_database)
    # Three periods: the September file has a bad row, which the ratio lets through.
    result = run_kedro(
        project_copy, "run", "--params", "execute=true,max_files=3,max_reject_ratio=0.5", env=env
    )
    assert result.returncode == 0, result.stdout + result.stderr
    console = result.stdout + result.stderr
    assert ENV_PASSWORD not in console and FILE_PASSWORD not in console
    reporting = project_copy / "data/08_reporting"
    assert _files_holding(reporting, ENV_PASSWORD, FILE_PASSWORD) == []

    (report_path,) = (reporting / "run_reports").glob("*.json")
    domain = json.loads(report_path.read_text(encoding="utf-8"))["domains"]["trustee_performance"]
    assert domain["executed"] is True and domain["rows_rejected"] == 1
    written = [p for p in reporting.rglob("*") if p.is_file()]
    kinds = {p.suffix for p in written}
    # .jsonl: the run's log; .html: the run report's page; .xlsx: the rejects marked
    assert kinds == {".sql", ".csv", ".json", ".jsonl", ".html", ".xlsx"}, written
    loose = [f"{p}: {stat.filemode(p.stat().st_mode)}" for p in written if p.stat().st_mode & 0o077]
    assert loose == [], "plans, rejects and run reports must be readable by the owner only"


def test_kedro_viz_build_holds_no_password(project_copy: Path, shared_database: URL) -> None:
    env = _project_with_secrets(project_copy, shared_database)
    result = run_kedro(project_copy, "viz", "build", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    build = project_copy / "build"
    assert (build / "api" / "main").is_file()
    assert _files_holding(build, ENV_PASSWORD, FILE_PASSWORD) == []
    console = result.stdout + result.stderr
    assert ENV_PASSWORD not in console and FILE_PASSWORD not in console


def _everything_said(error: BaseException) -> str:
    """The message, repr, args and the whole traceback with chained causes."""
    return "".join([str(error), repr(error), repr(error.args), *traceback.format_exception(error)])


def _failing_runs(shared_database: URL) -> dict[str, tuple[str, str | None]]:
    return {
        # (WDH_DATABASE__URI, SQL run first on the shared database or None)
        "unreachable port": (_with_password(shared_database.set(port=1), ENV_PASSWORD), None),
        "unknown database": (
            _with_password(shared_database.set(database="wdh_no_such_database"), ENV_PASSWORD),
            None,
        ),
        "port not a number": (
            f"postgresql://postgres:{ENV_PASSWORD}@127.0.0.1:notaport/{shared_database.database}",
            None,
        ),
        "failing statement": (
            _with_password(shared_database, ENV_PASSWORD),
            f"DROP TABLE IF EXISTS {quote(TABLE)}; CREATE TABLE {quote(TABLE)} (report_date date)",
        ),
    }


@pytest.mark.parametrize(
    "case", ["unreachable port", "unknown database", "port not a number", "failing statement"]
)
def test_a_failed_load_names_no_password(
    case: str,
    tmp_path: Path,
    shared_database: URL,
    shared_connection: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    uri, setup = _failing_runs(shared_database)[case]
    if setup:
        with shared_connection.cursor() as cursor:
            cursor.execute(setup)
    monkeypatch.setenv("WDH_DATABASE__URI", uri)
    inbox = tmp_path / "inbox"
    write_workbook(inbox / "2024_11_受托业绩.xlsx", trustee_rows(3))
    with pytest.raises(Exception) as caught:
        run_domain(inbox, tmp_path / "out", execute=True)
    said = _everything_said(caught.value)
    assert ENV_PASSWORD not in said
    # The message still names the server, or the setting that does not parse.
    assert ("127.0.0.1" if case != "port not a number" else "WDH_DATABASE__URI") in said
    assert _files_holding(tmp_path / "out", ENV_PASSWORD) == []


def test_plans_and_rejects_are_owner_only_even_under_a_permissive_umask(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    rows = trustee_rows(3)
    rows[0][2] = "P#1"  # one reject, so the rejects file has a row of data
    write_workbook(inbox / "2024_11_受托业绩.xlsx", rows)
    previous = os.umask(0)
    try:
        outcome = run_domain(inbox, tmp_path / "out")
    finally:
        os.umask(previous)
    assert len(outcome.rejects) == 1
    for path in (outcome.plan_path, outcome.rejects_path):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_a_password_that_needs_percent_encoding_is_refused_and_never_shown(
    project_copy: Path, shared_database: URL
) -> None:
    """Unencoded, the password's tail would be read as the host and printed everywhere.
    (tests/config/test_warehouse.py refuses /, # and ? the same way.)"""
    head, tail = "Unenc0ded", "Tail-Of-The-Pa55word-4e1b"
    password = f"{head}@{tail}"
    server = shared_database
    uri = f"postgresql://{server.username}:{password}@{server.host}:{server.port}/{server.database}"
    result = run_kedro(
        project_copy, "run", "--params", "execute=true", env={"WDH_DATABASE__URI": uri}
    )
    console = result.stdout + result.stderr
    assert result.returncode != 0
    assert "percent-encode" in console and "WDH_DATABASE__URI" in console
    assert f"postgresql://{server.username}:***@" in console
    for part in (password, head, tail):
        assert part not in console
    # Nothing a run leaves (reports, logs, plans, Kedro-Viz's run events) holds any of it.
    written = [p for p in project_copy.rglob("*") if p.is_file() and "conf" not in p.parts]
    assert [
        f"{p}: {s}" for p in written for s in (head, tail) if s.encode() in p.read_bytes()
    ] == []
