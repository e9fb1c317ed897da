"""Property tests: the cleaning rules on any text, and COPY escaping on any Unicode text.

For every rule: it never raises; a non-empty cell ends up either as a value or as a reject
reason, never both and never neither (so nothing is silently nulled); an empty cell gives
neither; and the rule is idempotent (cleaning its own output changes nothing and rejects
nothing). Values a numeric rule accepts fit the column's numeric(precision, scale), and dates
are first days of a month in 2000..today.
"""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal
from typing import Any

import pandas as pd
import polars as pl
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.reliability.support import project_domains
from tests.support import rule_calls as rules
from work_data_hub.load.copy_format import copy_text

TODAY = dt.date(2026, 11, 25)
PROPERTY_SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

# Text people type into cells: digits, separators, CJK date words, full-width forms, currency,
# percent, exponents and blanks mixed in, plus any Unicode at all.
_CELL_ALPHABET = st.sampled_from(
    [*"0123456789０１２３４５６７８９.,-+/%eE ¥￥$年月日FPpC_\t\n", "\u3000", "\xa0"]
)
cells_text = st.one_of(
    st.text(_CELL_ALPHABET, max_size=14),
    st.text(max_size=14),
    st.integers(-(10**20), 10**20).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.dates(dt.date(1899, 1, 1), dt.date(2199, 12, 31))
    .map(
        lambda d: st.sampled_from([f"{d:%Y-%m-%d}", f"{d:%Y%m}", f"{d:%Y年%m月}", f"{d:%y年%m月}"])
    )
    .flatmap(lambda s: s),
)
cell_columns = st.lists(st.one_of(st.none(), cells_text), min_size=1, max_size=12)


def _series(values: list[str | None]) -> pd.Series:
    return pd.Series(values, dtype="string")


def _check_value_xor_error(cells: pd.Series, result: rules.RuleResult) -> None:
    assert len(result.values) == len(cells) and len(result.errors) == len(cells)
    present = cells.notna().to_numpy()
    has_value = result.values.notna().to_numpy()
    has_error = result.errors.notna().to_numpy()
    for index, cell in enumerate(cells.tolist()):
        if present[index]:
            assert has_value[index] != has_error[index], (cell, result.values[index])
        else:
            assert not has_value[index] and not has_error[index], cell


def _check_idempotent(result: rules.RuleResult, again: rules.RuleResult) -> None:
    accepted = result.values.notna()
    assert again.errors[accepted].isna().all(), again.errors[accepted].tolist()
    assert again.values[accepted].tolist() == result.values[accepted].tolist()


def _check_dates(values: pd.Series) -> None:
    for value in values.dropna():
        date = dt.date.fromisoformat(value)
        assert date.day == 1 and 2000 <= date.year <= 2099 and date <= TODAY


@PROPERTY_SETTINGS
@given(cell_columns)
def test_month_date_cleans_or_rejects_every_cell_and_is_idempotent(values: list[Any]) -> None:
    cells = _series(values)
    result = rules.month_date(cells, TODAY)
    _check_value_xor_error(cells, result)
    _check_dates(result.values)
    _check_idempotent(result, rules.month_date(result.values, TODAY))


@PROPERTY_SETTINGS
@given(
    st.lists(
        st.tuples(st.one_of(st.none(), cells_text), st.one_of(st.none(), cells_text)),
        min_size=1,
        max_size=12,
    )
)
def test_year_month_cleans_or_rejects_every_row_and_its_dates_are_fixed_points(
    pairs: list[tuple[Any, Any]],
) -> None:
    years, months = _series([p[0] for p in pairs]), _series([p[1] for p in pairs])
    result = rules.year_month(years, months, TODAY)
    either = _series([p[0] if p[0] is not None else p[1] for p in pairs])
    _check_value_xor_error(either, result)
    _check_dates(result.values)
    # Its output is a date the month parser reads back unchanged.
    _check_idempotent(result, rules.month_date(result.values, TODAY))


def _declared(rule_names: tuple[str, ...]) -> dict[str, Any]:
    """Every column of the project's domains that uses one of ``rule_names``, by domain.column."""
    return {
        f"{domain.name}.{name}": spec
        for domain in project_domains().values()
        for name, spec in domain.columns.items()
        if spec.rule in rule_names
    }


