"""Database settings (docs/contract.md): every WDH_DATABASE__* variable takes effect, in order."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from urllib.parse import quote

import pytest
from kedro.config import OmegaConfigLoader
from sqlalchemy.engine import URL

from tests.support.paths import PROJECT_ROOT
from work_data_hub.config.warehouse import (
    ENVIRONMENT_VARIABLES,
    WarehouseConfigError,
    describe,
)
from work_data_hub.warehouse import embedded as embedded_warehouse
from work_data_hub.warehouse.address import resolve_address, resolve_url

PASSWORD = "pw-N0t/In@Logs"


@pytest.fixture(autouse=True)
def _no_database_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENVIRONMENT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


def _set(monkeypatch: pytest.MonkeyPatch, **variables: str) -> None:
    for field, value in variables.items():
        monkeypatch.setenv(f"WDH_DATABASE__{field.upper()}", value)


def test_uri_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    _set(monkeypatch, uri="postgresql://loader:secret@db.example:6543/warehouse")
    address = resolve_address({"con": "postgresql://other@elsewhere/other"})
    url = address.url
    assert (url.host, url.port, url.username, url.password, url.database) == (
        "db.example",
        6543,
        "loader",
        "secret",
        "warehouse",
    )
    assert address.source == "WDH_DATABASE__URI"


def test_uri_wins_over_the_host_group_and_says_so(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _set(monkeypatch, uri="postgresql://loader@db.example/warehouse", host="other", port="1")
    with caplog.at_level(logging.WARNING, logger="work_data_hub.config.warehouse"):
        url = resolve_url(None)
    assert url.host == "db.example"
    assert "WDH_DATABASE__HOST, WDH_DATABASE__PORT are ignored" in caplog.text


def test_each_host_group_variable_takes_effect(monkeypatch: pytest.MonkeyPatch) -> None:
    _set(monkeypatch, host="db.example", port="6543", user="loader", password=PASSWORD, db="wh")
    address = resolve_address({"con": "postgresql://other@elsewhere/other"})
    url = address.url
    assert url.host == "db.example"  # WDH_DATABASE__HOST
    assert url.port == 6543  # WDH_DATABASE__PORT
    assert url.username == "loader"  # WDH_DATABASE__USER
    assert url.password == PASSWORD  # WDH_DATABASE__PASSWORD, special characters kept
    assert url.database == "wh"  # WDH_DATABASE__DB
    assert PASSWORD not in address.describe()
    assert address.describe() == (
        "host db.example, port 6543, database wh, "
        "from WDH_DATABASE__HOST, __PORT, __USER, __PASSWORD, __DB"
    )


def test_port_defaults_to_5432(monkeypatch: pytest.MonkeyPatch) -> None:
    _set(monkeypatch, host="db.example", db="wh")
    url = resolve_url(None)
    assert (url.port, url.username, url.password) == (5432, None, None)


def test_variable_names_are_case_insensitive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("wdh_database__uri", "postgresql://loader@db.example/warehouse")
    assert resolve_url(None).host == "db.example"


def test_credentials_entry_is_the_fallback() -> None:
    address = resolve_address({"con": "postgresql://loader:pw@cred.example:5433/wh"})
    assert (address.url.host, address.url.port, address.url.database) == (
        "cred.example",
        5433,
        "wh",
    )
    assert "credentials.yml" in address.source


def test_credentials_entry_is_read_from_conf_local(tmp_path: Path) -> None:
    """The catalog's ``credentials: warehouse`` resolves to conf/local/credentials.yml."""
    conf = tmp_path / "conf"
    shutil.copytree(PROJECT_ROOT / "conf" / "base", conf / "base")
    (conf / "local").mkdir()
    (conf / "local" / "credentials.yml").write_text(
        "warehouse:\n  con: postgresql://loader:pw@local.example:5433/wh\n", encoding="utf-8"
    )
    loader = OmegaConfigLoader(conf_source=str(conf), base_env="base", default_run_env="local")
    credentials = loader["credentials"]
    assert resolve_url(credentials["warehouse"]).host == "local.example"


@pytest.mark.parametrize("field", ["port", "user", "password", "db"])
def test_a_group_variable_without_host_is_an_error_not_ignored(
    monkeypatch: pytest.MonkeyPatch, field: str
) -> None:
    _set(monkeypatch, **{field: "5433"})
    with pytest.raises(WarehouseConfigError, match=f"WDH_DATABASE__{field.upper()} is set but"):
        resolve_url({"con": "postgresql://other@elsewhere/other"})


