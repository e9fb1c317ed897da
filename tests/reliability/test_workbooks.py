"""Workbooks that go wrong: unreadable files, missing sheets, bad cells, huge cells and sheets.

Each fault is tried with execute=true on a table that already holds a good load: the run stops
(or rejects the row) with a message naming the file, sheet, row or column, and the table's
content digest is unchanged.
"""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from msoffcrypto.format.ooxml import OOXMLFile

from tests.reliability.conftest import Baseline
from tests.reliability.support import (
    TRUSTEE_HEADERS,
    append_empty_formatted_rows,
    replace_cell_text,
    run_domain,
    trustee_domain,
    trustee_rows,
    workbook_bytes,
    write_workbook,
)
from work_data_hub.cleaning.workbook import WorkbookReadError
from work_data_hub.config import parse_domains
from work_data_hub.datasets.postgres_load_dataset import RejectedRowsError

pytestmark = pytest.mark.database

NOVEMBER = "2024_11_受托业绩.xlsx"


def _encrypted(plain: bytes, password: str) -> bytes:
    encrypted = io.BytesIO()
    OOXMLFile(io.BytesIO(plain)).encrypt(password, encrypted)
    return encrypted.getvalue()


UNREADABLE: dict[str, Any] = {
    "not a zip": ("年,月,计划代码\n2024,11,P0001\n".encode, "not a readable Excel"),
    "truncated zip": (
        lambda: workbook_bytes(trustee_rows())[:2000],
        "not a readable Excel",
    ),
    "truncated end of central directory": (
        lambda: workbook_bytes(trustee_rows())[:-10],
        "not a readable Excel",
    ),
    "password-protected": (
        lambda: _encrypted(workbook_bytes(trustee_rows()), "s3cret"),
        "password-protected",
    ),
}


@pytest.mark.parametrize("case", sorted(UNREADABLE))
def test_an_unreadable_workbook_stops_the_run_and_names_the_file(
    case: str, baseline: Baseline, tmp_path: Path
) -> None:
    make, expected = UNREADABLE[case]
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / NOVEMBER).write_bytes(make())
    with pytest.raises(WorkbookReadError) as caught:
        run_domain(inbox, tmp_path / "out", database_url=baseline.url, execute=True)
    assert NOVEMBER in str(caught.value) and expected in str(caught.value)
    assert baseline.unchanged()
    assert not (tmp_path / "out").exists(), "nothing is written for an unreadable workbook"


def test_a_missing_sheet_names_the_file_the_sheet_and_the_sheets_present(
    baseline: Baseline, tmp_path: Path
) -> None:
    domain = trustee_domain().model_copy(update={"sheet": "受托业绩"})
    write_workbook(tmp_path / "inbox" / NOVEMBER, trustee_rows(), sheet="Sheet1")
    with pytest.raises(WorkbookReadError) as caught:
        run_domain(
            tmp_path / "inbox",
            tmp_path / "out",
            domain=domain,
            database_url=baseline.url,
            execute=True,
        )
    message = str(caught.value)
    assert NOVEMBER in message and "'受托业绩' not found" in message and "Sheet1" in message
    assert baseline.unchanged()


def test_extra_unknown_columns_are_listed_and_the_load_goes_on(
    baseline: Baseline, tmp_path: Path
) -> None:
    headers = [*TRUSTEE_HEADERS, "备 注", "SELECT 1"]
    rows = [[*row, "a note", "x"] for row in trustee_rows(3)]
    write_workbook(tmp_path / "inbox" / NOVEMBER, rows, headers=headers)
    outcome = run_domain(
        tmp_path / "inbox", tmp_path / "out", database_url=baseline.url, execute=True
    )
    assert outcome.summary["unknown_columns"] == ["SELECT1", "备注"]
    assert outcome.load is not None and outcome.load.rows_inserted == 3


def _set(row: list[Any], header: str, value: Any) -> list[Any]:
    changed = list(row)
    changed[TRUSTEE_HEADERS.index(header)] = value
    return changed


# (header to spoil, bad cell, output column named in the reject, reason fragment)
BAD_CELLS = {
    "unparseable date": ("年", "二〇二四", "report_date", "not a number"),
    "impossible month": ("月", "13月", "report_date", "month 1-12"),
    "non-numeric amount": ("规模", "12,5OO.00", "fund_scale", "not a number"),
    "amount of 5,000 digits": ("规模", "1" * 5000, "fund_scale", "too large for numeric(18,2)"),
    "amount as a percentage": ("净值", "5%", "net_asset_value", "percentage"),
    "rate out of range": ("收益率", "2000%", "return_rate", "<= 10"),
    "rate below -100%": ("收益率", "-1.5", "return_rate", ">= -1"),
    "NULL key": ("计划代码", None, "plan_code", "required value is missing"),
    "blank key": ("公司代码", "  ", "company_code", "required value is missing"),
    "key of only separators": ("计划代码", "-_-", "plan_code", "empty after cleaning"),
}


@pytest.mark.parametrize("case", sorted(BAD_CELLS))
def test_a_bad_cell_rejects_its_row_with_file_sheet_row_column_and_value(
    case: str, baseline: Baseline, tmp_path: Path
) -> None:
    header, bad, column, reason = BAD_CELLS[case]
    rows = trustee_rows(4)
    rows[2] = _set(rows[2], header, bad)  # Excel row 4
    write_workbook(tmp_path / "inbox" / NOVEMBER, rows)
    with pytest.raises(RejectedRowsError, match="1 of 4 rows were rejected"):
        run_domain(tmp_path / "inbox", tmp_path / "out", database_url=baseline.url, execute=True)
    assert baseline.unchanged()
    rejects = _rejects_file(tmp_path / "out")
    assert len(rejects) == 1
    reject = rejects.iloc[0]
    assert (reject["file"], reject["sheet"], reject["row"], reject["column"]) == (
        NOVEMBER,
        "受托业绩",
        4,
        column,
    )
    assert reason in reject["reason"]
    if isinstance(bad, str) and bad.strip():
        assert bad in str(reject["value"])


