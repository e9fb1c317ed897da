"""``PostgresLoadDataset``: write a load plan as a psql script and, with ``execute``, apply it."""

from __future__ import annotations

import io
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

from kedro.io import AbstractVersionedDataset, DatasetError, Version

from work_data_hub.config.warehouse import (
    WarehouseAddress,
    WarehouseConfigError,
    describe,
    resolve_address,
)
from work_data_hub.datasets.owner_only import open_owner_only
from work_data_hub.datasets.warehouse_connection import (
    WarehouseConnectionError,
    connect,
    interruptible,
    server_reason,
    without_wait_callback,
)
from work_data_hub.errors import WorkDataHubError
from work_data_hub.load.plan import LoadPlan
from work_data_hub.load.psql import SealedPlan, seal

logger = logging.getLogger(__name__)


class RejectedRowsError(WorkDataHubError, DatasetError):
    """Too many rejected rows for an execute run; nothing was loaded."""


class LoadFailedError(WorkDataHubError, DatasetError):
    """The database refused the load; the transaction was rolled back, nothing changed."""


@dataclass(frozen=True)
class LoadResult:
    """What one save did: where the plan is and, when executed, what PostgreSQL reported."""

    plan_path: str
    executed: bool
    rows_deleted: int | None = None
    rows_inserted: int | None = None
    transaction_seconds: float | None = None
    plan_sha256: str | None = None
    nothing_to_load: bool = False


def _strict_bool(value: object, name: str) -> bool:
    if isinstance(value, bool):
        return value
    raise DatasetError(
        f"{name} must be true or false (as in --params execute=true), got {value!r} "
        f"of type {type(value).__name__}"
    )


