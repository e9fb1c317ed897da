"""Secrets by construction: no message is made by masking, so no password changes one.

Every message, report, log line and URL a run writes is built from parts that never held the
password (host, port, database, user, the setting's name, the server's own words), never by
searching for the password's text and replacing it: a password ``o`` would turn "does not
exist" into "d***es n***t exist", and ``postgres`` would mask the user and the scheme. So a
failure says exactly the same whatever the password is: one letter, a common word, or one
full of URL characters.
"""

from __future__ import annotations

import json
import traceback
from pathlib import Path
from typing import Any
from urllib.parse import quote as percent_encoded

import pytest
from sqlalchemy.engine import URL

from tests.conftest import fresh_database
from tests.reliability.support import run_domain, trustee_rows, write_workbook
from tests.support.cli import run_kedro
from tests.support.database import closed_port
from work_data_hub.config.warehouse import WarehouseConfigError
from work_data_hub.warehouse.address import resolve_url

pytestmark = pytest.mark.database

REFERENCE = "Reference-Pa55-c0ffee"
# One letter and common words (which any message may hold anyway), and one that is distinctive
# enough to look for, full of the characters a URL must percent-encode.
DISTINCTIVE = "p@ss:w/rd%"
PASSWORDS = ["o", "postgres", "exist", DISTINCTIVE]


def _said(error: BaseException) -> str:
    return "".join([str(error), repr(error.args), *traceback.format_exception(error)])


def _failure(tmp_path: Path, url: URL, password: str) -> BaseException:
    inbox = tmp_path / password.replace("/", "_") / "inbox"
    write_workbook(inbox / "2024_11_受托业绩.xlsx", trustee_rows(2))
    with pytest.raises(Exception) as caught:
        run_domain(inbox, inbox.parent / "out", database_url=url.set(password=password),
                   execute=True)  # fmt: skip
    return caught.value


def _failing_addresses(scram: URL, trusting: URL) -> dict[str, URL]:
    return {
        "wrong password": scram,  # the server checks it: every password here is wrong
        "unreachable port": trusting.set(port=closed_port()),
        "unknown database": trusting.set(database="wdh_no_such_database"),
    }


@pytest.mark.parametrize("case", ["wrong password", "unreachable port", "unknown database"])
def test_a_failed_connection_says_the_same_whatever_the_password(
    case: str, tmp_path: Path, scram_server: URL, shared_database: URL
) -> None:
    with fresh_database(scram_server) as scram:
        url = _failing_addresses(scram, shared_database)[case]
        reference = str(_failure(tmp_path, url, REFERENCE))
        for password in PASSWORDS:
            error = _failure(tmp_path, url, password)
            assert str(error) == reference, password
            said = _said(error)
            assert "***" not in said
            if password == DISTINCTIVE:
                assert password not in said and percent_encoded(password, safe="") not in said
    assert "Cannot connect to the warehouse" in reference or "database" in reference


def test_a_run_that_fails_to_connect_reports_and_logs_the_same_whatever_the_password(
    project_copy: Path, shared_database: URL
) -> None:
    unreachable = shared_database.set(port=closed_port())
    said: dict[str, tuple[str, list[str]]] = {}
    for password in [REFERENCE, "o", "postgres"]:
        uri = unreachable.set(password=password).render_as_string(hide_password=False)
        result = run_kedro(
            project_copy, "run", "--pipelines", "trustee_performance", "--params",
            "execute=true", env={"WDH_DATABASE__URI": uri},
        )  # fmt: skip
        assert result.returncode == 1
        error = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
        reports = sorted((project_copy / "data/08_reporting/run_reports").glob("run_*.json"))
        report = json.loads(reports[-1].read_text(encoding="utf-8"))
        logs = sorted((project_copy / "data/08_reporting/logs").glob("run_*.jsonl"))
        messages = [
            json.loads(line)["message"]
            for line in logs[-1].read_text(encoding="utf-8").splitlines()
            if "warehouse" in line
        ]
        assert "***" not in result.stdout + result.stderr + json.dumps(report) + str(messages)
        said[password] = (error[0] + report["error"], [m for m in messages if "Run " not in m])
    assert said["o"] == said["postgres"] == said[REFERENCE]


@pytest.mark.parametrize("password", PASSWORDS)
def test_a_load_leaves_the_same_text_whatever_the_password(
    password: str, tmp_path: Path, shared_database: URL, shared_connection: Any
) -> None:
    with shared_connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS trustee_performance, wdh_loads")
    inbox = tmp_path / "inbox"
    write_workbook(inbox / "2024_11_受托业绩.xlsx", trustee_rows(3))
    # The test server trusts local connections: any password connects.
    outcome = run_domain(
        inbox, tmp_path / "out", database_url=shared_database.set(password=password),
        execute=True, run_id="same-run",
    )  # fmt: skip
    assert outcome.load is not None and outcome.load.rows_inserted == 3
    for path in (tmp_path / "out").rglob("*"):
        if path.is_file():
            text = path.read_text(encoding="utf-8-sig")
            assert "***" not in text, path
            if password == DISTINCTIVE:
                assert password not in text and "%40ss" not in text, path


@pytest.mark.parametrize("password", ["p@ss:w/rd%", "o@", "postgres/"])
def test_an_unreadable_url_is_shown_by_its_user_and_host_only(password: str) -> None:
    uri = f"postgresql://loader:{password}@db.example:6543/warehouse?sslmode=require"
    with pytest.raises(WarehouseConfigError) as caught:
        resolve_url({"con": uri})
    message = str(caught.value)
    assert "postgresql://loader:***@db.example:6543/warehouse." in message
    assert "percent-encode" in message and "sslmode" not in message
    # The message is the same for every password: nothing of it is cut out of the URL.
    other = "postgresql://loader:x@y@db.example:6543/warehouse?sslmode=require"
    with pytest.raises(WarehouseConfigError) as reference:
        resolve_url({"con": other})
    assert message == str(reference.value)
