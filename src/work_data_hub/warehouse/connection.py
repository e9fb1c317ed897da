"""The driver boundary: open a psycopg2 connection to the warehouse, say why it failed.

Only the warehouse client imports this, and only when it connects: plan-only runs never import
the driver.
Inside :func:`interruptible`, connecting and queries can be interrupted (Ctrl-C, SIGTERM):
psycopg2 then waits for the server through :func:`psycopg2.extras.wait_select`, which a signal
wakes up, instead of blocking in libpq until the server answers (e.g. after a lock wait).
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from kedro.io import DatasetError

from work_data_hub.config.warehouse import (
    CREDENTIALS_ENTRY,
    ENVIRONMENT_VARIABLES,
    WarehouseAddress,
)
from work_data_hub.errors import WorkDataHubError

if TYPE_CHECKING:
    from types import FrameType

logger = logging.getLogger(__name__)

# A failing row's values can be long; the message keeps the start.
_DETAIL_LIMIT = 300


class WarehouseConnectionError(WorkDataHubError, DatasetError):
    """The warehouse cannot be reached; the message names host and database, never the password.

    Args:
        message: Why, and which settings to check.
        warehouse: Which warehouse (host, port, database; never the password).
    """

    def __init__(self, message: str, *, warehouse: str) -> None:
        super().__init__(message, warehouse=warehouse)


def connect(address: WarehouseAddress, *, connect_timeout: int, purpose: str) -> Any:
    """A connection in autocommit mode (statements bring their own BEGIN/COMMIT).

    Args:
        address: Where to connect.
        connect_timeout: Seconds to wait for the server.
        purpose: What the connection is for, as the log line says it.

    Raises:
        WarehouseConnectionError: The server cannot be reached or refuses the login.
    """
    import psycopg2  # noqa: PLC0415  (plan-only runs must not import the driver)

    url = address.url
    logger.info("Connecting to the warehouse (%s) to %s", address.describe(), purpose)
    options: dict[str, Any] = {
        "connect_timeout": connect_timeout,
        "application_name": "work_data_hub",
        **{str(key): str(value) for key, value in url.query.items()},
        "client_encoding": "UTF8",
    }
    try:
        connection = psycopg2.connect(
            **{"port": 5432, **url.translate_connect_args(username="user", database="dbname")},
            **options,
        )
    except psycopg2.Error as exc:
        raise WarehouseConnectionError(
            f"Cannot connect to the warehouse ({address.describe()}): "
            f"{server_reason(exc)} Check {', '.join(ENVIRONMENT_VARIABLES)} or "
            f"{CREDENTIALS_ENTRY}. Nothing was loaded.",
            warehouse=address.describe(),
        ) from None
    connection.autocommit = True
    connection.notices = _NoticeLog()
    return connection


class _NoticeLog:
    """psycopg2 appends the server's NOTICEs here as they arrive (e.g. "waiting for the lock")."""

    def append(self, notice: str) -> None:
        text = " ".join(notice.split()).removeprefix("NOTICE: ")
        logger.warning("The warehouse says: %s", text, extra={"event": "server_notice"})


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"stopped by signal {signal.Signals(signum).name}")


_interruptible_lock = threading.Lock()
_interruptible_depth = 0
_interruptible_previous: list[Any] = []


@contextmanager
def interruptible() -> Iterator[None]:
    """Within it, Ctrl-C and SIGTERM cancel the running query, so the load rolls back.

    psycopg2 waits through ``wait_select`` (process-wide; restored on exit), which answers a
    KeyboardInterrupt by cancelling the query on the server; SIGTERM is made to raise one too.
    """
    import psycopg2.extensions  # noqa: PLC0415
    import psycopg2.extras  # noqa: PLC0415

    global _interruptible_depth  # noqa: PLW0603  (the callback is process-wide: count users)
    with _interruptible_lock:
        if _interruptible_depth == 0:
            _interruptible_previous[:] = [psycopg2.extensions.get_wait_callback()]
            psycopg2.extensions.set_wait_callback(psycopg2.extras.wait_select)
        _interruptible_depth += 1
    on_main_thread = threading.current_thread() is threading.main_thread()
    previous_term = signal.signal(signal.SIGTERM, _interrupt) if on_main_thread else None
    try:
        yield
    finally:
        # Loads in two threads overlap: only the last one out restores the callback.
        with _interruptible_lock:
            _interruptible_depth -= 1
            if _interruptible_depth == 0:
                psycopg2.extensions.set_wait_callback(_interruptible_previous.pop())
        if on_main_thread:
            signal.signal(signal.SIGTERM, previous_term)


@contextmanager
def without_wait_callback() -> Iterator[None]:
    """For ``copy_expert``, which psycopg2 refuses under a wait callback.

    The COPY fills the load's own temporary stage, which no other session can lock, so it never
    waits on anyone; every statement that can wait (the advisory lock, the delete) runs with
    the callback, and so stays interruptible.
    """
    import psycopg2.extensions  # noqa: PLC0415

    previous = psycopg2.extensions.get_wait_callback()
    psycopg2.extensions.set_wait_callback(None)
    try:
        yield
    finally:
        psycopg2.extensions.set_wait_callback(previous)


def server_reason(exc: BaseException) -> str:
    """The server's message (and detail and hint) on one line.

    Built from what the server or libpq says, which never holds the password (PostgreSQL's
    messages name the user, never a password), so no text is masked: replacing a password's
    text wherever it occurs would garble the message and reveal the password (a password
    ``o`` makes "does not exist" read "d***es n***t exist").
    """
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None)
    if primary:
        parts = [primary]
        detail = getattr(diag, "message_detail", None)
        hint = getattr(diag, "message_hint", None)
        if detail:
            parts.append(detail[:_DETAIL_LIMIT] + ("..." if len(detail) > _DETAIL_LIMIT else ""))
        if hint:
            parts.append(hint)
        text = ". ".join(part.strip().rstrip(".") for part in parts)
    else:
        lines = [" ".join(line.split()) for line in str(exc).splitlines() if line.strip()]
        text = "; ".join(lines) or type(exc).__name__
    return text if text.endswith((".", "?", "!")) else text + "."
