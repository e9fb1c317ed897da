"""What Excel shows is what loads: a sheet a person cannot see is never the one read.

"The first sheet" is the first sheet Excel shows; a hidden (or "very hidden") sheet before it
is passed over with a warning naming it. A sheet the domain names that exists only hidden is
refused, saying so, since the person reviewing the workbook never saw its rows.
"""

from __future__ import annotations

import io
import logging
import zipfile
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook

from tests.reliability.support import TRUSTEE_HEADERS, run_domain, trustee_domain, trustee_rows
from work_data_hub.cleaning.workbook import WorkbookReadError

NOVEMBER = "2024_11_受托业绩.xlsx"


def _workbook(path: Path, sheets: list[tuple[str, str, list[list[Any]]]]) -> Path:
    """Sheets as (name, state, rows below the trustee headers); state as openpyxl spells it."""
    workbook = Workbook()
    workbook.remove(workbook.worksheets[0])
    for name, state, rows in sheets:
        worksheet = workbook.create_sheet(name)
        worksheet.append(TRUSTEE_HEADERS)
        for row in rows:
            worksheet.append(row)
        worksheet.sheet_state = state
    visible = [index for index, (_, state, _) in enumerate(sheets) if state == "visible"]
    workbook.active = visible[0] if visible else 0
    path.parent.mkdir(parents=True, exist_ok=True)
    workbook.save(path)
    return path


def _stale_rows() -> list[list[Any]]:
    return [[2024, 11, "HIDDEN1", "TC001", "1%", "1", "1"]]


@pytest.mark.parametrize("state", ["hidden", "veryHidden"])
def test_the_first_sheet_is_the_first_visible_one_and_the_hidden_one_is_named(
    state: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    inbox = tmp_path / "inbox"
    _workbook(
        inbox / NOVEMBER,
        [("old data", state, _stale_rows()), ("受托业绩", "visible", trustee_rows(3))],
    )
    with caplog.at_level(logging.WARNING):
        outcome = run_domain(inbox, tmp_path / "out")
    assert sorted(outcome.rows["plan_code"]) == ["P0001", "P0002", "P0003"]
    assert outcome.summary["files"][NOVEMBER]["sheet"] == "受托业绩"
    assert "HIDDEN1" not in outcome.plan_text
    warned = [record.getMessage() for record in caplog.records]
    assert any("'old data'" in line and "hidden" in line and NOVEMBER in line for line in warned)


@pytest.mark.parametrize(
    ("state", "said"), [("hidden", "is hidden"), ("veryHidden", '"very hidden"')]
)
def test_a_declared_sheet_that_exists_only_hidden_is_refused_saying_so(
    state: str, said: str, tmp_path: Path
) -> None:
    domain = trustee_domain().model_copy(update={"sheet": "受托业绩"})
    inbox = tmp_path / "inbox"
    _workbook(
        inbox / NOVEMBER,
        [("summary", "visible", []), ("受托业绩", state, trustee_rows(3))],
    )
    with pytest.raises(WorkbookReadError) as caught:
        run_domain(inbox, tmp_path / "out", domain=domain)
    message = str(caught.value)
    assert NOVEMBER in message and "'受托业绩'" in message and said in message
    assert not (tmp_path / "out").exists(), "nothing is written for a refused workbook"


def _hide_every_sheet(path: Path) -> None:
    """Excel (and openpyxl) keep one sheet visible; a script writing the XML need not."""
    source = zipfile.ZipFile(io.BytesIO(path.read_bytes()))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/workbook.xml":
                data = data.replace(b'state="visible"', b'state="hidden"')
            target.writestr(item, data)


def test_a_workbook_whose_every_sheet_is_hidden_is_refused_naming_them(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    _workbook(
        inbox / NOVEMBER,
        [("a", "hidden", trustee_rows(2)), ("b", "visible", trustee_rows(2))],
    )
    _hide_every_sheet(inbox / NOVEMBER)
    with pytest.raises(WorkbookReadError) as caught:
        run_domain(inbox, tmp_path / "out")
    message = str(caught.value)
    assert NOVEMBER in message and "no visible sheet" in message and "['a', 'b']" in message


def test_a_position_counts_only_the_sheets_excel_shows(tmp_path: Path) -> None:
    domain = trustee_domain().model_copy(update={"sheet": 1})
    inbox = tmp_path / "inbox"
    _workbook(
        inbox / NOVEMBER,
        [
            ("notes", "visible", []),
            ("old data", "hidden", _stale_rows()),
            ("受托业绩", "visible", trustee_rows(2)),
        ],
    )
    outcome = run_domain(inbox, tmp_path / "out", domain=domain)
    assert sorted(outcome.rows["plan_code"]) == ["P0001", "P0002"]
