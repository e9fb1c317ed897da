"""The warehouse client: resolve the address, connect, read in a ``READ ONLY`` transaction."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from work_data_hub.config.warehouse import (
    WarehouseAddress,
    WarehouseConfigError,
    resolve_address,
)
from work_data_hub.load.checks import CheckQuery, CheckResult
from work_data_hub.warehouse.checks import run_checks
from work_data_hub.warehouse.connection import (
    WarehouseConnectionError,
    connect,
    server_reason,
)
from work_data_hub.warehouse.errors import LoadFailedError


class WarehouseClient:
    """One warehouse, as the ``warehouse`` credentials entry (or ``WDH_DATABASE__*``) names it.

    Args:
        credentials: The catalog's ``warehouse`` credentials entry (``con``), if any.
        connect_timeout: Seconds to wait for the server when connecting.

    Nothing is resolved or started until a method needs the warehouse.
    """

    def __init__(self, credentials: dict[str, Any] | None = None, *, connect_timeout: int = 10):
        self._credentials = dict(credentials or {})
        self._connect_timeout = connect_timeout

    def address(self, domain: str) -> WarehouseAddress:
        """Where the warehouse is.

        Raises:
            LoadFailedError: The address is misconfigured (the message names the setting).
        """
        try:
            return resolve_address(self._credentials)
        except WarehouseConfigError as exc:
            raise LoadFailedError(f"{domain}: {exc}; nothing was loaded.") from None

    def connection(self, address: WarehouseAddress, purpose: str) -> Any:
        """An autocommit connection (statements bring their own BEGIN and COMMIT).

        Raises:
            LoadFailedError: The server cannot be reached.
        """
        try:
            return connect(address, connect_timeout=self._connect_timeout, purpose=purpose)
        except WarehouseConnectionError as exc:
            raise LoadFailedError(str(exc)) from None

    @contextmanager
    def read_only(self, domain: str, purpose: str) -> Iterator[tuple[Any, WarehouseAddress]]:
        """A cursor inside a ``READ ONLY`` transaction, rolled back and closed on exit."""
        address = self.address(domain)
        connection = self.connection(address, purpose)
        try:
            with connection.cursor() as cursor:
                cursor.execute("BEGIN")
                cursor.execute("SET TRANSACTION READ ONLY")
                yield cursor, address
                cursor.execute("ROLLBACK")
        finally:
            connection.close()

    def run_checks(
        self,
        *,
        domain: str,
        table: str,
        queries: Sequence[CheckQuery],
        settings: Mapping[str, str],
    ) -> list[CheckResult]:
        """What the checks' SELECTs find, read-only, in the table's schema as the plan pins it.

        Raises:
            LoadFailedError: The warehouse cannot be reached or refuses a read.
        """
        with self.read_only(domain, "check a saved plan") as (cursor, address):
            try:
                return run_checks(cursor, table, queries, settings)
            except Exception as exc:
                if not hasattr(exc, "pgcode"):
                    raise
                raise LoadFailedError(
                    f"{domain}: the checks could not read the warehouse: "
                    f"{server_reason(exc, address.url)} Nothing was written."
                ) from None
