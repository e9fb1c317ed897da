"""A file named for a period after the current month (plus the domain's tolerance) is never
picked as the newest: it is listed as ``future`` with a WARNING, and ``periods=`` can still
name it. The current month comes from ``WDH_TODAY`` here, so the tests hold on any date."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.support.paths import PROJECT_ROOT
from tests.support.workbooks import inbox_workbooks, write_trustee
from work_data_hub.config.project import load_domains
from work_data_hub.discovery import FileManifest
from work_data_hub.months import TODAY_VARIABLE
from work_data_hub.pipelines.ingest import nodes

TRUSTEE = load_domains(PROJECT_ROOT)[0]["trustee_performance"]


def _select(
    inbox: Path, max_files: int | None = None, periods: object = None, **domain: object
) -> FileManifest:
    workbooks = inbox_workbooks(inbox)
    declared = TRUSTEE.model_copy(update=domain)
    return nodes.select_workbooks(workbooks, str(inbox), max_files, periods, domain=declared)


@pytest.fixture
def inbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(TODAY_VARIABLE, "2024-11-15")
    root = tmp_path / "inbox"
    for year, month in ((2024, 10), (2024, 11), (2024, 12), (2025, 1), (2052, 10)):
        write_trustee(root / f"{year}_{month:02d}_受托业绩.xlsx", year, month)
    return root


def test_a_typo_far_in_the_future_does_not_shadow_the_real_delivery(
    inbox: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        manifest = _select(inbox)
    # Current month 2024-11 plus the default tolerance of one month: 2024-12 is still selectable.
    assert [f.period for f in manifest.selection.selected] == ["2024-12"]
    assert [f.period for f in manifest.selection.future] == ["2025-01", "2052-10"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert "2052_10_受托业绩.xlsx is from the future (period 2052-10, after 2024-12)" in warnings[1]
    report = manifest.report()
    assert [f["period"] for f in report["future"]] == ["2025-01", "2052-10"]


def test_the_domain_tolerance_moves_the_limit(inbox: Path) -> None:
    none_ahead = _select(inbox, max_files=5, future_tolerance=0)
    assert [f.period for f in none_ahead.selection.selected] == ["2024-10", "2024-11"]
    assert [f.period for f in none_ahead.selection.future] == ["2024-12", "2025-01", "2052-10"]


def test_periods_can_name_a_future_file(inbox: Path) -> None:
    manifest = _select(inbox, periods="2052-10")
    assert [f.period for f in manifest.selection.selected] == ["2052-10"]
    assert [f.period for f in manifest.selection.future] == ["2025-01"]


def test_only_future_files_is_no_delivery(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TODAY_VARIABLE, "2024-11-15")
    write_trustee(tmp_path / "2052_10_受托业绩.xlsx", 2052, 10)
    manifest = _select(tmp_path)
    assert manifest.selection.selected == ()
    assert manifest.selection.no_delivery is not None
    assert "from the future" in manifest.selection.no_delivery
