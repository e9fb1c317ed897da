"""A value changes only in the ways the contract states: separators and scripts never change it.

A comma between digits is a thousands separator only between groups of three: `12,34` and `1,5`
may be decimal commas, so they are rejected as ambiguous, never read as 1234 and 15. A code is
never turned into another ASCII code by upper-casing or width folding (`ß01` is not `SS01`,
`ı02` not `I02`, `Ｐ01` not `P01`): such a cell is rejected. Digits are read only as the
contract says (ASCII or full-width), never a superscript or circled digit.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from tests.reliability.support import TRUSTEE_HEADERS, run_domain, trustee_rows, write_workbook
from tests.support.annuity import annuity_row, clean_annuity
from work_data_hub.cleaning.registry import run_rule

TODAY = dt.date(2026, 12, 6)


def _rule(name: str, cells: list[str | None], **options: object) -> tuple[list, list]:
    result = run_rule(
        name,
        pl.Series(cells, dtype=pl.String),
        today=TODAY,
        column_type="numeric(18,4)" if name in ("decimal", "rate") else None,
        **options,
    )
    return result.values.to_list(), result.errors.to_list()


@pytest.mark.parametrize("rule", ["decimal", "rate"])
@pytest.mark.parametrize(
    "cell", ["12,34", "1,5", "1,234,5", ",5", "1,23,456", "1,2345", "１２，３４", "¥1,5", "1 234,5"]
)
def test_a_comma_that_is_not_a_thousands_separator_is_rejected_as_ambiguous(
    rule: str, cell: str
) -> None:
    values, errors = _rule(rule, [cell])
    assert values == [None]
    assert errors[0].startswith("ambiguous comma"), errors


@pytest.mark.parametrize(
    ("cell", "value"),
    [
        ("1,234", "1234"),
        ("1,234,567.89", "1234567.89"),
        ("-1,234.5", "-1234.5"),
        ("¥1,234", "1234"),
        ("１，２３４．５", "1234.5"),
        ("1 234.5", "1234.5"),
    ],
)
def test_thousands_separators_in_groups_of_three_are_removed(cell: str, value: str) -> None:
    assert _rule("decimal", [cell]) == ([value], [None])


def test_a_comma_in_text_that_is_no_number_anyway_is_not_called_ambiguous() -> None:
    assert _rule("decimal", ["12,5OO.00"]) == ([None], ["not a number"])


def test_a_percentage_keeps_its_thousands_and_refuses_a_decimal_comma() -> None:
    values, errors = _rule("rate", ["1,234.5%", "5,5%"])
    assert values == ["12.345", None]
    assert errors[0] is None and errors[1].startswith("ambiguous comma")


@pytest.mark.parametrize("cell", ["ß01", "ı02", "Ｐ01", "ｐ０１", "ﬁ01", "P0ſ"])
def test_a_code_never_maps_a_character_that_is_not_ascii_onto_ascii(cell: str) -> None:
    values, errors = _rule("code", [cell])
    assert values == [None]
    assert "would become ASCII" in errors[0], errors


@pytest.mark.parametrize(("cell", "value"), [("ß01", "ß01"), ("ｆ123", None), ("Ｆ123", None)])
def test_a_code_that_is_not_upper_cased_is_not_folded_onto_ascii_either(
    cell: str, value: str | None
) -> None:
    values, errors = _rule("code", [cell], upper=False, strip_prefix="F")
    assert values == [value]
    assert (errors[0] is None) == (value is not None)


@pytest.mark.parametrize(
    ("cell", "value"),
    [("p-0_01", "P001"), ("计划1", "计划1"), ("é01", "É01"), ("P\u30001", "P1")],
)
def test_a_code_keeps_letters_that_are_not_ascii_and_folds_only_ascii_and_space(
    cell: str, value: str
) -> None:
    assert _rule("code", [cell], remove="-_ ") == ([value], [None])


def test_a_prefix_is_stripped_only_when_it_is_the_ascii_prefix() -> None:
    values, errors = _rule("code", ["f123", "F124", "ſ125"], upper=False, strip_prefix="F")
    assert values == ["123", "124", "ſ125"]
    assert errors == [None, None, None]


@pytest.mark.parametrize(
    ("rule", "cell"),
    [
        ("integer", "²"),
        ("integer", "①"),
        ("decimal", "1²"),
        ("decimal", "Ⅻ"),
        ("month_date", "2024年①月"),
        ("month_date", "２０２４⁻１１"),
        ("date", "2024-11-0①"),
    ],
)
def test_only_ascii_and_full_width_digits_are_digits(rule: str, cell: str) -> None:
    values, errors = _rule(rule, [cell])
    assert values == [None] and errors[0] is not None


def test_full_width_digits_read_as_the_contract_states() -> None:
    assert _rule("month_date", ["２０２４年１１月"])[0] == ["2024-11-01"]
    assert _rule("decimal", ["１２３．５"])[0] == ["123.5"]


def test_an_ambiguous_amount_and_a_folded_code_are_rejects_in_a_run(tmp_path: Path) -> None:
    rows = trustee_rows(3)
    rows[0][TRUSTEE_HEADERS.index("规模")] = "12,34"
    rows[1][TRUSTEE_HEADERS.index("计划代码")] = "ß01"
    write_workbook(tmp_path / "inbox" / "2024_11_受托业绩.xlsx", rows)
    outcome = run_domain(tmp_path / "inbox", tmp_path / "out")
    rejected = dict(zip(outcome.rejects["value"], outcome.rejects["column"], strict=True))
    assert rejected == {"12,34": "fund_scale", "ß01": "plan_code"}
    assert len(outcome.rows) == 1
    assert "SS01" not in outcome.plan_text


def test_annuity_codes_delivered_in_other_scripts_are_rejects_not_other_codes(
    tmp_path: Path,
) -> None:
    cleaned = clean_annuity(
        tmp_path, [annuity_row(计划号="ı1001"), annuity_row(计划号="P1002", 期初资产规模="1,5")]
    )
    assert cleaned.rows.empty
    assert sorted(cleaned.rejects["value"]) == ["1,5", "ı1001"]
