"""Where the warehouse is, once a connection needs it: configured, or the local embedded one.

Configuration only names the address (:mod:`work_data_hub.config.warehouse`); this is where
the local embedded warehouse is started, on the first connection that needs it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from work_data_hub.config.project import project_path
from work_data_hub.config.warehouse import (
    WarehouseAddress,
    WarehouseSettings,
    configured_address,
    refuse_unconfigured_in_production,
)

if TYPE_CHECKING:
    from sqlalchemy.engine import URL


def resolve_address(
    credentials: dict[str, Any] | None,
    settings: WarehouseSettings | None = None,
    *,
    env: str | None = None,
) -> WarehouseAddress:
    """The warehouse address: ``WDH_DATABASE__URI``, else the ``__HOST`` group, else credentials,
    else (outside ``prod``) the local warehouse, started now if it is not running.

    Args:
        credentials: The catalog's ``warehouse`` credentials entry (``con``), if any.
        settings: The ``WDH_DATABASE__*`` variables (default: read from the environment).
        env: The Kedro environment (default: the run's).

    Raises:
        WarehouseConfigError: A setting is malformed, or nothing is configured in ``prod``.
        EmbeddedServerError: The local warehouse cannot be started.
    """
    configured = configured_address(credentials, settings)
    if configured is not None:
        return configured
    refuse_unconfigured_in_production(env)
    # Imported only when used: the embedded server's module imports SQLAlchemy.
    from work_data_hub.warehouse.embedded import (  # noqa: PLC0415
        WAREHOUSE_FOLDER,
        local_warehouse_address,
    )

    url = local_warehouse_address(project_path())
    return WarehouseAddress(url, f"embedded, {WAREHOUSE_FOLDER.as_posix()}", embedded=True)


def resolve_url(
    credentials: dict[str, Any] | None,
    settings: WarehouseSettings | None = None,
    *,
    env: str | None = None,
) -> URL:
    """The warehouse URL alone; its Args and Raises are :func:`resolve_address`'s."""
    return resolve_address(credentials, settings, env=env).url
