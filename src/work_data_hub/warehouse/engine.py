"""The warehouse as a SQLAlchemy engine, for kedro-datasets' pandas SQL datasets.

The address is resolved when the engine is made (:func:`work_data_hub.warehouse.address.resolve_address`):
``WDH_DATABASE__*``, else the credentials entry, else, outside ``prod``, the local embedded
warehouse (started on demand). A plain ``postgresql://`` URL is read with psycopg2, the
project's driver (SQLAlchemy 2.1 would pick psycopg 3, which the project does not install).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import create_engine
from sqlalchemy.engine import URL, Engine
from sqlalchemy.pool import NullPool

from work_data_hub.warehouse.address import resolve_address

# What the pandas SQL datasets store as their connection string; never used to connect.
RESOLVED_ON_CONNECT = "postgresql+psycopg2://resolved-on-connect"
PSYCOPG2_DRIVER = "postgresql+psycopg2"


def sqlalchemy_url(url: URL) -> URL:
    """``url`` with psycopg2 named as its driver when it names none (``postgresql://``)."""
    return url.set(drivername=PSYCOPG2_DRIVER) if url.drivername == "postgresql" else url


def warehouse_engine(credentials: dict[str, Any] | None) -> Engine:
    """An engine on the warehouse; NullPool, so a restarted local warehouse costs nothing."""
    url = sqlalchemy_url(resolve_address(credentials).url)
    return create_engine(url, poolclass=NullPool)
