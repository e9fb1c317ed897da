"""The local warehouse kept between runs: ``kedro warehouse start``, ``url``, ``status``, ``stop``.

A run starts the local warehouse (``data/warehouse``) when it needs it and stops it when it
ends, on a socket only its owner can reach. ``start`` keeps it running, and also on a loopback
port, so that psql, a notebook or the docs' SQL queries can reach it: its URL names the port
and a password file (``data/warehouse.pgpass``, owner-only), never the password. Over TCP the
server asks for that password (``scram-sha-256``); runs keep using the trusted socket, and no
run stops a kept warehouse. ``stop`` waits until no run uses it, then stops it.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from sqlalchemy.engine import URL

from work_data_hub.warehouse.embedded import (
    KEPT_FILE,
    OWNER_FILE,
    SUPERUSER,
    WAREHOUSE_DATABASE,
    EmbeddedServer,
    ensure_database,
    held_by_a_run,
    initialise,
    no_run_holding,
    running_server,
    start_server,
    warehouse_dir,
)

PASSFILE_SUFFIX = ".pgpass"
_HBA = "pg_hba.conf"


@dataclass(frozen=True)
class KeptWarehouse:
    """The local warehouse as ``kedro warehouse start`` keeps it: its port and password file."""

    data_dir: Path
    port: int
    passfile: Path

    @property
    def url(self) -> URL:
        """For psql and notebooks; libpq reads the password from ``passfile``."""
        return URL.create(
            "postgresql",
            username=SUPERUSER,
            host="127.0.0.1",
            port=self.port,
            database=WAREHOUSE_DATABASE,
            query={"passfile": str(self.passfile)},
        )

    @property
    def text(self) -> str:
        """The URL as psql takes it, the password file's path readable (not percent-encoded)."""
        passfile = quote(str(self.passfile), safe="/")
        return (
            f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{WAREHOUSE_DATABASE}"
            f"?passfile={passfile}"
        )


@dataclass(frozen=True)
class WarehouseStatus:
    """What ``kedro warehouse status`` says."""

    data_dir: Path
    exists: bool
    running: bool
    kept: KeptWarehouse | None
    used_by_a_run: bool


def _passfile(data_dir: Path) -> Path:
    return data_dir.with_name(data_dir.name + PASSFILE_SUFFIX)


def kept_warehouse(project: Path) -> KeptWarehouse | None:
    """The warehouse ``start`` keeps, if it still runs on the port it was given."""
    data_dir = warehouse_dir(project).resolve()
    try:
        kept = json.loads((data_dir / KEPT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    server = running_server(data_dir)
    if server is None or server.url.port != kept.get("port"):
        return None
    return KeptWarehouse(data_dir, int(kept["port"]), _passfile(data_dir))


def warehouse_status(project: Path) -> WarehouseStatus:
    data_dir = warehouse_dir(project).resolve()
    return WarehouseStatus(
        data_dir=data_dir,
        exists=(data_dir / "PG_VERSION").is_file(),
        running=running_server(data_dir) is not None,
        kept=kept_warehouse(project),
        used_by_a_run=held_by_a_run(data_dir),
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _password_over_tcp(data_dir: Path) -> None:
    """Connections over TCP must prove the password; the socket stays trusted (owner-only)."""
    hba = data_dir / _HBA
    lines = hba.read_text(encoding="utf-8").splitlines()
    changed = [
        line.rsplit("trust", 1)[0] + "scram-sha-256"
        if line.startswith("host") and line.rstrip().endswith("trust")
        else line
        for line in lines
    ]
    hba.write_text("\n".join(changed) + "\n", encoding="utf-8")


def _set_password(server: EmbeddedServer, port: int, passfile: Path) -> None:
    import psycopg2  # noqa: PLC0415

    password = secrets.token_urlsafe(24)  # letters, digits, - and _: nothing to escape
    connection = psycopg2.connect(**server.connect_arguments(), connect_timeout=10)
    try:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute("SET password_encryption = 'scram-sha-256'")
            cursor.execute(f'ALTER ROLE "{SUPERUSER}" PASSWORD %s', (password,))
    finally:
        connection.close()
    # Owner-only from its creation on (libpq refuses a password file others can read).
    passfile.unlink(missing_ok=True)
    descriptor = os.open(passfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(f"127.0.0.1:{port}:*:{SUPERUSER}:{password}\n")


def start_kept_warehouse(
    project: Path, *, port: int | None = None, waiting: Callable[[], None] = lambda: None
) -> KeptWarehouse:
    """Keep the local warehouse running on ``port`` (a free one by default), creating it if
    needed. A running one is restarted on the port once no run uses it (``waiting`` first)."""
    current = kept_warehouse(project)
    if current is not None and port in (None, current.port):
        return current
    data_dir = warehouse_dir(project).resolve()
    with no_run_holding(data_dir, waiting):
        server = running_server(data_dir)
        if server is not None:
            server.stop()
            shutil.rmtree(server.socket_dir, ignore_errors=True)
        port = port or _free_port()
        if not (data_dir / "PG_VERSION").is_file():
            initialise(data_dir)
        _password_over_tcp(data_dir)
        socket_dir = Path(tempfile.mkdtemp(prefix="wdh-warehouse-"))
        server = start_server(data_dir, socket_dir, port=port)
        ensure_database(server.on_socket(), WAREHOUSE_DATABASE)
        passfile = _passfile(data_dir)
        _set_password(server.on_socket(), port, passfile)
        (data_dir / OWNER_FILE).unlink(missing_ok=True)  # no run owns it: none stops it
        (data_dir / KEPT_FILE).write_text(json.dumps({"port": port}), encoding="utf-8")
    return KeptWarehouse(data_dir, port, passfile)


def stop_kept_warehouse(project: Path, *, waiting: Callable[[], None] = lambda: None) -> bool:
    """Stop the local warehouse once no run uses it; False when it was not running."""
    data_dir = warehouse_dir(project).resolve()
    if not data_dir.is_dir():
        return False
    with no_run_holding(data_dir, waiting):
        (data_dir / KEPT_FILE).unlink(missing_ok=True)
        _passfile(data_dir).unlink(missing_ok=True)
        server = running_server(data_dir)
        if server is None:
            return False
        server.stop()
        shutil.rmtree(server.socket_dir, ignore_errors=True)
        (data_dir / OWNER_FILE).unlink(missing_ok=True)
        return True
