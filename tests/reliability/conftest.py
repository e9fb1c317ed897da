"""Fixtures of the reliability suite: a database holding a known baseline load.

The suite shares one database (created once, dropped at the end) and rebuilds the target table
before each test, which costs milliseconds where a fresh database costs most of a second.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import URL

from tests.conftest import _connect, fresh_database
from tests.reliability.support import TABLE, load_baseline
from tests.support.database import TableDigest, table_digest
from work_data_hub.load.sql import quote

HISTORY = f"{TABLE}__history"


@dataclass
class Baseline:
    """A database whose trustee_performance table holds a good load, and its digest (and its
    history's: a failed or refused load leaves no history either)."""

    url: URL
    connection: Any
    digest: TableDigest
    reporting: Path
    history_digest: TableDigest | None = None

    def unchanged(self) -> bool:
        return (table_digest(self.connection, TABLE), table_digest(self.connection, HISTORY)) == (
            self.digest,
            self.history_digest,
        )


@pytest.fixture(scope="session")
def shared_database(postgres_server: URL) -> Iterator[URL]:
    with fresh_database(postgres_server, prefix="wdh_reliability") as url:
        yield url


@pytest.fixture
def shared_connection(shared_database: URL) -> Iterator[Any]:
    connection = _connect(shared_database)
    connection.autocommit = True
    yield connection
    connection.close()


@pytest.fixture
def baseline(tmp_path: Path, shared_database: URL, shared_connection: Any) -> Baseline:
    with shared_connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {quote(TABLE)}, {quote(HISTORY)}, wdh_loads")
    digest, reporting = load_baseline(tmp_path, shared_database, shared_connection)
    history = table_digest(shared_connection, HISTORY)
    return Baseline(shared_database, shared_connection, digest, reporting, history)


@pytest.fixture
def loader_role(baseline: Baseline) -> Any:
    """A role with only SELECT/INSERT/DELETE on the table, INSERT on its history and
    SELECT/INSERT on the ledger."""
    name = f"wdh_loader_{uuid.uuid4().hex[:8]}"
    with baseline.connection.cursor() as cursor:
        cursor.execute(f"CREATE ROLE {name} LOGIN")
        cursor.execute(f"GRANT USAGE ON SCHEMA public TO {name}")
        cursor.execute(f"GRANT SELECT, INSERT, DELETE ON {TABLE} TO {name}")
        cursor.execute(f"GRANT SELECT, INSERT ON wdh_loads TO {name}")
        cursor.execute(f"GRANT INSERT ON {TABLE}__history TO {name}")
    yield name
    with baseline.connection.cursor() as cursor:
        cursor.execute(f"DROP OWNED BY {name}")
        cursor.execute(f"DROP ROLE {name}")
