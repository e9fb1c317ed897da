"""The rule registry: each rule declared once, its options checked where the YAML names them."""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
import pytest

from tests.conftest import PROJECT_ROOT
from work_data_hub.cleaning.registry import (
    DEFAULT_RULE_FOR_TYPE,
    RULES,
    RuleOptions,
    describe_rules,
    run_rule,
)
from work_data_hub.config import DataSourcesError, parse_domains

MAPPINGS = {"branch_codes": {"北京": "G01"}}
# The smallest valid column for each registered rule: a test for a new rule starts here.
SAMPLE_COLUMNS: dict[str, dict[str, Any]] = {
    "code": {"type": "text", "rule": "code", "remove": "-"},
    "copy": {"type": "text", "rule": "copy", "from": "机构名称"},
    "date": {"type": "date", "rule": "date"},
    "decimal": {"type": "numeric(12,2)", "rule": "decimal", "min": 0},
    "integer": {"type": "integer", "rule": "integer"},
    "mapping": {"rule": "mapping", "from": "机构名称", "mapping": "branch_codes"},
    "month_date": {"type": "date", "rule": "month_date"},
    "rate": {"type": "numeric(8,6)", "rule": "rate", "max": 10},
    "text": {"type": "text", "rule": "text", "placeholders": ["无"]},
    "year_month": {"type": "date", "rule": "year_month", "source": ["年", "月"]},
}
# What each rule makes of one cell (or, for year_month, two).
SAMPLE_CELLS: dict[str, tuple[list[str], str]] = {
    "code": ([" a1 "], "A1"),
    "date": (["2024-03-04"], "2024-03-04"),
    "decimal": (["¥1,234.5"], "1234.5"),
    "integer": (["+007"], "7"),
    "month_date": (["2024年3月"], "2024-03-01"),
    "rate": (["5.5%"], "0.055"),
    "text": ([" 北京 "], "北京"),
    "year_month": (["2024", "3月"], "2024-03-01"),
}


def _domain(column: dict[str, Any]) -> dict[str, Any]:
    return {
        "domains": {
            "demo": {
                "pattern": r"(?P<year>20\d{2})(?P<month>\d{2}).*demo",
                "table": "demo",
                "refresh_scope": ["月份"],
                "columns": {
                    "月份": {"type": "date", "rule": "month_date"},
                    "机构名称": {"type": "text"},
                    "x": column,
                },
            }
        }
    }


def _problems(column: dict[str, Any]) -> list[str]:
    with pytest.raises(DataSourcesError) as caught:
        parse_domains(_domain(column), MAPPINGS)
    return [line.strip() for line in str(caught.value).splitlines()[1:]]


def test_every_registered_rule_has_an_options_model_a_summary_and_a_sample() -> None:
    assert sorted(RULES) == sorted(SAMPLE_COLUMNS)
    for name, rule in RULES.items():
        assert issubclass(rule.options, RuleOptions) and rule.summary, name
        assert rule.name == name
    assert set(DEFAULT_RULE_FOR_TYPE.values()) <= set(RULES)


@pytest.mark.parametrize("name", sorted(SAMPLE_COLUMNS))
def test_each_rule_parses_from_its_flat_yaml_options(name: str) -> None:
    column = parse_domains(_domain(SAMPLE_COLUMNS[name]), MAPPINGS)["demo"].columns["x"]
    assert column.rule == name
    assert isinstance(column.options, RULES[name].options)


@pytest.mark.parametrize("name", sorted(SAMPLE_CELLS))
def test_each_rule_cleans_its_sample_cell(name: str) -> None:
    cells, expected = SAMPLE_CELLS[name]
    result = run_rule(name, *(pl.Series([cell]) for cell in cells), today=dt.date(2025, 1, 1))
    assert result.values.to_list() == [expected] and result.errors.to_list() == [None]


def test_mapping_tables_are_resolved_into_the_column_when_the_domain_is_parsed() -> None:
    column = parse_domains(_domain(SAMPLE_COLUMNS["mapping"]), MAPPINGS)["demo"].columns["x"]
    assert column.options.table == {"北京": "G01"}  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("column", "key", "message"),
    [
        ({"type": "numeric(18,2)", "rule": "decimal", "remove": ","}, "columns.x.remove",
         "not an option of rule decimal (rule decimal takes: max, min, min_exclusive"),
        ({"type": "text", "rule": "code", "placeholder": ["-"]}, "columns.x.placeholder",
         "not an option of rule code"),
        ({"type": "text", "rule": "text", "placeholder": ["-"]}, "columns.x.placeholder",
         "did you mean 'placeholders'"),
        ({"type": "date", "rule": "month_date", "min": 1}, "columns.x.min",
         "rule month_date takes: no options"),
        ({"type": "numeric(8,2)", "rule": "rate", "max": "ten"}, "columns.x.max",
         "valid number"),
        ({"rule": "soundex"}, "columns.x.rule", "unknown rule"),
        ({"rule": "mapping", "from": "机构名称"}, "columns.x", "rule mapping needs 'mapping:'"),
        ({"rule": "code", "from": "机构名称"}, "columns.x", "'from' does not apply to rule code"),
        ({"rule": "copy", "from": "机构名称", "source": "机构"}, "columns.x",
         "['source'] do not apply to rule copy"),
        ({"type": "integer", "rule": "text"}, "columns.x", "rule text needs type text"),
        ({"type": "date", "rule": "code"}, "columns.x", "rule code needs type text"),
        ({"type": "text", "rule": "year_month", "source": "年"}, "columns.x", "needs 'source: ["),
        ({"type": "text", "required": True, "optional": True}, "columns.x",
         "both required and optional"),
    ],
)  # fmt: skip
def test_a_wrong_or_meaningless_option_names_domain_column_and_option(
    column: dict[str, Any], key: str, message: str
) -> None:
    (problem,) = _problems(column)
    assert problem.startswith(f"domain 'demo', key '{key}':"), problem
    assert message in problem, problem


@pytest.mark.parametrize(
    ("declared", "rule"),
    [("text", "text"), ("date", "date"), ("integer", "integer"), ("numeric(10,2)", "decimal")],
)
def test_a_column_with_a_type_and_no_rule_gets_the_strict_rule_of_its_type(
    declared: str, rule: str
) -> None:
    column = parse_domains(_domain({"type": declared}), MAPPINGS)["demo"].columns["x"]
    assert column.rule == rule


def test_the_docs_list_every_registered_rule_as_the_registry_describes_it() -> None:
    page = (PROJECT_ROOT / "docs" / "contract.md").read_text(encoding="utf-8")
    start = page.index("<!-- rules:start")
    section = page[page.index("\n", start) + 1 : page.index("<!-- rules:end -->")]
    assert section == describe_rules(), (
        "docs/contract.md's rule table is out of date: paste describe_rules() between the markers"
    )


def test_rules_strip_white_space_as_python_does() -> None:
    """Rust's white space leaves out U+001C-U+001F; the rules strip what str.strip() strips."""
    from work_data_hub.cleaning.rules import PYTHON_WHITESPACE

    python = {chr(code) for code in range(0x110000) if chr(code).isspace()}
    assert set(PYTHON_WHITESPACE) == python
    padded = "\x1c\u3000 P1 \x85\x1f"
    assert run_rule("text", pl.Series([padded])).values.to_list() == [padded.strip()]
