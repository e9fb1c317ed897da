"""``periods``: the forms a month selection takes, what is refused, and never with max_files."""

from __future__ import annotations

import pytest

from work_data_hub.config import RunParametersError, check_run_parameters
from work_data_hub.config.params import describe_run_parameters


@pytest.mark.parametrize(
    ("given", "months"),
    [
        ("2024-10", ("2024-10",)),
        ("2024-11..2025-02", ("2024-11", "2024-12", "2025-01", "2025-02")),
        ("[2024-11,2024-09]", ("2024-09", "2024-11")),
        (["2024-09", "2024-11..2024-12", "2024-11"], ("2024-09", "2024-11", "2024-12")),
    ],
)
def test_a_month_a_range_and_a_list_name_these_months_once_in_order(
    given: object, months: tuple[str, ...]
) -> None:
    assert check_run_parameters({"periods": given}).periods == months


@pytest.mark.parametrize(
    ("given", "why"),
    [
        ("2024-13", "'2024-13' is not a month written YYYY-MM"),
        ("202410", "'202410' is not a month written YYYY-MM"),
        ("2024-11..2024-09", "runs backwards"),
        ("[]", "the list is empty"),
        (202410, "must be YYYY-MM, a range YYYY-MM..YYYY-MM or a list"),
    ],
)
def test_a_bad_selection_is_refused_naming_the_forms(given: object, why: str) -> None:
    with pytest.raises(RunParametersError) as refused:
        check_run_parameters({"periods": given})
    assert "param 'periods'" in str(refused.value) and why in str(refused.value)


def test_periods_with_max_files_is_refused_and_max_files_alone_defaults_to_one() -> None:
    with pytest.raises(RunParametersError, match=r"give either max_files .* not both"):
        check_run_parameters({"periods": "2024-10", "max_files": 1})
    assert check_run_parameters({}).newest_periods == 1
    assert check_run_parameters({"max_files": 3}).newest_periods == 3
    shown = {name: default for name, default, _ in describe_run_parameters()}
    assert (shown["max_files"], shown["periods"]) == ("1", "(none)")
