"""Throwaway embedded PostgreSQL servers for the test suite, and reaping what a killed run left.

Every test session keeps its servers under ``<tmp>/wdh-test-postgres/run-<pid>-...``, with the
session's pid and start time in ``owner.json``. A session that is killed cannot stop them, so
each new session first stops the servers of every folder whose owner is gone and deletes it.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil

from work_data_hub.warehouse.embedded import (
    EmbeddedServer,
    EmbeddedServerError,
    running_server,
    start_server,
)

SERVERS_ROOT = Path(tempfile.gettempdir()) / "wdh-test-postgres"
OWNER_FILE = "owner.json"
# A throwaway server needs no durability: these make CREATE DATABASE and commits cheap.
THROWAWAY_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
}
_PORT_ATTEMPTS = 3


def _alive(owner_file: Path) -> bool:
    try:
        owner = json.loads(owner_file.read_text(encoding="utf-8"))
        process = psutil.Process(int(owner["pid"]))
        return abs(process.create_time() - float(owner["started"])) < 1
    except (OSError, ValueError, KeyError, TypeError, psutil.Error):
        return False


def _stop_quietly(data_dir: Path) -> None:
    server = running_server(data_dir)
    if server is None:
        return
    try:
        server.stop()
    except EmbeddedServerError:
        server.kill()


def reap_leftover_servers(root: Path = SERVERS_ROOT) -> list[Path]:
    """Stop and delete the servers of sessions that are no longer running; return their folders."""
    reaped = []
    for folder in sorted(root.glob("run-*")):
        if _alive(folder / OWNER_FILE):
            continue
        for version_file in folder.glob("*/PG_VERSION"):
            _stop_quietly(version_file.parent)
        shutil.rmtree(folder, ignore_errors=True)
        reaped.append(folder)
    return reaped


@contextmanager
def session_folder(root: Path = SERVERS_ROOT) -> Iterator[Path]:
    """This session's folder for its servers, marked with its owner; deleted at the end."""
    reap_leftover_servers(root)
    root.mkdir(parents=True, exist_ok=True)
    # Made under another name and renamed once it names its owner: a session starting at the
    # same moment (another xdist worker) must never see a run-* folder without its owner.
    staging = Path(tempfile.mkdtemp(prefix=f"new-{os.getpid()}-", dir=root))
    owner = {"pid": os.getpid(), "started": psutil.Process().create_time()}
    (staging / OWNER_FILE).write_text(json.dumps(owner), encoding="utf-8")
    folder = staging.rename(root / staging.name.replace("new-", "run-", 1))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def throwaway_server(
    folder: Path, name: str, *, password: str | None = None
) -> Iterator[EmbeddedServer]:
    """A new embedded server in ``folder/name`` on a free loopback port, stopped on exit.

    With ``password`` the server checks it (scram-sha-256) for every connection.
    """
    data_dir = folder / name
    failure: EmbeddedServerError | None = None
    for _ in range(_PORT_ATTEMPTS):  # another process may take the free port first
        try:
            server = start_server(
                data_dir,
                folder / f"{name}-socket",
                port=_free_port(),
                password=password,
                settings=THROWAWAY_SETTINGS,
                durable=False,
            )
            break
        except EmbeddedServerError as exc:
            failure = exc
    else:
        assert failure is not None
        raise failure
    try:
        yield server
    finally:
        _stop_quietly(data_dir)
