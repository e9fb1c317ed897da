"""The plan file is written and read back a piece at a time, byte for byte the plan written whole.

Memory is bounded by one file's rows: the rows are written in slices, the checksum is
computed as the file is written and recomputed in blocks, and reading locates the rows without
loading them.
"""

from __future__ import annotations

import datetime as dt
import gc
import hashlib
import io
from pathlib import Path

import polars as pl
import pytest

from tests.support.plans import notes_domain
from work_data_hub.cleaning.engine import CleanResult, combine_files
from work_data_hub.load import plan_file
from work_data_hub.load.checksum import PLACEHOLDER, recompute, recompute_blocks, verify
from work_data_hub.load.copy_format import copy_length, copy_text
from work_data_hub.load.plan import LoadPlan, Statement, build_load_plan
from work_data_hub.load.plan_file import read_plan_file, read_saved_plan
from work_data_hub.load.psql import RowsStream, render_psql, write_plan
from work_data_hub.rows import CleanRows, CopyLength, FileRows, RowSpool

DOMAIN = notes_domain()
AWKWARD = ["tab\there", "line\nbreak", "cr\rhere", "back\\slash", "\\N", "\\.", "", None, "中文"]


def _notes(month: str, count: int, file: str) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "month": [month] * count,
            "code": [f"C{i:05d}" for i in range(count)],
            "note": [AWKWARD[i % len(AWKWARD)] for i in range(count)],
            "_source_file": [file] * count,
            "_source_row": list(range(2, count + 2)),
        },
        schema_overrides={"note": pl.String, "_source_row": pl.Int64},
    )


def _files() -> list[pl.DataFrame]:
    return [
        _notes("2024-10", 7, "2024_10_notes.xlsx"),
        _notes("2024-11", 0, "2024_11_notes.xlsx"),
        _notes("2024-12", 12, "2024_12_notes.xlsx"),
    ]


def _plan(rows: CleanRows | pl.DataFrame) -> LoadPlan:
    return build_load_plan(
        rows,
        DOMAIN,
        run_id="run-1",
        rows_read=19,
        rows_rejected=0,
        max_reject_ratio=0.0,
        created_at=dt.datetime(2024, 12, 2, 5, 0, tzinfo=dt.UTC),
    )


def _written(plan: LoadPlan, rows_per_slice: int) -> bytes:
    buffer = io.BytesIO()
    write_plan(plan, buffer, rows_per_slice=rows_per_slice)
    return buffer.getvalue()


def test_copy_length_is_the_length_of_the_copy_text() -> None:
    rows = _notes("2024-11", 40, "f.xlsx")
    columns = ["month", "code", "note", "_source_file", "_source_row"]
    assert copy_length(rows, columns) == len(copy_text(rows, columns)) > 0
    assert copy_length(rows.head(0), columns) == 0


def test_a_plan_written_in_slices_is_the_plan_written_at_once() -> None:
    whole = pl.concat(_files())
    plan = _plan(whole)
    at_once = _written(plan, rows_per_slice=len(whole))
    for rows_per_slice in (1, 2, 5, 7, 100_000):
        assert _written(plan, rows_per_slice) == at_once, rows_per_slice
    assert render_psql(plan) == at_once
    # The rows section is the COPY text of all rows in one piece, the checksum holds.
    assert copy_text(whole, list(plan.copy_columns)) in at_once
    assert verify(at_once) == read_plan_file(at_once, "plan.sql").plan_sha256


def test_rows_spooled_per_file_give_the_plan_of_the_same_rows_in_one_frame() -> None:
    spool = RowSpool()
    frames = _files()
    parts = [spool.keep(frame) for frame in frames]
    results = [CleanResult(frame, pl.DataFrame().to_pandas(), frame.height) for frame in frames]
    rows = combine_files(results, parts, DOMAIN).rows
    assert all(part.frame is None and part.path is not None for part in parts)
    assert render_psql(_plan(rows)) == render_psql(_plan(pl.concat(frames)))


