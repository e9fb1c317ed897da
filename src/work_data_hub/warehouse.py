"""Where the warehouse is: ``WDH_DATABASE__*`` variables, else the Kedro credentials entry.

Connection strings are parsed and rendered by SQLAlchemy's ``URL``, which also hides the
password whenever a URL is shown to a person.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

ENVIRONMENT_VARIABLES = (
    "WDH_DATABASE__URI",
    "WDH_DATABASE__HOST",
    "WDH_DATABASE__PORT",
    "WDH_DATABASE__USER",
    "WDH_DATABASE__PASSWORD",
    "WDH_DATABASE__DB",
)


class DatabaseSettings(BaseModel):
    uri: SecretStr | None = None
    host: str | None = None
    port: int = 5432
    user: str | None = None
    password: SecretStr | None = None
    db: str | None = None


class WarehouseSettings(BaseSettings):
    """``WDH_DATABASE__URI`` or ``WDH_DATABASE__HOST/__PORT/__USER/__PASSWORD/__DB``."""

    model_config = SettingsConfigDict(
        env_prefix="WDH_", env_nested_delimiter="__", extra="ignore", case_sensitive=False
    )
    database: DatabaseSettings = DatabaseSettings()


class WarehouseConfigError(ValueError):
    """No usable database address; the message names the variables and the credentials key."""


def _parse(uri: str, origin: str) -> URL:
    try:
        url = make_url(uri)
    except ArgumentError:
        raise WarehouseConfigError(
            f"{origin} is not a connection string like postgresql://user:password@host:5432/db"
        ) from None
    if not url.drivername.startswith("postgresql"):
        raise WarehouseConfigError(f"{origin} must be a postgresql:// URL, not {url.drivername}://")
    return url


def resolve_url(
    credentials: dict[str, Any] | None, settings: WarehouseSettings | None = None
) -> URL:
    """The warehouse URL: ``WDH_DATABASE__URI``, else the ``__HOST`` group, else credentials."""
    database = (settings or WarehouseSettings()).database
    if database.uri is not None:
        return _parse(database.uri.get_secret_value(), "WDH_DATABASE__URI")
    if database.host:
        return URL.create(
            "postgresql",
            username=database.user,
            password=database.password.get_secret_value() if database.password else None,
            host=database.host,
            port=database.port,
            database=database.db,
        )
    con = (credentials or {}).get("con")
    if con:
        return _parse(str(con), "credentials 'warehouse.con' in conf/local/credentials.yml")
    raise WarehouseConfigError(
        "execute=true needs a database: set WDH_DATABASE__URI "
        "(postgresql://user:password@host:5432/db), or WDH_DATABASE__HOST, __PORT, __USER, "
        "__PASSWORD and __DB, or 'warehouse: {con: ...}' in conf/local/credentials.yml"
    )


def describe(url: URL) -> str:
    """Host, port and database for messages; never the password."""
    return f"host {url.host or 'localhost'}, port {url.port or 5432}, database {url.database or '(default)'}"
