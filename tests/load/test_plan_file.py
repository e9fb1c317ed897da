"""The plan file read back: its summary, its exact steps, and a checksum any changed byte breaks."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pandas as pd
import polars as pl
import pytest

from tests.support.plans import notes_domain
from work_data_hub.load.plan import build_load_plan
from work_data_hub.load.plan_file import PlanFileError, read_plan_file, step_header
from work_data_hub.load.psql import render_psql
from work_data_hub.load.summary import LOGGED_SCOPES, PlanDiff, read_summary

DOMAIN = notes_domain()


def _plan(notes: list[str | None]) -> bytes:
    rows = pl.from_pandas(
        pd.DataFrame(
            {
                "month": pd.Series(["2024-11"] * len(notes), dtype="string"),
                "code": pd.Series([f"C{i}" for i in range(len(notes))], dtype="string"),
                "note": pd.Series(notes, dtype="string"),
                "_source_file": "2024/11/2024_11_notes.xlsx",
                "_source_row": range(2, len(notes) + 2),
            }
        )
    )
    plan = build_load_plan(
        rows,
        DOMAIN,
        run_id="run-1",
        rows_read=len(notes) + 1,
        rows_rejected=1,
        max_reject_ratio=0.5,
        created_at=dt.datetime(2024, 12, 2, 5, 0, tzinfo=dt.UTC),
    )
    return render_psql(plan)


def test_the_file_reads_back_as_the_summary_and_the_exact_statements() -> None:
    text = _plan(["a;\nb", "-- step insert: 3 bytes of SQL", "\\.", None])
    saved = read_plan_file(text, "plan.sql")
    assert saved.intact
    summary = saved.summary
    assert (summary.domain, summary.table, summary.mode) == ("notes", "notes", "delete_insert")
    assert summary.created_at == "2024-12-02T05:00:00.000000+00:00"
    assert summary.refresh_scopes == (("2024-11",),)
    assert (summary.rows_to_insert, summary.rows_read, summary.rows_rejected) == (4, 5, 1)
    assert len(summary.plan_sha256) == 64 and summary.plan_sha256 != "0" * 64
    assert f"-- plan_sha256: {summary.plan_sha256}\n".encode() in text
    # Every step's SQL and rows are the file's own bytes, rows with tricky text included.
    for step in saved.steps:
        sql = step.sql.encode()
        rows = text[step.rows.offset : step.rows.offset + step.rows.length] if step.rows else None
        written = step_header(step.purpose, sql, rows) + sql + b";\n" + (rows or b"")
        assert written in text
    assert saved.copy_payload.count(b"\n") == 4
    assert saved.steps[0].purpose == "begin"
    assert saved.steps[-1].purpose == "commit"


def test_any_changed_byte_breaks_the_checksum() -> None:
    text = _plan(["first", "second"])
    positions = {
        "summary": text.index(b"-- table:") + 20,
        "statement": text.index(b"DELETE") + 1,
        "rows": text.index(b"second"),
    }
    for where, position in positions.items():
        changed = text[:position] + bytes([text[position] ^ 1]) + text[position + 1 :]
        assert not read_plan_file(changed, "plan.sql").intact, where


def test_a_file_that_is_not_a_plan_is_refused_by_name() -> None:
    with pytest.raises(PlanFileError, match=r"notes\.txt is not a WorkDataHub plan"):
        read_plan_file(b"SELECT 1;\n", "notes.txt")


def test_the_summary_with_a_diff_survives_the_round_trip() -> None:
    text = _plan(["x"])
    summary = read_summary(text)
    assert summary is not None
    with_diff = summary.with_diff(PlanDiff(3, 1, 0, 1, 0, 2))
    again = read_summary(("\n".join(with_diff.comment_lines()) + "\n").encode())
    assert again is not None and again.diff == with_diff.diff
    assert "keys: 0 new, 1 changed, 0 unchanged, 2 would disappear" in with_diff.log_text()


def test_the_log_lists_a_few_refresh_scopes_and_the_plan_file_all_of_them() -> None:
    summary = read_summary(_plan(["x"]))
    assert summary is not None
    many = replace(
        summary, refresh_scopes=tuple((f"2024-{n:05d}",) for n in range(LOGGED_SCOPES + 7))
    )
    logged = many.log_text()
    assert "2024-00000" in logged and f"2024-{LOGGED_SCOPES - 1:05d}" in logged
    assert f"2024-{LOGGED_SCOPES:05d}" not in logged
    assert "... and 7 more (the plan file lists every one)" in logged
    planned = "\n".join(many.comment_lines())
    assert f"2024-{LOGGED_SCOPES + 6:05d}" in planned and "more" not in planned
    again = read_summary((planned + "\n").encode())
    assert again is not None and again.refresh_scopes == many.refresh_scopes