def test_a_length_counted_while_cleaning_is_the_plans_and_a_stale_one_is_not_used() -> None:
    """A part's length counted while it was in memory stands for its rows in the plan's step
    line; one counted for other columns, or for a part some of whose rows were dropped after
    (a duplicate key across files), is counted again from the rows."""
    frames = _files()
    columns = list(_plan(pl.concat(frames)).copy_columns)
    spool = RowSpool()
    counted = [CopyLength(tuple(columns), copy_length(frame, columns)) for frame in frames]
    parts = [spool.keep(frame, length) for frame, length in zip(frames, counted, strict=True)]
    rows = CleanRows.decided(parts, [None] * len(parts), ("month",), parts[0].schema)
    assert render_psql(_plan(rows)) == render_psql(_plan(pl.concat(frames)))

    def counted_again(frame: pl.DataFrame) -> int:
        recounted.append(frame.height)
        return copy_length(frame, columns)

    recounted: list[int] = []
    assert rows.copy_length(columns, counted_again) == len(copy_text(pl.concat(frames), columns))
    assert recounted == []
    stale = [
        spool.keep(frames[0], CopyLength(("other",), 1)),
        spool.keep(frames[2], CopyLength(tuple(columns), 10**9)),
    ]
    keep_some = pl.Series([True] * 11 + [False])
    rows = CleanRows.decided(stale, [None, keep_some], ("month",), parts[0].schema)
    expected = pl.concat([frames[0], frames[2].filter(keep_some)])
    assert rows.copy_length(columns, counted_again) == len(copy_text(expected, columns))
    assert recounted == [7, 11]
    assert render_psql(_plan(rows)) == render_psql(_plan(expected))


def test_the_spool_folder_goes_with_the_rows() -> None:
    spool = RowSpool()
    part = spool.keep(_notes("2024-11", 3, "f.xlsx"))
    rows = CleanRows.decided((part,), (None,), ["month"], part.schema)
    del spool, part
    spooled = rows.parts[0].path
    assert spooled is not None and spooled.exists()
    del rows
    gc.collect()
    assert not spooled.parent.exists()


def test_clean_rows_are_handed_on_not_copied() -> None:
    import copy

    rows = CleanRows.of(_notes("2024-11", 3, "f.xlsx"))
    assert copy.deepcopy(rows) is rows and copy.copy(rows) is rows


@pytest.mark.parametrize("block", [1, 7, 63, 64, 65, 100])
def test_a_checksum_straddling_two_read_blocks_is_still_found(block: int) -> None:
    claimed = hashlib.sha256(b"claimed").hexdigest()
    needle = claimed.encode()
    # Occurrences at odd places, two back to back, and one only 63 bytes short of another.
    text = b"x" * 61 + needle + b"-" + needle + needle + needle[1:] + b"\n" + needle[:63]
    blocks = [text[start : start + block] for start in range(0, len(text), block)]
    expected = hashlib.sha256(text.replace(needle, PLACEHOLDER.encode())).hexdigest()
    assert recompute_blocks(blocks, claimed) == recompute(text, claimed) == expected


def test_held_back_bytes_are_the_files_own_not_the_placeholder() -> None:
    """A checksum starting with 0: the zeros written for one occurrence must not start another."""
    claimed = "0" + "1" * 63
    needle = claimed.encode()
    text = needle + needle[1:] + b"tail"
    for block in (1, 30, 64, 70):
        blocks = [text[start : start + block] for start in range(0, len(text), block)]
        assert recompute_blocks(blocks, claimed) == recompute(text, claimed)


