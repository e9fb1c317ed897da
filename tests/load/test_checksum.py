"""plan_sha256: the plan's own checksum, written into the plan and checkable from the file alone."""

from __future__ import annotations

import pandas as pd
import polars as pl
import pytest

from work_data_hub.config import parse_domains
from work_data_hub.load.checksum import PLACEHOLDER, PlanChecksumError, claimed_checksum, verify
from work_data_hub.load.plan import build_load_plan
from work_data_hub.load.psql import seal

DOMAIN = {
    "domains": {
        "demo": {
            "pattern": r"(?P<year>\d{4})_(?P<month>\d{2})_demo",
            "table": "demo",
            "refresh_scope": ["code"],
            "columns": {"code": {"type": "text"}, "note": {"type": "text"}},
        }
    }
}


def _sealed(note: str = "x") -> tuple[bytes, str]:
    rows = pl.from_pandas(
        pd.DataFrame(
            {"code": ["A"], "note": [note], "_source_file": ["f.xlsx"], "_source_row": [2]}
        )
    )
    plan = build_load_plan(
        rows, parse_domains(DOMAIN)["demo"], run_id="r1", rows_read=1, rows_rejected=0,
        max_reject_ratio=0,
    )  # fmt: skip
    sealed = seal(plan)
    return sealed.script, sealed.plan_sha256


def test_the_plan_carries_its_checksum_in_its_header_and_its_ledger_row() -> None:
    script, checksum = _sealed()
    assert claimed_checksum(script) == checksum and checksum != PLACEHOLDER
    # The header line, the summary JSON line, the already-applied guard (its lookup and its
    # message) and the ledger row.
    assert script.count(checksum.encode()) == 5
    assert verify(script) == checksum


def test_a_cell_of_64_zeros_does_not_confuse_the_checksum() -> None:
    script, checksum = _sealed(note=PLACEHOLDER)
    assert PLACEHOLDER.encode() in script and verify(script) == checksum


@pytest.mark.parametrize("edit", ["row", "statement", "comment"])
def test_any_changed_byte_fails_verification(edit: str) -> None:
    script, _ = _sealed()
    changed = {
        "row": script.replace(b"A\tx\t", b"B\tx\t"),
        "statement": script.replace(b"COMMIT;", b"ROLLBACK;"),
        "comment": script.replace(b"-- WorkDataHub", b"-- WorkDataHuB"),
    }[edit]
    assert changed != script
    with pytest.raises(PlanChecksumError, match="changed after it was written"):
        verify(changed)


def test_a_file_without_a_checksum_line_is_not_a_plan() -> None:
    with pytest.raises(PlanChecksumError, match="not a plan"):
        verify(b"SELECT 1;\n")