class PostgresLoadDataset(AbstractVersionedDataset[LoadPlan, bytes]):
    """Saves a :class:`~work_data_hub.load.plan.LoadPlan`: always as a versioned psql script,
    and, when ``execute`` is true, also by running the same statements in one transaction.

    Loading returns the plan script's bytes. Example catalog entry::

        "{domain}.load_plan":
          type: work_data_hub.datasets.postgres_load_dataset.PostgresLoadDataset
          filepath: data/08_reporting/plans/{domain}.sql
          versioned: true
          execute: ${runtime_params:execute, ${globals:execute}}
          credentials: warehouse
          connect_timeout: 10

    The database address comes from ``WDH_DATABASE__URI``, else ``WDH_DATABASE__HOST``,
    ``__PORT``, ``__USER``, ``__PASSWORD``, ``__DB``, else ``credentials['con']``
    (see :mod:`work_data_hub.config.warehouse`). Plan-only saves never import the driver and never
    connect.

    Executing runs the plan's own statements on one autocommit connection, so its ``BEGIN``
    and ``COMMIT`` frame the transaction exactly as under psql; the plan takes a
    transaction-scoped advisory lock on the table first, so two runs of one domain queue. The
    rows go through ``COPY ... FROM STDIN`` from the in-memory payload. Any failure rolls back
    and raises :class:`LoadFailedError` naming the step, the server's reason and the address
    (never the password); the connection is closed on every path. With rejected rows above
    the plan's ``max_reject_ratio`` nothing connects: :class:`RejectedRowsError`. What
    PostgreSQL reported (rows deleted and inserted, transaction seconds) is in ``last_result``,
    which the run-report hook copies.
    """

    def __init__(
        self,
        *,
        filepath: str,
        execute: bool = False,
        credentials: dict[str, Any] | None = None,
        connect_timeout: int = 10,
        statement_timeout_ms: int = 0,
        version: Version | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(
            filepath=PurePosixPath(filepath), version=version, exists_function=self._file_exists
        )
        self._execute = _strict_bool(execute, "execute")
        self._credentials = dict(credentials or {})
        self._connect_timeout = connect_timeout
        self._statement_timeout_ms = statement_timeout_ms
        self.metadata = metadata
        self.last_result: LoadResult | None = None

    @staticmethod
    def _file_exists(path: str) -> bool:
        return Path(path).is_file()

    def _describe(self) -> dict[str, Any]:
        return {
            "filepath": str(self._filepath),
            "execute": self._execute,
            "version": self._version,
        }

    def load(self) -> bytes:
        return Path(self._get_load_path()).read_bytes()

    def save(self, data: LoadPlan) -> None:
        path = Path(self._get_save_path())
        sealed = seal(data)
        # Plans carry the rows themselves: readable by the owner only.
        with os.fdopen(open_owner_only(path), "wb") as handle:
            handle.write(sealed.script)
        self.last_result = LoadResult(
            plan_path=str(path),
            executed=False,
            plan_sha256=sealed.plan_sha256,
            nothing_to_load=data.nothing_to_load,
        )
        logger.info("Wrote the load plan for %s to %s", data.domain, path)
        if data.nothing_to_load:
            logger.info("%s: nothing to load, every selected file is already loaded", data.domain)
            return
        if not self._execute:
            return
        if data.rows_rejected and data.reject_ratio > data.max_reject_ratio:
            raise RejectedRowsError(
                f"{data.domain}: {data.rows_rejected} of {data.rows_read} rows were rejected "
                f"({data.reject_ratio:.2%}, above max_reject_ratio {data.max_reject_ratio:.2%}); "
                f"nothing was loaded. See the rejects file and the plan {path}."
            )
        try:
            address = resolve_address(self._credentials)
        except WarehouseConfigError as exc:
            raise LoadFailedError(f"{data.domain}: {exc}; nothing was loaded.") from None
        with interruptible():
            self.last_result = self._apply(data, sealed, path, address)

    def _apply(
        self, plan: LoadPlan, sealed: SealedPlan, path: Path, address: WarehouseAddress
    ) -> LoadResult:
        """Run the plan's statements, in order, in the one transaction they open and commit."""
        try:
            connection = connect(
                address, connect_timeout=self._connect_timeout, purpose=f"load {plan.domain}"
            )
        except WarehouseConnectionError as exc:
            raise LoadFailedError(str(exc)) from None
        deleted: int | None = None
        inserted: int | None = None
        started = time.perf_counter()
        try:
            # The plan carries its own BEGIN and COMMIT, exactly as psql runs it.
            with connection.cursor() as cursor:
                if self._statement_timeout_ms:
                    cursor.execute(f"SET statement_timeout = {int(self._statement_timeout_ms)}")
                for statement in sealed.statements:
                    try:
                        if statement.copy_rows:
                            with without_wait_callback():
                                cursor.copy_expert(statement.sql, self._payload_stream(plan))
                        else:
                            cursor.execute(statement.sql)
                    except Exception as exc:
                        failure = self._failure(
                            plan, statement.purpose, exc, connection, address, path
                        )
                        # from None: the driver's exception can carry connection details.
                        raise failure from None
                    if statement.purpose == "record_load":
                        # The ledger row's own counts: what psql would record too.
                        deleted, inserted = cursor.fetchone()
        finally:
            connection.close()
        seconds = time.perf_counter() - started
        logger.info(
            "Loaded %s into %s: %s rows deleted, %s inserted in %.2fs",
            plan.domain,
            plan.table,
            deleted,
            inserted,
            seconds,
        )
        return LoadResult(str(path), True, deleted, inserted, round(seconds, 3), sealed.plan_sha256)

    @staticmethod
    def _payload_stream(plan: LoadPlan) -> BinaryIO:
        """The COPY rows as an in-memory stream (the plan's own bytes, never a temp file)."""
        return io.BytesIO(plan.copy_payload)

    def _failure(
        self,
        plan: LoadPlan,
        step: str,
        error: Exception,
        connection: Any,
        address: WarehouseAddress,
        path: Path,
    ) -> LoadFailedError:
        """Roll back (if the server is still there) and say what happened to the table."""
        reason = server_reason(error, address.url)
        # psycopg2 marks the connection closed when the server went away (terminated, crashed).
        lost = bool(connection.closed)
        if lost:
            reason = f"the connection to the server was lost ({reason.rstrip('.')})."
        else:
            self._rollback(connection)
        if lost and step == "commit":
            outcome = (
                "The server may have committed the load just before the connection was lost: "
                f"check the table's _run_id ({plan.run_id}) before running again."
            )
        elif lost:
            outcome = (
                "The server rolled the transaction back: the table is unchanged and nothing "
                "was loaded."
            )
        else:
            outcome = (
                "The transaction was rolled back: the table is unchanged and nothing was loaded."
            )
        return LoadFailedError(
            f"{plan.domain}: loading table {plan.table!r} failed at step '{step}' "
            f"({describe(address.url)}): {reason} {outcome} Plan: {path}"
        )

    @staticmethod
    def _rollback(connection: Any) -> None:
        try:
            if not connection.closed:
                connection.cursor().execute("ROLLBACK")
        except Exception:
            logger.debug("ROLLBACK after a failed load did not reach the server", exc_info=True)