def test_a_plan_is_read_back_in_blocks_and_its_rows_located_not_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = _plan(pl.concat(_files()))
    path = tmp_path / "plan.sql"
    with path.open("wb") as handle:
        written = write_plan(plan, handle)
    text = path.read_bytes()
    monkeypatch.setattr(plan_file, "BLOCK_SIZE", 61)  # blocks that cut through every checksum

    saved = read_saved_plan(path)

    assert saved.intact and saved.plan_sha256 == written.plan_sha256
    step = saved.rows_step
    assert step is not None and step.rows is not None
    rows = text[step.rows.offset : step.rows.offset + step.rows.length]
    assert rows == copy_text(plan.rows.collect(), list(plan.copy_columns))
    assert step.rows.sha256 == hashlib.sha256(rows).hexdigest()
    assert saved.copy_payload == rows
    with saved.open_rows() as stream:
        assert b"".join(iter(lambda: stream.read(5), b"")) == rows  # and not a byte further
    assert [s.sql for s in saved.steps] == [s.sql for s in written.statements]


def test_a_changed_byte_in_the_rows_of_a_large_plan_is_found_in_blocks(tmp_path: Path) -> None:
    rows = _notes("2024-11", 60_000, "2024_11_notes.xlsx")
    path = tmp_path / "plan.sql"
    with path.open("wb") as handle:
        write_plan(_plan(rows), handle)
    text = path.read_bytes()
    assert len(text) > 2 * plan_file.BLOCK_SIZE
    assert read_saved_plan(path).intact
    position = text.index(b"C30000\t")
    path.write_bytes(text[:position] + b"D" + text[position + 1 :])
    assert not read_saved_plan(path).intact


def test_a_plan_that_was_cut_short_is_not_intact(tmp_path: Path) -> None:
    text = render_psql(_plan(pl.concat(_files())))
    path = tmp_path / "plan.sql"
    path.write_bytes(text[: text.index(b"C00003")])
    assert not read_saved_plan(path).intact


def test_file_rows_read_back_as_written() -> None:
    frame = _notes("2024-11", 5, "f.xlsx")
    assert FileRows.in_memory(frame).read() is frame
    assert RowSpool().keep(frame).read().equals(frame)


class _Sink:
    """What execute's transaction gets from the writer, and what the file held at each call."""

    def __init__(self, handle: io.BytesIO, *, reads: int | None = None) -> None:
        self._handle = handle
        self._reads = reads
        self.statements: list[str] = []
        self.rows = b""

    def execute(self, statement: Statement) -> None:
        assert self._handle.getvalue().endswith(statement.sql.encode() + b";\n")
        self.statements.append(statement.purpose)

    def copy(self, statement: Statement, rows: RowsStream) -> None:
        self.statements.append(statement.purpose)
        while self._reads is None or self._reads > 0:
            data = rows.read(1 << 10)
            if not data:
                break
            # Each piece is in the file before it is handed over.
            assert self._handle.getvalue().endswith(data)
            self.rows += data
            self._reads = None if self._reads is None else self._reads - 1


@pytest.mark.parametrize("reads", [None, 2], ids=["the whole COPY", "a server failing mid-COPY"])
def test_the_sink_gets_each_statement_and_the_rows_as_written_up_to_the_checksum(
    reads: int | None,
) -> None:
    plan = _plan(pl.concat([_notes("2024-10", 3000, "a.xlsx"), _notes("2024-11", 2000, "b.xlsx")]))
    alone = _written(plan, rows_per_slice=700)
    handle = io.BytesIO()
    sink = _Sink(handle, reads=reads)
    written = write_plan(plan, handle, rows_per_slice=700, sink=sink)
    # The file is the same, whether the server read the rows or stopped early.
    assert handle.getvalue() == alone
    purposes = [statement.purpose for statement in written.statements]
    # Every statement up to the first that names the plan's own checksum (the guard).
    assert sink.statements == purposes[: purposes.index("guard")]
    assert PLACEHOLDER not in "".join(s.sql for s in plan.statements[: purposes.index("guard")])
    saved = read_plan_file(alone, "alone")
    if reads is None:
        assert sink.rows == saved.copy_payload
    else:
        assert saved.copy_payload.startswith(sink.rows) and len(sink.rows) == 2 << 10
    assert {"copy_length", "copy_render", "copy_digest", "copy_waited"} <= set(written.seconds)
