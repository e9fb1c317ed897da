"""``kedro run --pipelines status``: per domain and month, what is loaded, pending, missing,
late or refused (docs/contract.md, "Delivery calendar"), as JSON, on the console and as a page."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import stat
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import URL

from tests.support.browser import rendered_dom, screenshot, table_text
from tests.support.cli import run_kedro
from tests.support.paths import PROJECT_ROOT
from work_data_hub.config.project import load_domains
from work_data_hub.discovery import FileCandidate
from work_data_hub.load.ledger import NewestLoad
from work_data_hub.months import TODAY_VARIABLE
from work_data_hub.pipelines.status.grid import domain_status, refused_attempts

TRUSTEE = load_domains(PROJECT_ROOT)[0]["trustee_performance"]
STATUS = Path("data/08_reporting/status")

SEPTEMBER = "2024/09/2024_09_受托业绩.xlsx"
NOVEMBER_V1 = "2024/11/V1/2024_11_受托业绩.xlsx"
NOVEMBER_V2 = "2024/11/V2/2024_11_受托业绩.xlsx"


def _files(*paths: str) -> list[FileCandidate]:
    return [FileCandidate(path, 100, 1_700_000_000.0) for path in paths]


def _sha(path: str) -> str:
    return f"sha-of-{path}"


def _load(period: str, path: str, sha256: str | None = None) -> NewestLoad:
    return NewestLoad(period, path, sha256 or _sha(path), "run-1", "2024-10-05 09:00:00+00:00")


def _states(cells: dict[str, dict[str, Any]]) -> dict[str, str]:
    return {period: cell["state"] for period, cell in cells.items()}


def test_a_month_absent_past_its_due_day_is_late_before_it_missing() -> None:
    inbox = _files(SEPTEMBER, NOVEMBER_V1, NOVEMBER_V2)
    loads = {"2024-09": _load("2024-09", SEPTEMBER)}
    before = domain_status(TRUSTEE, inbox, loads, {}, _sha, dt.date(2024, 11, 10))
    assert _states(before) == {"2024-11": "pending", "2024-10": "missing", "2024-09": "loaded"}
    assert before["2024-10"]["due"] == "2024-11-10"
    assert before["2024-11"]["superseded"] == [NOVEMBER_V1]
    assert before["2024-09"]["run_id"] == "run-1" and before["2024-09"]["file"] == SEPTEMBER
    after = domain_status(TRUSTEE, inbox, loads, {}, _sha, dt.date(2024, 11, 11))
    assert after["2024-10"]["state"] == "late"


def test_a_newer_delivery_than_the_loaded_one_is_pending() -> None:
    loads = {"2024-11": _load("2024-11", NOVEMBER_V1)}
    cells = domain_status(TRUSTEE, _files(NOVEMBER_V1, NOVEMBER_V2), loads, {}, _sha,
                          dt.date(2024, 12, 1))  # fmt: skip
    assert cells["2024-11"]["state"] == "pending"
    assert cells["2024-11"]["file"] == NOVEMBER_V2
    assert cells["2024-11"]["loaded_file"] == NOVEMBER_V1


def test_the_last_attempt_refused_on_the_same_file_is_refused() -> None:
    report = {
        "run_id": "run-2",
        "started_at": "2024-12-02T08:00:00+0000",
        "domains": {"trustee_performance": {
            "status": "failed", "failed_step": "save_load_plan", "error": "volume check failed",
            "files": {"selected": [{"path": NOVEMBER_V2, "period": "2024-11",
                                    "sha256": _sha(NOVEMBER_V2)}]},
        }},
    }  # fmt: skip
    attempts = refused_attempts([report])["trustee_performance"]
    cells = domain_status(TRUSTEE, _files(NOVEMBER_V2), {}, attempts, _sha, dt.date(2024, 12, 3))
    assert cells["2024-11"]["state"] == "refused"
    assert cells["2024-11"]["error"] == "volume check failed"
    # A corrected file since the refusal is pending again.
    changed = domain_status(TRUSTEE, _files(NOVEMBER_V2), {}, attempts, lambda p: "new",
                            dt.date(2024, 12, 3))  # fmt: skip
    assert changed["2024-11"]["state"] == "pending"


def _trustee_inbox_without_october(project: Path) -> None:
    shutil.rmtree(project / "data/01_raw/2024/10")


def test_status_on_a_loaded_september_a_missing_october_and_a_pending_november(
    project_copy: Path, database_url: URL, tmp_path: Path
) -> None:
    _trustee_inbox_without_october(project_copy)
    loaded = run_kedro(
        project_copy, "run", "--pipelines", "trustee_performance",
        "--params", "execute=true,periods=2024-09,max_reject_ratio=0.1", database_url=database_url,
    )  # fmt: skip
    assert loaded.returncode == 0, loaded.stdout + loaded.stderr

    result = run_kedro(project_copy, "run", "--pipelines", "status",
                       database_url=database_url, env={TODAY_VARIABLE: "2024-11-05"})  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    status = json.loads((project_copy / STATUS / "status.json").read_text(encoding="utf-8"))
    trustee = status["domains"]["trustee_performance"]
    assert _states(trustee) == {"2024-11": "pending", "2024-10": "missing", "2024-09": "loaded"}
    assert trustee["2024-09"]["file"] == "2024/09/2024_09_受托业绩报告.xlsx"
    assert trustee["2024-11"]["superseded"] == ["2024/11/V1/2024-11 受托业绩.xlsx"]
    assert status["ledger"].startswith("read")
    assert "pending" in result.stderr and "missing (due 2024-11-10)" in result.stderr
    for name in ("status.json", "status.html"):
        assert stat.S_IMODE((project_copy / STATUS / name).stat().st_mode) == 0o600

    page = project_copy / STATUS / "status.html"
    assert "http" not in page.read_text(encoding="utf-8").replace("http-equiv", "")
    rows = {row[0]: row[1:] for row in table_text(rendered_dom(page))}
    assert rows["period"] == ["trustee_performance", "annuity_performance"]
    assert rows["2024-09"][0].startswith("loaded run ")
    assert rows["2024-10"][0] == "missing due 2024-11-10"
    assert rows["2024-11"][0].startswith("pending 2024/11/V2/2024-11 受托业绩.xlsx")
    assert screenshot(page, tmp_path / "status.png").stat().st_size > 0


def test_status_with_the_inbox_alone_reads_no_ledger(project_copy: Path) -> None:
    result = run_kedro(project_copy, "run", "--pipelines", "status",
                       env={TODAY_VARIABLE: "2024-12-20"})  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    # A run of no domain says which pipeline it is.
    assert "started: pipelines status, params" in " ".join(result.stderr.split())
    status = json.loads((project_copy / STATUS / "status.json").read_text(encoding="utf-8"))
    assert status["ledger"].startswith("not read")
    assert not (project_copy / "data/warehouse").exists()
    trustee = status["domains"]["trustee_performance"]
    assert set(_states(trustee).values()) == {"pending"}
    annuity = status["domains"]["annuity_performance"]
    assert _states(annuity) == {"2024-11": "pending", "2024-10": "pending"}


@pytest.mark.parametrize("day", ["2024-13-01", "soon"])
def test_a_bad_today_is_named(day: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from work_data_hub.months import today

    monkeypatch.setenv(TODAY_VARIABLE, day)
    with pytest.raises(ValueError, match=TODAY_VARIABLE):
        today()