def _rejects_file(reporting: Path) -> pd.DataFrame:
    (path,) = [p for p in (reporting / "rejects").rglob("*.csv") if p.is_file()]
    return pd.read_csv(path, encoding="utf-8-sig", dtype={"value": "string"}, keep_default_na=False)


def test_every_row_rejected_loads_nothing_and_keeps_every_reject(
    baseline: Baseline, tmp_path: Path
) -> None:
    rows = [_set(row, "计划代码", "P#" + row[2]) for row in trustee_rows(6)]
    write_workbook(tmp_path / "inbox" / NOVEMBER, rows)
    with pytest.raises(RejectedRowsError, match="6 of 6 rows were rejected"):
        run_domain(tmp_path / "inbox", tmp_path / "out", database_url=baseline.url, execute=True)
    assert baseline.unchanged()
    assert sorted(_rejects_file(tmp_path / "out")["row"]) == [2, 3, 4, 5, 6, 7]


def test_the_same_unique_key_in_two_files_of_one_run_rejects_both_rows(
    baseline: Baseline, tmp_path: Path
) -> None:
    october = trustee_rows(3, month=10)
    # The November delivery repeats an October row (copied from last month's sheet).
    november = [*trustee_rows(3, month=11), october[1]]
    write_workbook(tmp_path / "inbox" / "2024_10_受托业绩.xlsx", october)
    write_workbook(tmp_path / "inbox" / NOVEMBER, november)
    with pytest.raises(RejectedRowsError, match="2 of 7 rows were rejected"):
        run_domain(
            tmp_path / "inbox",
            tmp_path / "out",
            database_url=baseline.url,
            execute=True,
            max_files=2,
        )
    assert baseline.unchanged()
    rejects = _rejects_file(tmp_path / "out")
    assert sorted(zip(rejects["file"], rejects["row"], strict=True)) == [
        ("2024_10_受托业绩.xlsx", 3),
        (NOVEMBER, 5),
    ]
    assert all("duplicate key" in reason for reason in rejects["reason"])
    assert all(
        "2024_10_受托业绩.xlsx row 3; 2024_11_受托业绩.xlsx row 5" in r for r in rejects["reason"]
    )


def test_a_million_empty_formatted_rows_after_the_data_are_not_read(
    baseline: Baseline, tmp_path: Path, record_property: Any
) -> None:
    path = write_workbook(tmp_path / "inbox" / NOVEMBER, trustee_rows(5))
    append_empty_formatted_rows(path, 1_000_000)
    started = time.perf_counter()
    outcome = run_domain(
        tmp_path / "inbox", tmp_path / "out", database_url=baseline.url, execute=True
    )
    seconds = time.perf_counter() - started
    record_property("million_empty_rows_seconds", round(seconds, 2))
    print(f"a sheet with 1,000,000 empty formatted rows ran in {seconds:.2f}s")
    assert outcome.summary["rows_read"] == 5 and outcome.summary["rows_rejected"] == 0
    assert outcome.load is not None and outcome.load.rows_inserted == 5


@pytest.mark.parametrize("header", ["计划代码", "规模"])
def test_a_10_mb_cell_rejects_its_row_and_the_rejects_file_stays_small(
    header: str, baseline: Baseline, tmp_path: Path
) -> None:
    rows = trustee_rows(3)
    rows[1] = _set(rows[1], header, "HUGE_CELL_MARKER")  # Excel row 3
    path = write_workbook(tmp_path / "inbox" / NOVEMBER, rows)
    huge = "1234567890" * 1_000_000  # 10 MB, a valid code and a valid number, were it shorter
    replace_cell_text(path, "HUGE_CELL_MARKER", huge)
    with pytest.raises(RejectedRowsError, match="1 of 3 rows were rejected"):
        run_domain(tmp_path / "inbox", tmp_path / "out", database_url=baseline.url, execute=True)
    assert baseline.unchanged()
    (reject,) = _rejects_file(tmp_path / "out").itertuples()
    assert (reject.file, reject.row) == (NOVEMBER, 3)
    assert "10000000 characters, more than Excel's limit of 32767" in reject.reason
    assert reject.value.startswith("1234567890") and len(reject.value) < 200


def test_a_nul_character_in_a_text_cell_rejects_the_row(tmp_path: Path) -> None:
    # Excel escapes control characters as _x0000_; calamine decodes that to a real NUL, which no
    # PostgreSQL text can store: the row is rejected, not failed at COPY or silently cut.
    domain = parse_domains(
        {
            "domains": {
                "notes": {
                    "pattern": r"(?P<year>20\d{2})_(?P<month>1[0-2]|0?[1-9])_notes",
                    "table": "notes",
                    "refresh_scope": ["ref"],
                    "columns": {
                        "ref": {"rule": "code", "source": "编号"},
                        "note": {"rule": "text", "source": "说明"},
                    },
                }
            }
        }
    )["notes"]
    path = write_workbook(
        tmp_path / "inbox" / "2024_11_notes.xlsx",
        [["R1", "fine"], ["R2", "NUL_MARKER"]],
        headers=["编号", "说明"],
    )
    replace_cell_text(path, "NUL_MARKER", "before_x0000_after")
    outcome = run_domain(tmp_path / "inbox", tmp_path / "out", domain=domain)
    assert outcome.rows["ref"].tolist() == ["R1"]
    (reject,) = outcome.rejects.itertuples()
    assert (reject.row, reject.column) == (3, "note")
    assert "NUL character" in reject.reason
