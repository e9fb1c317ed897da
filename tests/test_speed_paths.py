"""The fast paths give exactly what the straightforward versions gave (no cell lost or changed)."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import Workbook
from polars.testing import assert_frame_equal

from tests.conftest import PROJECT_ROOT
from work_data_hub.cleaning.engine import clean_sheet, combine
from work_data_hub.cleaning.python_cells import cells_as_text
from work_data_hub.cleaning.reading import read_sheet
from work_data_hub.cleaning.registry import run_rule
from work_data_hub.cleaning.workbook import ExcelWorkbook, WorkbookReadError
from work_data_hub.config import DomainConfig, parse_domains
from work_data_hub.datasets.excel_workbook_dataset import ExcelWorkbookDataset
from work_data_hub.load.copy_format import copy_text
from work_data_hub.pipelines.ingest.nodes import clean_workbooks, select_workbooks


def _reference_cells_as_text(column: pd.Series) -> pd.Series:
    """The first, type-by-type implementation of ``cells_as_text``, kept as the oracle."""
    kinds = column.map(type)
    result = pd.Series(pd.NA, index=column.index, dtype="string")
    is_str = kinds == str  # noqa: E721
    if is_str.any():
        text = column[is_str].astype("string")
        result[is_str] = text.where(text.str.strip() != "", None)
    is_float = kinds == float  # noqa: E721
    if is_float.any():
        numbers = column[is_float].astype("float64")
        whole = np.isfinite(numbers) & (numbers == np.round(numbers)) & (numbers.abs() < 1e15)
        rendered = numbers.astype(str)
        rendered[whole] = numbers[whole].astype("int64").astype(str)
        result[is_float] = rendered.astype("string")
    for kind in (int, bool):
        chosen = kinds == kind
        if chosen.any():
            result[chosen] = column[chosen].astype(str).astype("string")
    is_date = (kinds == dt.datetime) | (kinds == dt.date) | (kinds == pd.Timestamp)
    if is_date.any():
        stamps = pd.to_datetime(column[is_date])
        has_time = stamps != stamps.dt.normalize()
        rendered = stamps.dt.strftime("%Y-%m-%d")
        rendered[has_time] = stamps[has_time].dt.strftime("%Y-%m-%d %H:%M:%S")
        result[is_date] = rendered.astype("string")
    rest = result.isna() & column.notna() & ~is_str & ~(kinds == type(None))  # noqa: E721
    if rest.any():
        result[rest] = column[rest].astype(str).astype("string")
    return result


MIXED_CELLS = [
    "P-001",
    "  ",
    "",
    "\u3000",
    " x ",
    None,
    1.0,
    2.5,
    -0.0,
    1e15,
    1e16,
    123456789012345.0,
    float("nan"),
    float("inf"),
    0.1 + 0.2,
    1e-7,
    3,
    2**70,
    True,
    False,
    dt.datetime(2024, 1, 2),
    dt.datetime(2024, 1, 2, 3, 4, 5),
    dt.date(2024, 5, 6),
    pd.Timestamp("2024-01-01 10:00"),
    dt.time(1, 2),
    dt.timedelta(days=1),
    np.float64(1.5),
    pd.NA,
    pd.NaT,
]


def test_cells_as_text_on_every_kind_of_cell_matches_the_reference() -> None:
    column = pd.Series(MIXED_CELLS, dtype=object, index=range(10, 10 + len(MIXED_CELLS)))
    result = cells_as_text(column)
    pd.testing.assert_series_equal(result, _reference_cells_as_text(column))
    assert result.dtype == "string"
    assert result.tolist()[:7] == ["P-001", pd.NA, pd.NA, pd.NA, " x ", pd.NA, "1"]


cells = st.one_of(
    st.none(),
    st.text(alphabet=st.sampled_from(" \t\u3000aZ09.-%¥,年"), max_size=6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.booleans(),
    st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2200, 1, 1)),
    st.datetimes(min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2200, 1, 1)),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(cells, max_size=25))
def test_cells_as_text_matches_the_reference_on_any_mix(values: list[object]) -> None:
    column = pd.Series(values, dtype=object)
    pd.testing.assert_series_equal(cells_as_text(column), _reference_cells_as_text(column))


def test_read_sheet_skips_and_counts_blank_and_total_rows(tmp_path: Path) -> None:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["年", "计划 代码", "规模"])
    sheet.append([2024, "P-1", 1.5])
    sheet.append([None, None, None])
    sheet.append(["合 计", None, 3])
    sheet.append(["\u3000总计\u3000", None, None])
    sheet.append(["2024年", " ", "1,000"])
    sheet.append(["小计x", None, None])  # not a total marker: kept
    path = tmp_path / "book.xlsx"
    workbook.save(path)

    raw = read_sheet(ExcelWorkbookDataset(filepath=str(path)).load(), 0)

    assert raw.headers == ("年", "计划代码", "规模")
    assert (raw.rows_blank, raw.rows_total) == (1, 2)
    assert raw.frame["_source_row"].to_list() == [2, 6, 7]
    assert raw.frame["年"].to_list() == ["2024", "2024年", "小计x"]
    assert raw.frame["计划代码"].to_list() == ["P-1", None, None]
    assert raw.frame["规模"].to_list() == ["1.5", "1,000", None]


def _rows() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "text": pl.Series(
                ["a\\b", "tab\there", None, "line\nbreak\r", "", "\\N", "中文"], dtype=pl.String
            ),
            "empty": pl.Series([None] * 7, dtype=pl.String),
            "_source_row": [2, 3, 4, 5, 6, 7, 8],
        }
    )


def test_copy_text_escapes_and_marks_nulls() -> None:
    payload = copy_text(_rows(), ["text", "empty", "_source_row"])
    assert payload.decode().split("\n") == [
        "a\\\\b\t\\N\t2",
        "tab\\there\t\\N\t3",
        "\\N\t\\N\t4",
        "line\\nbreak\\r\t\\N\t5",
        "\t\\N\t6",
        "\\\\N\t\\N\t7",
        "中文\t\\N\t8",
        "",
    ]
    assert copy_text(_rows().head(0), ["text"]) == b""


@pytest.mark.database
def test_copy_payload_reads_back_as_the_same_values(db_connection) -> None:  # type: ignore[no-untyped-def]
    import io

    rows = _rows()
    with db_connection.cursor() as cursor:
        cursor.execute("CREATE TEMPORARY TABLE t (text text, empty text, _source_row integer)")
        cursor.copy_expert(
            "COPY t FROM STDIN", io.BytesIO(copy_text(rows, ["text", "empty", "_source_row"]))
        )
        cursor.execute("SELECT text, empty, _source_row FROM t ORDER BY _source_row")
        back = cursor.fetchall()
    expected = [
        (text, None, row) for text, row in zip(rows["text"], rows["_source_row"], strict=True)
    ]
    assert back == expected


def _trustee_domain() -> DomainConfig:
    conf = PROJECT_ROOT / "conf" / "base"
    raw = yaml.safe_load((conf / "data_sources.yml").read_text(encoding="utf-8"))
    mappings = yaml.safe_load((conf / "mappings.yml").read_text(encoding="utf-8")) or {}
    tables = {
        str(name): {str(k): str(v) for k, v in table.items()} for name, table in mappings.items()
    }
    return parse_domains(raw, tables)["trustee_performance"]


def _workbooks(inbox: Path) -> dict[str, Callable[[], ExcelWorkbook]]:
    return {
        path.relative_to(inbox).as_posix(): ExcelWorkbookDataset(filepath=str(path)).load
        for path in sorted(inbox.rglob("*.xlsx"))
    }


def test_reading_files_at_once_gives_what_reading_one_file_after_another_gives() -> None:
    inbox = PROJECT_ROOT / "data" / "01_raw"
    domain = _trustee_domain()
    workbooks = _workbooks(inbox)
    manifest = select_workbooks(workbooks, str(inbox), 3, domain=domain)
    assert len(manifest.selection.selected) == 3

    rows, rejects, summary, _ = clean_workbooks(workbooks, manifest, domain=domain)

    today = dt.date.today()

    def opened(path: str) -> ExcelWorkbook:
        workbook = workbooks[path]()
        workbook.name = path  # lineage names the file by its path in the inbox, as the node does
        return workbook

    one_by_one = combine(
        [
            clean_sheet(read_sheet(opened(file.path), 0), domain, today)
            for file in manifest.selection.selected
        ],
        domain,
    )
    assert_frame_equal(rows.collect(), one_by_one.rows)
    assert_frame_equal(rejects, one_by_one.rejects)
    assert list(summary.files) == [file.path for file in manifest.selection.selected]


def test_an_unreadable_workbook_read_with_another_still_fails_naming_the_file(
    tmp_path: Path,
) -> None:
    inbox = tmp_path / "inbox"
    shutil.copytree(PROJECT_ROOT / "data" / "01_raw" / "2024" / "10", inbox / "2024" / "10")
    (inbox / "2024_09_受托业绩报告.xlsx").write_bytes(b"not a workbook")
    domain = _trustee_domain()
    workbooks = _workbooks(inbox)
    manifest = select_workbooks(workbooks, str(inbox), 2, domain=domain)

    with pytest.raises(WorkbookReadError, match=r"2024_09_受托业绩报告\.xlsx"):
        clean_workbooks(workbooks, manifest, domain=domain)


def test_columnar_rules_give_each_cell_what_the_rule_gives_that_cell_alone() -> None:
    """A rule over a whole column is the rule per cell: no value depends on its neighbours."""
    years = ["2024", "2024年", None, "20x4", "2024.0"] * 4
    months = ["11", "11月", "13", None, "11"] * 4
    amounts = ["1,000.5", "¥2", "abc", None, "-3"] * 4
    today = dt.date(2026, 1, 1)
    cases: list[tuple[str, list[list[str | None]], dict[str, object]]] = [
        ("year_month", [years, months], {}),
        ("decimal", [amounts], {"column_type": "numeric(18,4)", "min": 0}),
        ("rate", [amounts], {"column_type": "numeric(8,6)", "max": 10}),
        ("code", [amounts], {"remove": "-,", "allowed": "^[0-9.]+$"}),
        ("month_date", [years], {}),
    ]
    for name, columns, options in cases:
        series = [pl.Series(column, dtype=pl.String) for column in columns]
        whole = run_rule(name, *series, today=today, **options)  # type: ignore[arg-type]
        for row in range(len(columns[0])):
            alone = run_rule(name, *(s.slice(row, 1) for s in series), today=today, **options)  # type: ignore[arg-type]
            assert whole.values[row] == alone.values[0], (name, row)
            assert whole.errors[row] == alone.errors[0], (name, row)


def test_copy_text_never_writes_a_line_psql_reads_as_the_end_of_data() -> None:
    rows = pl.DataFrame({"text": ["\\.", "a\n\\.", "\\."], "_source_row": [2, 3, 4]})
    lines = copy_text(rows, ["text", "_source_row"]).decode().split("\n")
    assert "\\." not in lines
    assert lines[:3] == ["\\\\.\t2", "a\\n\\\\.\t3", "\\\\.\t4"]
