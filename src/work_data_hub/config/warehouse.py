"""Where the warehouse is: ``WDH_DATABASE__*`` variables, else the Kedro credentials entry.

Order (docs/contract.md, "Database settings"): ``WDH_DATABASE__URI``; else ``WDH_DATABASE__HOST``
with ``__PORT`` (5432), ``__USER``, ``__PASSWORD`` and ``__DB``; else ``warehouse: {con: ...}``
in ``conf/local/credentials.yml``; else, outside the ``prod`` environment, the project's local
warehouse, an embedded PostgreSQL under ``data/warehouse`` started on demand
(:mod:`work_data_hub.warehouse.embedded`). The variables are read through a nested
pydantic-settings model (``WDH_`` prefix, ``__`` delimiter). The system this replaces silently
ignored them, so a variable that is set but cannot take effect is an error here, not a shrug.

Connection strings are parsed and rendered by SQLAlchemy's ``URL``; messages show host, port
and database through :func:`describe`, never the password. A password holding an unencoded
``@``, ``/``, ``#`` or ``?`` makes SQLAlchemy read part of it as the host (which messages would
then print): such a URL is refused, shown by its user and what follows its last ``@`` only
(:func:`shown_without_password`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from work_data_hub.config.project import run_env
from work_data_hub.errors import WorkDataHubError

if TYPE_CHECKING:
    # SQLAlchemy is imported where a URL is parsed or made: a plan-only run never needs it,
    # and its import costs every kedro start a sixth of a second.
    from sqlalchemy.engine import URL

logger = logging.getLogger(__name__)

ENVIRONMENT_VARIABLES = (
    "WDH_DATABASE__URI",
    "WDH_DATABASE__HOST",
    "WDH_DATABASE__PORT",
    "WDH_DATABASE__USER",
    "WDH_DATABASE__PASSWORD",
    "WDH_DATABASE__DB",
)
CREDENTIALS_ENTRY = "'warehouse: {con: postgresql://...}' in conf/local/credentials.yml"
# The Kedro environment that never falls back to the local warehouse.
PRODUCTION_ENV = "prod"
_HOST_GROUP = ("port", "user", "password", "db")


class DatabaseSettings(BaseModel):
    """The ``WDH_DATABASE__*`` group; each field is one variable."""

    uri: SecretStr | None = None
    host: str | None = None
    port: int | None = None
    user: str | None = None
    password: SecretStr | None = None
    db: str | None = None


class WarehouseSettings(BaseSettings):
    """``WDH_DATABASE__URI`` or ``WDH_DATABASE__HOST/__PORT/__USER/__PASSWORD/__DB``."""

    model_config = SettingsConfigDict(
        env_prefix="WDH_", env_nested_delimiter="__", extra="ignore", case_sensitive=False
    )
    database: DatabaseSettings = DatabaseSettings()


class WarehouseConfigError(WorkDataHubError, ValueError):
    """No usable database address; the message names the variables and the credentials key.

    Args:
        message: What is wrong with the address and how to set it (never a password).
        settings: The variables or the credentials entry at fault.
    """

    def __init__(self, message: str, *, settings: list[str]) -> None:
        super().__init__(message, settings=list(settings))


@dataclass(frozen=True)
class WarehouseAddress:
    """The resolved connection URL and the setting it came from (for messages).

    For the local warehouse ``source`` is ``embedded, data/warehouse``: its socket folder and
    database say nothing a reader needs.
    """

    url: URL
    source: str
    embedded: bool = False

    def describe(self) -> str:
        if self.embedded:
            return self.source
        return f"{describe(self.url)}, from {self.source}"


def _variable(field: str) -> str:
    return f"WDH_DATABASE__{field.upper()}"


def shown_without_password(uri: str) -> str:
    """A URL that cannot be read, for a message: its scheme, its user and what follows its last
    ``@`` up to any query, with ``***`` where the password goes.

    Built from those parts, none of which can hold the password (it lies between the user's
    ``:`` and that last ``@``); the password's text is never searched for and replaced.
    """
    scheme, separator, rest = uri.partition("://")
    if not separator:
        return "(not a URL)"
    user_info, at, tail = rest.rpartition("@")
    tail = tail.split("?", 1)[0]
    if not at:
        return f"{scheme}://{tail}"
    return f"{scheme}://{user_info.split(':', 1)[0]}:***@{tail}"


def _check_encoded(uri: str, origin: str) -> None:
    """Refuse a URL whose user or password needs percent-encoding.

    An unencoded ``@``, ``/``, ``#`` or ``?`` in the password makes SQLAlchemy's reading and
    the URL standard's (``urlsplit``) disagree on the user or the host; a well-formed URL never
    does.
    """
    from sqlalchemy.engine import make_url  # noqa: PLC0415
    from sqlalchemy.exc import ArgumentError  # noqa: PLC0415

    try:
        url = make_url(uri)
        standard = urlsplit(uri)
        agree = (url.host or None) == (standard.hostname or None) and (url.username or None) == (
            unquote(standard.username) if standard.username else None
        )
    except (ArgumentError, ValueError):
        agree = "@" not in uri.partition("://")[2].rpartition("@")[0]
    if not agree:
        raise WarehouseConfigError(
            f"{origin} cannot be read: {shown_without_password(uri)}. An @, /, # or ? in its user or password "
            "must be percent-encoded: @ as %40, / as %2F, # as %23, ? as %3F (for example with "
            "urllib.parse.quote(password, safe='')).",
            settings=[origin],
        )


def _parse(uri: str, origin: str) -> URL:
    from sqlalchemy.engine import make_url  # noqa: PLC0415
    from sqlalchemy.exc import ArgumentError  # noqa: PLC0415

    _check_encoded(uri, origin)
    try:
        url = make_url(uri)
    except (ArgumentError, ValueError):  # ValueError: a port that is not a number
        raise WarehouseConfigError(
            f"{origin} is not a connection string like postgresql://user:password@host:5432/db",
            settings=[origin],
        ) from None
    if not url.drivername.startswith("postgresql"):
        raise WarehouseConfigError(
            f"{origin} must be a postgresql:// URL, not {url.drivername}://", settings=[origin]
        )
    return url


def read_settings() -> WarehouseSettings:
    """The ``WDH_DATABASE__*`` variables; a malformed one is named (its value is not shown)."""
    try:
        return WarehouseSettings()
    except ValidationError as exc:
        named = [
            ("WDH_" + "__".join(str(part) for part in problem["loc"]).upper(), problem["msg"])
            for problem in exc.errors(include_input=False, include_url=False)
        ]
        raise WarehouseConfigError(
            "Invalid database settings: " + "; ".join(f"{name}: {msg}" for name, msg in named),
            settings=[name for name, _ in named],
        ) from None


def refuse_unconfigured_in_production(env: str | None = None) -> None:
    """Raise when nothing names a warehouse and the environment is ``prod``.

    Outside ``prod`` an unconfigured run loads into the local embedded warehouse, which
    :func:`work_data_hub.warehouse.address.resolve_address` starts when a connection needs it.

    Raises:
        WarehouseConfigError: The environment is ``prod`` (the message names the settings).
    """
    if run_env(env) == PRODUCTION_ENV:
        raise WarehouseConfigError(
            f"The {PRODUCTION_ENV!r} environment loads only into a configured warehouse, and "
            "none is: set WDH_DATABASE__URI (postgresql://user:password@host:5432/db), or "
            f"WDH_DATABASE__HOST, __PORT, __USER, __PASSWORD and __DB, or {CREDENTIALS_ENTRY}. "
            "(Other environments use the local embedded warehouse under data/warehouse.)",
            settings=["WDH_DATABASE__URI", "WDH_DATABASE__HOST", CREDENTIALS_ENTRY],
        )


def configured_address(
    credentials: dict[str, Any] | None, settings: WarehouseSettings | None = None
) -> WarehouseAddress | None:
    """The warehouse the variables or the credentials entry name; None when nothing is set.

    Args:
        credentials: The catalog's ``warehouse`` credentials entry (``con``), if any.
        settings: The ``WDH_DATABASE__*`` variables (default: read from the environment).

    Raises:
        WarehouseConfigError: A variable or the credentials entry is malformed or incomplete.
    """
    database = (settings or read_settings()).database
    group_set = [_variable(field) for field in _HOST_GROUP if getattr(database, field) is not None]
    if database.uri is not None:
        if database.host is not None or group_set:
            ignored = ([_variable("host")] if database.host is not None else []) + group_set
            logger.warning(
                "WDH_DATABASE__URI is set, so %s %s ignored",
                ", ".join(ignored),
                "is" if len(ignored) == 1 else "are",
            )
        url = _parse(database.uri.get_secret_value(), "WDH_DATABASE__URI")
        return WarehouseAddress(url, "WDH_DATABASE__URI")
    if database.host is not None:
        if not database.db:
            raise WarehouseConfigError(
                "WDH_DATABASE__HOST is set but WDH_DATABASE__DB is not: name the database too",
                settings=["WDH_DATABASE__DB"],
            )
        from sqlalchemy.engine import URL  # noqa: PLC0415

        url = URL.create(
            "postgresql",
            username=database.user,
            password=(database.password.get_secret_value() or None) if database.password else None,
            host=database.host,
            port=database.port or 5432,
            database=database.db,
        )
        return WarehouseAddress(url, "WDH_DATABASE__HOST, __PORT, __USER, __PASSWORD, __DB")
    if group_set:
        raise WarehouseConfigError(
            f"{', '.join(group_set)} {'is' if len(group_set) == 1 else 'are'} set but "
            "WDH_DATABASE__HOST is not: set WDH_DATABASE__HOST too, or use WDH_DATABASE__URI",
            settings=[*group_set, "WDH_DATABASE__HOST"],
        )
    con = (credentials or {}).get("con")
    if con:
        return WarehouseAddress(
            _parse(str(con), "credentials 'warehouse.con' in conf/local/credentials.yml"),
            "credentials 'warehouse.con' in conf/local/credentials.yml",
        )
    return None


def describe(url: URL) -> str:
    """Host, port and database for messages; never the password."""
    return (
        f"host {url.host or '(local socket)'}, port {url.port or 5432}, "
        f"database {url.database or '(default)'}"
    )
