"""Reading the warehouse back through the catalog's SQL datasets (kedro-datasets' pandas ones).

They connect where the loads do: WDH_DATABASE__URI (any of the URL forms the docs name), else
the credentials entry; ``_describe`` (what Kedro-Viz shows) names the table, never the address.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pandas as pd
import pytest
from kedro.io import DatasetError
from sqlalchemy.engine import URL

from work_data_hub.config.warehouse import ENVIRONMENT_VARIABLES
from work_data_hub.datasets.warehouse_query_dataset import WarehouseQueryDataset
from work_data_hub.datasets.warehouse_table_dataset import WarehouseTableDataset

pytestmark = pytest.mark.database

PASSWORD = "Read-Back-Pa55word"


@pytest.fixture(autouse=True)
def _no_database_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENVIRONMENT_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def _with_rows(connection: Any) -> None:
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE loaded (period date, amount numeric(18, 2))")
        cursor.execute("INSERT INTO loaded VALUES ('2024-11-01', 1.50), ('2024-10-01', 2.25)")


@pytest.mark.parametrize("driver", ["postgresql", "postgresql+psycopg2"])
def test_a_table_and_a_query_are_read_from_wdh_database_uri(
    database_url: URL, db_connection: Any, monkeypatch: pytest.MonkeyPatch, driver: str
) -> None:
    _with_rows(db_connection)
    url = database_url.set(drivername=driver, password=PASSWORD)
    monkeypatch.setenv("WDH_DATABASE__URI", url.render_as_string(hide_password=False))
    table = WarehouseTableDataset(table_name="loaded").load()
    assert sorted(table["amount"].astype(float)) == [1.5, 2.25]
    total = WarehouseQueryDataset(sql="SELECT sum(amount) AS total FROM loaded").load()
    assert float(total["total"].iloc[0]) == 3.75


def test_the_credentials_entry_is_used_and_never_described(
    database_url: URL, db_connection: Any
) -> None:
    _with_rows(db_connection)
    credentials = {"con": database_url.set(password=PASSWORD).render_as_string(False)}
    dataset = WarehouseTableDataset(table_name="loaded", credentials=credentials)
    assert len(dataset.load()) == 2
    assert (
        dataset.exists()
        and not WarehouseTableDataset(table_name="absent", credentials=credentials).exists()
    )
    query = WarehouseQueryDataset(sql="SELECT 1 AS one", credentials=credentials)
    for described in (str(dataset._describe()), str(query._describe())):
        assert PASSWORD not in described
        assert str(database_url.port) not in described and "postgresql" not in described


def test_the_read_back_datasets_do_not_write(database_url: URL) -> None:
    credentials = {"con": database_url.render_as_string(hide_password=False)}
    with pytest.raises(DatasetError, match="reads the warehouse"):
        WarehouseTableDataset(table_name="loaded", credentials=credentials).save(
            pd.DataFrame({"a": [1]})
        )


def test_numeric_columns_keep_their_exact_values(database_url: URL, db_connection: Any) -> None:
    with db_connection.cursor() as cursor:
        cursor.execute("CREATE TABLE exact (amount numeric(38, 10))")
        cursor.execute("INSERT INTO exact VALUES (12345678901234567890.0123456789), (0.1)")
    credentials = {"con": database_url.render_as_string(hide_password=False)}
    table = WarehouseTableDataset(table_name="exact", credentials=credentials).load()
    query = WarehouseQueryDataset(sql="SELECT amount FROM exact", credentials=credentials).load()
    expected = [Decimal("12345678901234567890.0123456789"), Decimal("0.1000000000")]
    for frame in (table, query):
        assert frame["amount"].dtype != "float64"
        assert list(frame["amount"]) == expected
