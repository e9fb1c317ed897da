"""Shared fixtures: a fresh PostgreSQL database per test, a scratch copy of the project."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy.engine import URL, make_url

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_TEST_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"


def _server_url() -> URL:
    return make_url(os.environ.get("WDH_TEST_DATABASE_URI", DEFAULT_TEST_SERVER))


def _connect(url: URL):  # type: ignore[no-untyped-def]
    import psycopg2

    arguments = url.translate_connect_args(username="user", database="dbname")
    return psycopg2.connect(**{"dbname": "postgres", **arguments}, connect_timeout=5)


@pytest.fixture(scope="session")
def postgres_server() -> URL:
    """The test server; with CI=true a missing server fails instead of skipping."""
    url = _server_url()
    try:
        _connect(url).close()
    except Exception as exc:
        message = (
            f"No PostgreSQL at {url.render_as_string(hide_password=True)} ({exc}). "
            "Set WDH_TEST_DATABASE_URI=postgresql://user:password@host:port/db to a server "
            "where the user may create databases, or start the local one."
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return url


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
    # The shipped sample, as the default inbox of the copy.
    shutil.copytree(PROJECT_ROOT / "samples" / "inbox", target / "data" / "01_raw")
    shutil.copytree(
        PROJECT_ROOT / "src",
        target / "src",
        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"),
    )
    return target