# The numeric columns the project declares, plus two shapes it may declare next.
NUMERIC_COLUMNS = {
    name: {
        "precision": spec.precision_scale[0],
        "scale": spec.precision_scale[1],
        "minimum": spec.options.min,
        "maximum": spec.options.max,
        "min_exclusive": spec.options.min_exclusive,
        "percent": spec.rule == "rate",
    }
    for name, spec in _declared(("decimal", "rate")).items()
} | {
    "numeric(18,2) >= 0": {"precision": 18, "scale": 2, "minimum": 0.0},
    "numeric(10,6) percent": {"precision": 10, "scale": 6, "percent": True},
}


def _fits(value: str, precision: int, scale: int) -> bool:
    rounded = Decimal(value).quantize(Decimal(1).scaleb(-scale))
    return abs(rounded) < Decimal(10) ** (precision - scale)


@pytest.mark.parametrize("name", sorted(NUMERIC_COLUMNS))
@PROPERTY_SETTINGS
@given(values=cell_columns)
def test_decimal_cleans_or_rejects_every_cell_fits_its_column_and_is_idempotent(
    name: str, values: list[Any]
) -> None:
    column = NUMERIC_COLUMNS[name]
    cells = _series(values)
    result = rules.decimal(cells, **column)
    _check_value_xor_error(cells, result)
    for value in result.values.dropna():
        assert _fits(value, column["precision"], column["scale"]), value
        if column.get("minimum") is not None:
            assert Decimal(value) >= Decimal(str(column["minimum"])), value
        if column.get("maximum") is not None:
            assert Decimal(value) <= Decimal(str(column["maximum"])), value
    _check_idempotent(result, rules.decimal(result.values, **column))


# The code columns the project declares, plus the bare rule.
CODE_RULES = {
    name: {
        "upper": spec.options.upper,
        "remove": spec.options.remove,
        "strip_prefix": spec.options.strip_prefix,
        "replace": spec.options.replace,
        "allowed": spec.options.allowed,
    }
    for name, spec in _declared(("code",)).items()
} | {"bare code rule": {}}


@pytest.mark.parametrize("name", sorted(CODE_RULES))
@PROPERTY_SETTINGS
@given(values=cell_columns)
@example(values=["FF1", "- 0", " C-1 ", "1P0290", "ῗ"])
def test_code_cleans_or_rejects_every_cell_and_is_idempotent(name: str, values: list[Any]) -> None:
    options = CODE_RULES[name]
    cells = _series(values)
    result = rules.code(cells, **options)
    _check_value_xor_error(cells, result)
    if options.get("strip_prefix"):
        # strip_prefix removes the prefix once ("FF1" -> "F1", as docs/contract.md says: "a leading
        # F removed"), so only an output that does not start with it again is a fixed point.
        prefix = options["strip_prefix"].upper()
        result = rules.RuleResult(
            result.values.where(~result.values.str.upper().str.startswith(prefix).fillna(False)),
            result.errors,
        )
    _check_idempotent(result, rules.code(result.values, **options))


# --- COPY escaping -----------------------------------------------------------------------
# Any Unicode text but NUL (which PostgreSQL text cannot hold: cleaning rejects such a cell and
# copy_text refuses it) and lone surrogates (which UTF-8, and so no workbook, can carry).
copy_texts = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40
)


@pytest.fixture(scope="module")
def copy_connection(shared_database: Any) -> Any:
    from tests.conftest import _connect

    connection = _connect(shared_database)
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS copy_round_trip")
        cursor.execute("CREATE TABLE copy_round_trip (position integer, a text, b text)")
    yield connection
    connection.close()


@pytest.mark.database
@settings(
    max_examples=75, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.tuples(st.one_of(st.none(), copy_texts), copy_texts), min_size=1, max_size=8))
def test_any_unicode_text_round_trips_through_copy(
    copy_connection: Any, rows: list[tuple[str | None, str]]
) -> None:
    frame = pl.DataFrame(
        {
            "position": range(len(rows)),
            "a": pl.Series([r[0] for r in rows], dtype=pl.String),
            "b": pl.Series([r[1] for r in rows], dtype=pl.String),
        }
    )
    payload = copy_text(frame, ["position", "a", "b"])
    with copy_connection.cursor() as cursor:
        cursor.execute("TRUNCATE copy_round_trip")
        cursor.copy_expert("COPY copy_round_trip (position, a, b) FROM STDIN", io.BytesIO(payload))
        cursor.execute("SELECT a, b FROM copy_round_trip ORDER BY position")
        assert cursor.fetchall() == rows


def test_copy_text_refuses_a_nul_character() -> None:
    frame = pl.DataFrame({"a": pl.Series(["ok", "bad\x00value"], dtype=pl.String)})
    with pytest.raises(ValueError, match="'a' holds a NUL character"):
        copy_text(frame, ["a"])
