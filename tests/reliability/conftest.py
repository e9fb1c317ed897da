"""Fixtures of the reliability suite: a database holding a known baseline load."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import URL

from tests.reliability.support import load_baseline, table_digest


@dataclass
class Baseline:
    """A database whose trustee_performance table holds a good load, and its digest."""

    url: URL
    connection: Any
    digest: str
    reporting: Path

    def unchanged(self) -> bool:
        return table_digest(self.connection) == self.digest


@pytest.fixture
def baseline(tmp_path: Path, database_url: URL, db_connection: Any) -> Baseline:
    digest, reporting = load_baseline(tmp_path, database_url, db_connection)
    return Baseline(database_url, db_connection, digest, reporting)
