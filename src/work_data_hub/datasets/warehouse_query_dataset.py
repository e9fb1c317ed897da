"""``WarehouseQueryDataset``: one query's result on the warehouse as a DataFrame.

``pandas.SQLQueryDataset`` takes a fixed ``con`` string; this subclass takes the ``warehouse``
credentials entry instead and resolves the address when it first connects, exactly as the loads
do (:mod:`work_data_hub.warehouse.engine`). Nothing connects or starts until it is loaded.
"""

from __future__ import annotations

from typing import Any

from kedro_datasets.pandas import SQLQueryDataset
from sqlalchemy.engine import Engine

from work_data_hub.warehouse.engine import RESOLVED_ON_CONNECT, warehouse_engine


class WarehouseQueryDataset(SQLQueryDataset):  # type: ignore[misc]
    """Loads the result of one query on the warehouse as a DataFrame. Example catalog entry::

    warehouse.ledger:
      type: work_data_hub.datasets.warehouse_query_dataset.WarehouseQueryDataset
      sql: SELECT * FROM wdh_loads ORDER BY committed_at
      credentials: warehouse

    Args:
        sql: The query; or ``filepath``, a file holding it.
        filepath: A file holding the query.
        credentials: The ``warehouse`` credentials entry (``con``), if any.
        load_args: Passed to ``pandas.read_sql_query``. ``coerce_float`` is false unless given:
            a ``numeric`` column keeps its exact values (``Decimal``), never float64.
        execution_options: SQLAlchemy execution options of the connection.
        metadata: Kedro's free-form metadata (Kedro-Viz shows it).
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
            credentials={"con": RESOLVED_ON_CONNECT},
            load_args={"coerce_float": False, **(load_args or {})},
            execution_options=execution_options,
            metadata=metadata,
        )
        self._warehouse_credentials = dict(credentials or {})

    @property
    def engine(self) -> Engine:
        return warehouse_engine(self._warehouse_credentials)
