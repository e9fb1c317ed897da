"""``WarehouseTableDataset``: one warehouse table as a DataFrame (kedro-datasets' SQLTableDataset).

``pandas.SQLTableDataset`` takes a fixed ``con`` string; this subclass takes the ``warehouse``
credentials entry instead and resolves the address when it first connects, exactly as the loads
do (:mod:`work_data_hub.warehouse.engine`), so a notebook reads what ``execute=true`` wrote.
``_describe`` (and so Kedro-Viz) shows the table, never the address or a password.
"""

from __future__ import annotations

from typing import Any, NoReturn

import pandas as pd
from kedro.io import DatasetError
from kedro_datasets.pandas import SQLTableDataset
from sqlalchemy import text
from sqlalchemy.engine import Engine

from work_data_hub.load.sql import quote
from work_data_hub.warehouse.engine import RESOLVED_ON_CONNECT, warehouse_engine


class WarehouseTableDataset(SQLTableDataset):  # type: ignore[misc]
    """Loads one warehouse table as a DataFrame (read-only). Example catalog entry::

    "warehouse.{table}":
      type: work_data_hub.datasets.warehouse_table_dataset.WarehouseTableDataset
      table_name: "{table}"
      credentials: warehouse

    Args:
        table_name: The table to read.
        credentials: The ``warehouse`` credentials entry (``con``), if any.
        load_args: Passed to ``pandas.read_sql_query`` (``schema`` names the table's schema).
            ``coerce_float`` is false unless given:
            a ``numeric`` column keeps its exact values (``Decimal``), never float64.
        metadata: Kedro's free-form metadata (Kedro-Viz shows it).

    Raises:
        DatasetError: On ``save``: the warehouse is written only by the loads.
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
            credentials={"con": RESOLVED_ON_CONNECT},
            load_args={"coerce_float": False, **(load_args or {})},
            metadata=metadata,
        )
        self._warehouse_credentials = dict(credentials or {})

    @property
    def engine(self) -> Engine:
        return warehouse_engine(self._warehouse_credentials)

    def load(self) -> pd.DataFrame:
        """The table's rows, every column as the driver returns it (``numeric`` as ``Decimal``).

        ``pandas.read_sql_table`` casts ``numeric`` columns to float64 whatever
        ``coerce_float`` says, so the table is read as a query of all its columns.
        """
        args = {k: v for k, v in self._load_args.items() if k not in ("table_name", "schema")}
        schema = self._load_args.get("schema")
        name = quote(self._load_args["table_name"])
        table = f"{quote(schema)}.{name}" if schema else name
        rows: pd.DataFrame = pd.read_sql_query(
            text(f"SELECT * FROM {table}"), con=self.engine, **args
        )
        return rows

    def _describe(self) -> dict[str, Any]:
        load_args = {key: value for key, value in self._load_args.items() if key != "table_name"}
        return {"table_name": self._load_args["table_name"], "load_args": load_args}

    def save(self, data: pd.DataFrame) -> NoReturn:
        raise DatasetError(
            f"{type(self).__name__} reads the warehouse; loads go through the ingest pipelines "
            "(kedro run --params execute=true)."
        )