def test_host_without_database_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    _set(monkeypatch, host="db.example")
    with pytest.raises(WarehouseConfigError, match="WDH_DATABASE__DB is not"):
        resolve_url(None)


def test_a_malformed_port_is_named_without_its_value(monkeypatch: pytest.MonkeyPatch) -> None:
    _set(monkeypatch, host="db.example", db="wh", port="not-a-port", password=PASSWORD)
    with pytest.raises(WarehouseConfigError, match="WDH_DATABASE__PORT") as caught:
        resolve_url(None)
    assert "not-a-port" not in str(caught.value)
    assert PASSWORD not in str(caught.value)


@pytest.mark.parametrize(
    ("uri", "message"),
    [("mysql://u:pw@h/db", "must be a postgresql:// URL"), ("::nonsense::", "not a connection")],
)
def test_a_bad_uri_is_named(monkeypatch: pytest.MonkeyPatch, uri: str, message: str) -> None:
    _set(monkeypatch, uri=uri)
    with pytest.raises(WarehouseConfigError, match=message) as caught:
        resolve_url(None)
    assert "WDH_DATABASE__URI" in str(caught.value)
    assert "pw" not in str(caught.value)


def test_nothing_set_in_prod_names_every_way_to_set_it() -> None:
    with pytest.raises(WarehouseConfigError) as caught:
        resolve_url({}, env="prod")
    message = str(caught.value)
    for text in ("WDH_DATABASE__URI", "WDH_DATABASE__HOST", "__PORT", "__DB", "credentials.yml"):
        assert text in message


def test_describe_never_shows_the_password(monkeypatch: pytest.MonkeyPatch) -> None:
    _set(
        monkeypatch,
        uri=f"postgresql://loader:{PASSWORD.replace('/', '%2F').replace('@', '%40')}@h/db",
    )
    url = resolve_url(None)
    assert url.password == PASSWORD
    assert describe(url) == "host h, port 5432, database db"


def test_nothing_set_outside_prod_is_the_local_warehouse(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    started: list[Path] = []

    def fake_start(project: Path) -> URL:
        started.append(project)
        return URL.create("postgresql", username="postgres", database="warehouse")

    monkeypatch.setattr(embedded_warehouse, "local_warehouse_address", fake_start)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("KEDRO_ENV", raising=False)
    address = resolve_address({})
    assert address.embedded and address.describe() == "embedded, data/warehouse"
    assert address.url.database == "warehouse" and len(started) == 1


@pytest.mark.parametrize("character", ["@", "/", "#", "?"])
@pytest.mark.parametrize("route", ["uri", "credentials"])
def test_a_password_with_an_unencoded_special_character_is_refused_masked(
    monkeypatch: pytest.MonkeyPatch, character: str, route: str
) -> None:
    password = f"Sec{character}ret-Tail-7f3a"
    uri = f"postgresql://loader:{password}@db.example:6543/warehouse"
    if route == "uri":
        _set(monkeypatch, uri=uri)
    with pytest.raises(WarehouseConfigError) as caught:
        resolve_url({"con": uri} if route == "credentials" else None)
    message = str(caught.value)
    assert "postgresql://loader:***@db.example:6543/warehouse" in message
    assert "percent-encode" in message and "%40" in message
    assert ("WDH_DATABASE__URI" if route == "uri" else "credentials.yml") in message
    for part in (password, "Sec", "ret-Tail-7f3a"):
        assert part not in message


@pytest.mark.parametrize("character", ["@", "/", "#", "?", ":", "%"])
def test_a_percent_encoded_password_is_read_back_exactly(
    monkeypatch: pytest.MonkeyPatch, character: str
) -> None:
    password = f"Sec{character}ret"
    _set(
        monkeypatch,
        uri=f"postgresql://loader:{quote(password, safe='')}@db.example/wh?sslmode=require",
    )
    url = resolve_url(None)
    assert (url.password, url.host, url.database) == (password, "db.example", "wh")


def test_an_at_sign_in_the_query_is_not_taken_for_a_password() -> None:
    url = resolve_url({"con": "postgresql://loader@db.example/wh?application_name=a@b"})
    assert (url.host, url.query["application_name"]) == ("db.example", "a@b")
