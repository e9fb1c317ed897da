"""kedro-datasets' pandas SQL datasets, pointed at the warehouse the loads use.

``pandas.SQLTableDataset`` and ``pandas.SQLQueryDataset`` take a fixed ``con`` string. These
subclasses take the ``warehouse`` credentials entry instead and resolve the address when they
first connect, exactly as the loads do (:func:`work_data_hub.config.warehouse.resolve_address`):
``WDH_DATABASE__*``, else the credentials entry, else, outside ``prod``, the local embedded
warehouse (started on demand). So a notebook reads what ``execute=true`` wrote, wherever that
went, and nothing connects or starts until a dataset is loaded.

A plain ``postgresql://`` URL is read with psycopg2, the project's driver (SQLAlchemy 2.1 would
pick psycopg 3, which the project does not install). ``_describe`` (and so Kedro-Viz) shows the
table or query, never the address or a password.
"""

from __future__ import annotations

from typing import Any, NoReturn

import pandas as pd
from kedro.io import DatasetError
from kedro_datasets.pandas import SQLQueryDataset, SQLTableDataset
from sqlalchemy import create_engine
from sqlalchemy.engine import URL, Engine
from sqlalchemy.pool import NullPool

from work_data_hub.config.warehouse import resolve_address

# What the parent classes store as their connection string; never used to connect.
_RESOLVED_ON_CONNECT = "postgresql+psycopg2://resolved-on-connect"
PSYCOPG2_DRIVER = "postgresql+psycopg2"


def sqlalchemy_url(url: URL) -> URL:
    """``url`` with psycopg2 named as its driver when it names none (``postgresql://``)."""
    return url.set(drivername=PSYCOPG2_DRIVER) if url.drivername == "postgresql" else url


def warehouse_engine(credentials: dict[str, Any] | None) -> Engine:
    """An engine on the warehouse; NullPool, so a restarted local warehouse costs nothing."""
    url = sqlalchemy_url(resolve_address(credentials).url)
    return create_engine(url, poolclass=NullPool)


class WarehouseTableDataset(SQLTableDataset):  # type: ignore[misc]
    """Loads one warehouse table as a DataFrame (read-only). Example catalog entry::

    "warehouse.{table}":
      type: work_data_hub.datasets.warehouse_sql.WarehouseTableDataset
      table_name: "{table}"
      credentials: warehouse
    """

    def __init__(
        self,
        *,
        table_name: str,
        credentials: dict[str, Any] | None = None,
        load_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(
            table_name=table_name,
            credentials={"con": _RESOLVED_ON_CONNECT},
            load_args=load_args,
            metadata=metadata,
        )
        self._warehouse_credentials = dict(credentials or {})

    @property
    def engine(self) -> Engine:
        return warehouse_engine(self._warehouse_credentials)

    def _describe(self) -> dict[str, Any]:
        load_args = {key: value for key, value in self._load_args.items() if key != "table_name"}
        return {"table_name": self._load_args["table_name"], "load_args": load_args}

    def save(self, data: pd.DataFrame) -> NoReturn:
        raise DatasetError(
            f"{type(self).__name__} reads the warehouse; loads go through the ingest pipelines "
            "(kedro run --params execute=true)."
        )


class WarehouseQueryDataset(SQLQueryDataset):  # type: ignore[misc]
    """Loads the result of one query on the warehouse as a DataFrame. Example catalog entry::

    warehouse.ledger:
      type: work_data_hub.datasets.warehouse_sql.WarehouseQueryDataset
      sql: SELECT * FROM wdh_loads ORDER BY committed_at
      credentials: warehouse
    """

    def __init__(
        self,
        *,
        sql: str | None = None,
        filepath: str | None = None,
        credentials: dict[str, Any] | None = None,
        load_args: dict[str, Any] | None = None,
        execution_options: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(
            sql=sql,
            filepath=filepath,
            credentials={"con": _RESOLVED_ON_CONNECT},
            load_args=load_args,
            execution_options=execution_options,
            metadata=metadata,
        )
        self._warehouse_credentials = dict(credentials or {})

    @property
    def engine(self) -> Engine:
        return warehouse_engine(self._warehouse_credentials)
