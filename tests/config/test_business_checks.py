"""`checks:` in data_sources.yml is validated like every key: an unknown check, option or
column is a config error naming the domain and the key."""

from __future__ import annotations

from typing import Any

import pytest

from tests.config.test_domains import _problems, _valid_domain
from work_data_hub.config import parse_domains
from work_data_hub.config.business_checks import IdentityOptions, parse_expression

AMOUNTS = {
    "期初": {"type": "numeric(18,2)", "rule": "decimal"},
    "期末": {"type": "numeric(18,2)", "rule": "decimal"},
    "变动": {"type": "numeric(18,2)", "rule": "decimal"},
}


def _with_checks(checks: dict[str, Any]) -> dict[str, Any]:
    domain = _valid_domain()
    domain["columns"] = {**domain["columns"], **AMOUNTS}
    return domain | {"checks": checks}


def test_every_kind_parses_with_its_options() -> None:
    checks = {
        "volume": {"max_drop": 0.5, "max_growth": 2},
        "coverage": {"by": ["机构名称"]},
        "identity": {"severity": "warn", "left": "期末", "right": "期初 + 变动", "tolerance": 0.01},
        "continuity": {"by": ["机构名称"], "opening": "期初", "closing": "期末"},
        "total_row": {"columns": ["期末"], "tolerance": 0.01},
    }
    (demo,) = parse_domains({"domains": {"demo": _with_checks(checks)}}).values()
    kinds = {check.name: (check.severity, check.period) for check in demo.business_checks}
    assert kinds == {
        "volume": ("error", "月份"),
        "coverage": ("error", "月份"),
        "identity": ("warn", None),
        "continuity": ("error", "月份"),
        "total_row": ("error", None),
    }


@pytest.mark.parametrize(
    ("checks", "key", "message"),
    [
        ({"volumes": {"max_drop": 0.5}}, "checks.volumes", "unknown check; did you mean 'volume'?"),
        ({"volume": {"max_dorp": 0.5}}, "checks.volume.max_dorp", "did you mean 'max_drop'?"),
        ({"volume": {}}, "checks.volume", "volume needs 'max_drop' or 'max_growth'"),
        ({"volume": {"max_drop": 1.5}}, "checks.volume.max_drop", "less than or equal to 1"),
        ({"volume": {"max_drop": 0.5, "severity": "fatal"}}, "checks.volume.severity",
         "must be error or warn"),
        ({"coverage": {"by": ["机构"]}}, "checks.coverage.by", "'机构' is not among the declared"),
        ({"coverage": {}}, "checks.coverage.by", "check coverage needs 'by:'"),
        ({"identity": {"left": "期末", "right": "期初 ** 2"}}, "checks.identity",
         "only column names, numbers, + - * / and parentheses"),
        ({"identity": {"left": "期末", "right": "__import__('os')"}}, "checks.identity",
         "only column names"),
        ({"identity": {"left": "期末", "right": "机构名称 + 1"}}, "checks.identity.right",
         "column '机构名称' is text, not numeric"),
        ({"total_row": {"columns": ["合计"]}}, "checks.total_row.columns",
         "'合计' is not among the declared columns"),
        ({"continuity": {"by": ["机构名称"], "opening": "期初", "closing": "期末", "period": "期初"}},
         "checks.continuity.period", "not a date column"),
    ],
)  # fmt: skip
def test_each_check_problem_names_the_domain_and_key(
    checks: dict[str, Any], key: str, message: str
) -> None:
    (problem,) = _problems(demo=_with_checks(checks))
    assert problem.startswith(f"domain 'demo', key '{key}':"), problem
    assert message in problem


def test_an_expression_is_parsed_never_evaluated() -> None:
    expression = parse_expression("a + (b - 2) * c / d")
    assert expression.names == ["a", "b", "c", "d"]
    text = expression.fold(str, str, lambda op, xs: f"({xs[0]} {op} {xs[1]})")
    assert text == "(a + (((b - 2) * c) / d))"
    with pytest.raises(ValueError, match="only column names"):
        parse_expression("a.b")
    options = IdentityOptions(left="a", right="-b")
    assert options.expressions[1].fold(str, str, lambda op, xs: f"{xs[0]}{op}{xs[1]}") == "0-b"
