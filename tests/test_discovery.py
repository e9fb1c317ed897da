"""Discovery (docs/contract.md "Discovery"): which files belong to a domain and which are read."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT
from tests.support.cli import run_trustee
from tests.support.plans import trustee_copy_rows
from tests.support.workbooks import inbox_workbooks, write_garbage, write_trustee
from work_data_hub.config.project import load_domains
from work_data_hub.discovery import (
    FileCandidate,
    PeriodsNotDeliveredError,
    Selection,
    discover,
    is_excluded,
    match_domain,
    period_of,
    select_files,
    version_of,
)
from work_data_hub.months import Month

TRUSTEE = load_domains(PROJECT_ROOT)[0]["trustee_performance"]
PATTERN = TRUSTEE.compiled_pattern


def candidate(path: str, mtime: float = 1_700_000_000.0, size: int = 100) -> FileCandidate:
    return FileCandidate(path=path, size=size, mtime=mtime)


def matched_paths(*paths: str, pattern: re.Pattern[str] = PATTERN) -> list[str]:
    return [file.path for file in match_domain([candidate(p) for p in paths], pattern)]


# --- excluded folders and files ------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "temp/2024_11_受托业绩.xlsx",
        "backup/2024_11_受托业绩.xlsx",
        "archive/2024_11_受托业绩.xlsx",
        "2024/11/backup/2024_11_受托业绩.xlsx",
        "a/b/c/Archive/2024_11_受托业绩.xlsx",
        "TEMP/2024_11_受托业绩.xlsx",
        ".hidden/2024_11_受托业绩.xlsx",
        "2024/.git/2024_11_受托业绩.xlsx",
        "2024/~$2024_11_受托业绩.xlsx",
        "2024/.2024_11_受托业绩.xlsx",
        "2024_11_受托业绩.tmp",
        "2024_11_受托业绩.xlsx.bak",
        "2024_11_受托业绩.BAK",
        "2024_11_受托业绩.eml",
    ],
)
def test_excluded_folders_and_files_are_skipped(path: str) -> None:
    assert is_excluded(path)
    assert matched_paths(path) == []


@pytest.mark.parametrize(
    "path",
    [
        "2024_11_受托业绩.xlsx",
        "temporary/2024_11_受托业绩.xlsx",
        "backups-old/2024_11_受托业绩.xlsx",
        "2024/11/V2/2024_11_受托业绩.xlsx",
    ],
)
def test_folders_that_only_resemble_excluded_ones_are_searched(path: str) -> None:
    assert not is_excluded(path)
    assert matched_paths(path) == [path]


def test_only_xlsx_and_xlsm_workbooks_belong_to_a_domain() -> None:
    paths = [
        "2024_11_受托业绩.xlsx",
        "2024_10_受托业绩.XLSM",
        "2024_09_受托业绩.xls",
        "2024_08_受托业绩.csv",
        "2024_07_受托业绩.pdf",
        "2024_06_受托业绩",
    ]
    assert matched_paths(*paths) == ["2024_11_受托业绩.xlsx", "2024_10_受托业绩.XLSM"]


def test_the_pattern_is_case_insensitive() -> None:
    pattern = re.compile(r"(?P<year>\d{4})_(?P<month>\d{2})_trustee", re.IGNORECASE)
    assert matched_paths("2024_11_TRUSTEE.xlsx", "2024_10_Trustee.xlsx", pattern=pattern) == [
        "2024_11_TRUSTEE.xlsx",
        "2024_10_Trustee.xlsx",
    ]


def test_domain_config_compiles_its_pattern_case_insensitively() -> None:
    domain = TRUSTEE.model_copy(update={"pattern": r"(?P<year>\d{4})_(?P<month>\d{2})_trustee"})
    assert domain.compiled_pattern.search("2024_11_TRUSTEE.xlsx")


def test_file_names_not_matching_the_pattern_are_ignored() -> None:
    assert matched_paths("2024_11_规模明细.xlsx", "受托业绩.xlsx", "notes.xlsx") == []


# --- periods --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "period"),
    [
        ("2024_11_受托业绩报告.xlsx", (2024, 11)),
        ("2024年11月受托业绩.xlsx", (2024, 11)),
        ("2024-11 受托业绩.xlsm", (2024, 11)),
        ("24年11月受托业绩.xlsx", (2024, 11)),
        ("【汇总】24年3月受托业绩.xlsx", (2024, 3)),
        ("2024_1_受托业绩.xlsx", (2024, 1)),
        ("2024_01_受托业绩.xlsx", (2024, 1)),
        ("2024_10_受托业绩.xlsx", (2024, 10)),
        ("2024_12_受托业绩.xlsx", (2024, 12)),
        ("202411受托业绩.xlsx", (2024, 11)),
        ("2024.9 受托业绩.xlsx", (2024, 9)),
        ("2023_13_受托业绩.xlsx", None),
        ("2024_00_受托业绩.xlsx", None),
    ],
)
def test_period_from_the_configured_trustee_pattern(
    name: str, period: tuple[int, int] | None
) -> None:
    assert period_of(name, PATTERN) == period


def test_two_digit_years_mean_20yy() -> None:
    pattern = re.compile(r"(?P<year>\d{2})年(?P<month>\d{1,2})月")
    assert period_of("24年11月年金终稿数据.xlsx", pattern) == (2024, 11)
    assert period_of("99年1月.xlsx", pattern) == (2099, 1)


def test_configured_pattern_tries_two_digit_months_before_one_digit_months() -> None:
    """docs/contract.md: `1[0-2]` before `0?[1-9]`, so that `2024_11_...` is November."""
    month_group = re.search(r"\(\?P<month>([^)]*)\)", TRUSTEE.pattern)
    assert month_group is not None
    alternatives = month_group.group(1).split("|")
    assert alternatives.index("1[0-2]") < alternatives.index("0?[1-9]")
    # Without a look-ahead the order alone decides: the same groups, pattern cut after month.
    head = TRUSTEE.pattern.split("(?!\\d)")[0]
    assert period_of("2024_11_受托业绩.xlsx", re.compile(head)) == (2024, 11)


def test_a_month_outside_1_to_12_does_not_count() -> None:
    pattern = re.compile(r"(?P<year>\d{4})_(?P<month>\d{2})")
    assert period_of("2024_13.xlsx", pattern) is None
    assert period_of("2024_00.xlsx", pattern) is None


# --- one file per period, max_files ---------------------------------------------------------


def test_version_folder_is_the_highest_v_n_parent() -> None:
    assert version_of("2024/11/V2/a.xlsx") == 2
    assert version_of("2024/11/v10/a.xlsx") == 10
    assert version_of("V3/x/V1/a.xlsx") == 3
    assert version_of("2024/11/a.xlsx") == 0
    assert version_of("Version2/a.xlsx") == 0


def test_highest_v_folder_wins_even_against_a_newer_file() -> None:
    files = match_domain(
        [
            candidate("2024/11/V1/2024_11_受托业绩.xlsx", mtime=3000),
            candidate("2024/11/V2/2024_11_受托业绩.xlsx", mtime=1000),
            candidate("2024/11/2024_11_受托业绩.xlsx", mtime=9000),
        ],
        PATTERN,
    )
    selection = select_files(files, max_files=1)
    assert [f.path for f in selection.selected] == ["2024/11/V2/2024_11_受托业绩.xlsx"]
    assert sorted(f.path for f in selection.superseded) == [
        "2024/11/2024_11_受托业绩.xlsx",
        "2024/11/V1/2024_11_受托业绩.xlsx",
    ]


def test_same_version_newest_modification_time_wins() -> None:
    files = match_domain(
        [
            candidate("2024年11月受托业绩.xlsx", mtime=1000),
            candidate("2024_11_受托业绩(更正).xlsx", mtime=2000),
        ],
        PATTERN,
    )
    selection = select_files(files, max_files=5)
    assert [f.path for f in selection.selected] == ["2024_11_受托业绩(更正).xlsx"]
    assert [f.path for f in selection.superseded] == ["2024年11月受托业绩.xlsx"]
    assert selection.superseded[0].period == "2024-11"


def test_max_files_keeps_the_newest_periods() -> None:
    names = [f"2024_{month:02d}_受托业绩.xlsx" for month in (3, 11, 7, 1, 9)]
    files = match_domain([candidate(name) for name in names], PATTERN)
    for max_files, kept in [(1, ["2024-11"]), (3, ["2024-07", "2024-09", "2024-11"])]:
        selection = select_files(files, max_files=max_files)
        assert [f.period for f in selection.selected] == kept
        assert {f.period for f in selection.not_selected} == {f.period for f in files} - set(kept)
        assert selection.superseded == ()
    everything = select_files(files, max_files=99)
    assert len(everything.selected) == 5 and everything.not_selected == ()


def test_periods_order_across_years() -> None:
    files = match_domain(
        [candidate("2023_12_受托业绩.xlsx"), candidate("24年1月受托业绩.xlsx")], PATTERN
    )
    assert [f.period for f in select_files(files, max_files=1).selected] == ["2024-01"]


def test_superseded_files_never_count_against_max_files() -> None:
    files = match_domain(
        [
            candidate("2024/11/V1/2024_11_受托业绩.xlsx"),
            candidate("2024/11/V2/2024_11_受托业绩.xlsx"),
            candidate("2024/10/2024_10_受托业绩.xlsx"),
        ],
        PATTERN,
    )
    selection = select_files(files, max_files=2)
    assert [f.period for f in selection.selected] == ["2024-10", "2024-11"]
    assert [f.path for f in selection.superseded] == ["2024/11/V1/2024_11_受托业绩.xlsx"]


def test_no_matching_file_is_no_delivery_naming_the_inbox_and_the_pattern() -> None:
    selection = discover(
        [candidate("backup/2024_11_受托业绩.xlsx"), candidate("readme.txt")],
        PATTERN,
        1,
        inbox="/data/inbox",
    )
    assert selection.selected == ()
    assert selection.no_delivery is not None
    assert "/data/inbox" in selection.no_delivery
    assert TRUSTEE.pattern in selection.no_delivery


# --- periods: exactly the months asked for -------------------------------------------------

MONTHS = ["2024/09/2024_09_受托业绩.xlsx", "2024/10/2024_10_受托业绩.xlsx",
          "2024/11/V1/2024_11_受托业绩.xlsx", "2024/11/V2/2024_11_受托业绩.xlsx"]  # fmt: skip


def _periods(periods: tuple[str, ...], first: Month | None = None) -> Selection:
    return discover(
        [candidate(path) for path in MONTHS],
        PATTERN,
        1,
        inbox="inbox",
        domain="trustee_performance",
        periods=periods,
        first=first,
    )


def test_periods_select_exactly_those_months_one_file_each() -> None:
    selection = _periods(("2024-09", "2024-11"))
    assert [f.path for f in selection.selected] == [MONTHS[0], MONTHS[3]]
    assert [f.path for f in selection.superseded] == [MONTHS[2]]
    assert [f.period for f in selection.not_selected] == ["2024-10"]


def test_a_period_the_inbox_lacks_names_the_periods_it_has() -> None:
    with pytest.raises(PeriodsNotDeliveredError) as raised:
        _periods(("2024-10", "2024-12"))
    assert raised.value.missing == ("2024-12",)
    assert raised.value.available == ("2024-09", "2024-10", "2024-11")
    assert "trustee_performance: no workbook for period 2024-12" in str(raised.value)
    assert "it has 2024-09, 2024-10, 2024-11" in str(raised.value)


def test_none_of_the_asked_periods_is_no_delivery_naming_pattern_and_periods() -> None:
    selection = _periods(("2024-01", "2024-02"))
    assert selection.selected == ()
    assert selection.no_delivery is not None
    assert "2024-01, 2024-02" in selection.no_delivery
    assert TRUSTEE.pattern in selection.no_delivery
    assert "it has 2024-09, 2024-10, 2024-11" in selection.no_delivery


def test_periods_before_the_calendar_start_are_not_expected() -> None:
    selection = _periods(("2024-08", "2024-09"), first=Month(2024, 9))
    assert [f.period for f in selection.selected] == ["2024-09"]
    nothing = _periods(("2024-08",), first=Month(2024, 9))
    assert nothing.selected == ()
    assert nothing.no_delivery is not None and "starts 2024-09" in nothing.no_delivery


# --- through the real pipeline: only the selected workbooks are opened --------------------


def _multi_period_inbox(root: Path) -> None:
    """Five periods, a V1/V2 month, a same-period pair by mtime, backup, temp and lock files.

    Every file that must not be read is garbage bytes: opening any of them fails the run.
    """
    write_garbage(root / "2024" / "07" / "2024_07_受托业绩.xlsx")
    write_trustee(root / "2024" / "08" / "2024_08_受托业绩.xlsx", 2024, 8, ["P0801"])
    write_trustee(
        root / "2024" / "09" / "2024年9月受托业绩.xlsx", 2024, 9, ["P0901"], mtime=1_700_000_900
    )
    write_garbage(root / "2024" / "09" / "2024_09_受托业绩(旧).xlsx", mtime=1_700_000_000)
    # V2 wins although V1 is newer on disk.
    write_garbage(root / "2024" / "10" / "V1" / "2024-10 受托业绩.xlsx", mtime=1_700_009_000)
    write_trustee(
        root / "2024" / "10" / "V2" / "2024-10 受托业绩.xlsx",
        2024,
        10,
        ["P1001", "P1002"],
        mtime=1_700_000_000,
    )
    write_trustee(root / "2024" / "11" / "24年11月受托业绩.xlsx", 2024, 11, ["P1101"])
    write_garbage(root / "2024" / "11" / "~$24年11月受托业绩.xlsx")
    write_garbage(root / "backup" / "2024_12_受托业绩.xlsx")
    write_garbage(root / "2024" / "temp" / "2024_12_受托业绩.xlsx")
    write_garbage(root / "archive" / "2025" / "2025_01_受托业绩.xlsx")
    write_garbage(root / ".hidden" / "2024_12_受托业绩.xlsx")
    write_garbage(root / "2024" / "12" / ".2024_12_受托业绩.xlsx")
    write_garbage(root / "2024" / "12" / "2024_12_受托业绩.xls")
    write_garbage(root / "2024" / "12" / "2024_12_受托业绩.xlsx.bak")
    (root / "2024" / "12" / "2024_12_受托业绩.eml").write_bytes(b"From: nobody")


def _report(project: Path) -> dict:  # type: ignore[type-arg]
    reports = sorted((project / "data/08_reporting/run_reports").glob("*.json"))
    return json.loads(reports[-1].read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def _plan_text(project: Path) -> str:
    plans = [p for p in (project / "data/08_reporting/plans").rglob("*.sql") if p.is_file()]
    assert len(plans) == 1, plans
    return plans[0].read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("max_files", "selected", "not_selected", "plans"),
    [
        (
            1,
            ["2024/11/24年11月受托业绩.xlsx"],
            ["2024-07", "2024-08", "2024-09", "2024-10"],
            ["P1101"],
        ),
        (
            3,
            [
                "2024/09/2024年9月受托业绩.xlsx",
                "2024/10/V2/2024-10 受托业绩.xlsx",
                "2024/11/24年11月受托业绩.xlsx",
            ],
            ["2024-07", "2024-08"],
            ["P0901", "P1001", "P1002", "P1101"],
        ),
    ],
)
def test_max_files_through_the_pipeline_reads_only_the_selected_workbooks(
    project_copy: Path,
    tmp_path: Path,
    max_files: int,
    selected: list[str],
    not_selected: list[str],
    plans: list[str],
) -> None:
    inbox = tmp_path / "inbox"
    _multi_period_inbox(inbox)
    result = run_trustee(project_copy, f"max_files={max_files},inbox={inbox}")
    assert result.returncode == 0, result.stdout + result.stderr

    domain = _report(project_copy)["domains"]["trustee_performance"]
    files = domain["files"]
    assert [f["path"] for f in files["selected"]] == selected
    assert sorted(f["path"] for f in files["superseded"]) == [
        "2024/09/2024_09_受托业绩(旧).xlsx",
        "2024/10/V1/2024-10 受托业绩.xlsx",
    ]
    assert [f["period"] for f in files["not_selected"]] == not_selected
    for entry in files["selected"] + files["superseded"]:
        assert entry["size"] == (inbox / entry["path"]).stat().st_size
        assert re.fullmatch(r"[0-9a-f]{64}", entry["sha256"])
    assert sorted(domain["files_read"]) == selected
    assert domain["rows_read"] == len(plans)
    assert domain["rows_planned"] == len(plans)

    plan = _plan_text(project_copy)
    copied = [row[1] for row in trustee_copy_rows(plan)]
    assert sorted(copied) == plans
    for name in ("2024_07", "(旧)", "~$", "backup", "2024_12"):
        assert name not in plan


def test_a_backslash_in_a_file_name_is_part_of_the_name(tmp_path: Path) -> None:

    from work_data_hub.pipelines.ingest import nodes

    domains, _ = load_domains(PROJECT_ROOT)
    trustee = domains["trustee_performance"]
    inbox = tmp_path / "inbox"
    write_trustee(inbox / "2024" / "2024_11_受托业绩\\报告.xlsx", 2024, 11)
    workbooks = inbox_workbooks(inbox)
    manifest = nodes.select_workbooks(workbooks, str(inbox), 1, None, domain=trustee)
    assert [f.path for f in manifest.selection.selected] == ["2024/2024_11_受托业绩\\报告.xlsx"]
    rows, _, summary, _ = nodes.clean_workbooks(workbooks, manifest, domain=trustee)
    # Lineage is the path relative to the inbox, the backslash still in the name.
    assert summary.rows_read == 1 and rows.collect()["_source_file"].to_list() == [
        "2024/2024_11_受托业绩\\报告.xlsx"
    ]
