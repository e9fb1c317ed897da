"""Server settings and grants name the real cause: the setting or the GRANT, and the fix.

A role whose search_path names no existing schema (empty, or only missing schemas) has no
schema for the table, the ledger or the stage: the run stops at the ledger read, psql at the
plan's ``pin_schema`` step, both naming the setting and how to set it. A role without rights
on the load ledger ``wdh_loads`` gets the ``GRANT`` it needs, as for the target table. Nothing
is loaded.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from tests.reliability.conftest import Baseline
from tests.reliability.support import run_domain, trustee_rows, write_workbook
from tests.support.database import run_psql
from work_data_hub.errors import WorkDataHubError

pytestmark = pytest.mark.database


def _inbox(tmp_path: Path) -> Path:
    inbox = tmp_path / "inbox"
    write_workbook(inbox / "2024_11_受托业绩.xlsx", trustee_rows(4))
    return inbox


def _with_search_path(url: URL, search_path: str) -> URL:
    return url.update_query_dict({"options": f"-csearch_path={search_path}"})


@pytest.mark.parametrize("search_path", ["", "no_such_schema"])
def test_a_search_path_naming_no_schema_is_named_with_the_fix(
    search_path: str, baseline: Baseline, tmp_path: Path
) -> None:
    with pytest.raises(WorkDataHubError) as caught:
        run_domain(
            _inbox(tmp_path), tmp_path / "out",
            database_url=_with_search_path(baseline.url, search_path), execute=True,
        )  # fmt: skip
    message = str(caught.value)
    assert "search_path" in message and f"({search_path!r})" in message
    assert "ALTER ROLE" in message and "SET search_path = public" in message
    assert "null values cannot be formatted" not in message
    assert baseline.unchanged()


def test_psql_under_an_empty_search_path_names_the_setting_too(
    baseline: Baseline, tmp_path: Path
) -> None:
    plan = run_domain(_inbox(tmp_path), tmp_path / "out").plan_path
    result = run_psql(str(plan), baseline.url, env={"PGOPTIONS": "-c search_path="})
    assert result.returncode != 0
    assert "names no existing schema" in result.stderr
    assert "ALTER ROLE" in result.stderr and "SET search_path = public" in result.stderr
    assert baseline.unchanged()


@pytest.mark.parametrize(
    ("revoked", "missing"), [("SELECT, INSERT", "SELECT"), ("INSERT", "INSERT")]
)
def test_a_loader_without_rights_on_the_ledger_gets_the_grant_it_needs(
    revoked: str, missing: str, baseline: Baseline, loader_role: str, tmp_path: Path
) -> None:
    with baseline.connection.cursor() as cursor:
        cursor.execute(f"REVOKE {revoked} ON wdh_loads FROM {loader_role}")
    with pytest.raises(WorkDataHubError) as caught:
        run_domain(
            _inbox(tmp_path), tmp_path / "out",
            database_url=baseline.url.set(username=loader_role), execute=True,
        )  # fmt: skip
    message = str(caught.value)
    assert f"lacks {missing} on the load ledger public.wdh_loads" in message
    assert f"ON public.wdh_loads TO {loader_role}" in message and "GRANT" in message
    assert "permission denied" not in message
    assert baseline.unchanged()
