"""Names PostgreSQL would cut are config errors: every name a load creates fits in 63 bytes.

PostgreSQL keeps the first 63 bytes of a name (21 Chinese characters) and drops the rest
without an error, so a longer table would be created under the cut name and every later load
would fail looking for the declared one. A declared table or column, or a name derived from
them (primary key, refresh-scope index, history table, the stage), that is longer is refused
when data_sources.yml is read, naming it and its byte length, before anything runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import URL

from tests.reliability.support import run_domain, write_workbook
from tests.support.database import columns_of
from work_data_hub.config import DataSourcesError, DomainConfig, parse_domains
from work_data_hub.config.domains import NAME_BYTES, primary_key_name
from work_data_hub.load.ledger import LEDGER_TABLE

CHINESE = "规模明细数据表格受托业绩年金计划代码组合名称客户"  # 3 bytes each in UTF-8


def _domain(table: str = "notes", column: str = "note", name: str = "notes") -> dict[str, Any]:
    return {
        "domains": {
            name: {
                "pattern": r"(?P<year>\d{4})_(?P<month>\d{2})_notes",
                "table": table,
                "refresh_scope": ["月度"],
                "columns": {"月度": {"type": "date", "rule": "month_date"}, column: {}},
            }
        }
    }


def _refused(raw: dict[str, Any]) -> str:
    with pytest.raises(DataSourcesError) as caught:
        parse_domains(raw)
    return str(caught.value)


def test_a_table_name_over_63_bytes_is_refused_with_its_byte_length() -> None:
    table = CHINESE[:22]
    message = _refused(_domain(table=table))
    assert f"key 'table': the table name {table!r} is 66 bytes" in message
    assert "63" in message


@pytest.mark.parametrize(
    ("characters", "settings", "derived", "size"),
    [
        (21, {}, "__history", 72),
        (20, {"refresh_scope": ["月度"]}, "_scope_idx", 70),
        (21, {"unique_key": ["月度"], "mode": "upsert"}, "__history", 72),
    ],
)
def test_a_name_derived_from_the_table_over_63_bytes_is_refused_naming_it(
    characters: int, settings: dict[str, Any], derived: str, size: int
) -> None:
    table = CHINESE[:characters]
    raw = _domain(table=table)
    raw["domains"]["notes"].pop("refresh_scope")
    raw["domains"]["notes"].update(settings or {"mode": "append"})
    message = _refused(raw)
    assert f"the table name {table!r} is {characters * 3} bytes" in message
    assert f"{table + derived!r} is {size} bytes" in message
    assert f"shorten the table name by {size - 63} bytes" in message
    assert message.count("key 'table'") == 1


def test_a_column_name_over_63_bytes_is_refused_naming_the_column() -> None:
    column = CHINESE[:22]
    message = _refused(_domain(column=column))
    assert f"key 'columns.{column}': the column name {column!r} is 66 bytes" in message


def test_a_domain_whose_stage_name_would_be_cut_is_refused() -> None:
    name = "n" * (NAME_BYTES - len("wdh_stage_") + 1)
    message = _refused(_domain(name=name))
    assert f"'wdh_stage_{name}' is 64 bytes" in message and "shorten the domain name" in message


def test_a_domain_built_in_code_is_held_to_the_same_limit() -> None:
    settings = _domain(column=CHINESE[:22])["domains"]["notes"]
    with pytest.raises(ValueError, match="66 bytes"):
        DomainConfig.model_validate({"name": "notes", **settings})


def test_the_ledger_names_fit() -> None:
    for name in (LEDGER_TABLE, primary_key_name(LEDGER_TABLE)):
        assert len(name.encode("utf-8")) <= NAME_BYTES


@pytest.mark.database
def test_names_of_exactly_63_bytes_load_under_their_full_names(
    tmp_path: Path, shared_database: URL, shared_connection: Any
) -> None:
    # 17 characters: 51 bytes, and its longest derived name (_scope_idx) 61.
    table, column = CHINESE[:17], CHINESE[:21]
    domain = parse_domains(_domain(table=table, column=column))["notes"]
    write_workbook(
        tmp_path / "inbox" / "2024_11_notes.xlsx",
        [["202411", "a note"]],
        headers=["月度", column],
    )
    outcome = run_domain(
        tmp_path / "inbox",
        tmp_path / "out",
        domain=domain,
        database_url=shared_database,
        execute=True,
    )
    assert outcome.load is not None and outcome.load.rows_inserted == 1
    assert column in [name for name, _ in columns_of(shared_connection, table)]
