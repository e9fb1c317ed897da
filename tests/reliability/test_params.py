"""Runtime parameters out of range or of the wrong type are refused, naming the param.

``kedro run --params`` turns ``max_files=-1`` into an int, ``max_files=three`` into a string and
``max_reject_ratio=1.5`` into a float; these are the values the run's parameter check sees.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability.support import run_domain, trustee_rows, write_workbook
from work_data_hub.config import RunParametersError, check_run_parameters

BAD = {
    "max_files negative": ({"max_files": -1}, "max_files"),
    "max_files text": ({"max_files": "three"}, "max_files"),
    "max_files numeric text": ({"max_files": "3"}, "max_files"),
    "max_files fractional": ({"max_files": 1.5}, "max_files"),
    "max_files boolean": ({"max_files": True}, "max_files"),
    "max_reject_ratio negative": ({"max_reject_ratio": -0.1}, "max_reject_ratio"),
    "max_reject_ratio above 1": ({"max_reject_ratio": 1.5}, "max_reject_ratio"),
    "max_reject_ratio a percentage": ({"max_reject_ratio": 5}, "max_reject_ratio"),
    "max_reject_ratio text": ({"max_reject_ratio": "half"}, "max_reject_ratio"),
    "max_reject_ratio not a number": ({"max_reject_ratio": float("nan")}, "max_reject_ratio"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_param_is_refused_naming_it_and_its_value(case: str) -> None:
    params, name = BAD[case]
    with pytest.raises(RunParametersError) as caught:
        check_run_parameters({"execute": False, "inbox": "data/01_raw", **params})
    message = str(caught.value)
    assert f"param '{name}'" in message
    assert repr(params[name]) in message


@pytest.mark.parametrize("ratio", [0, 0.25, 1])
def test_max_reject_ratio_bounds_are_accepted(ratio: float) -> None:
    assert check_run_parameters({"max_reject_ratio": ratio}).max_reject_ratio == ratio


def test_a_bad_max_files_stops_the_domain_before_any_workbook_is_opened(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    write_workbook(inbox / "2024_11_受托业绩.xlsx", trustee_rows())
    with pytest.raises(RunParametersError, match="param 'max_files'"):
        run_domain(inbox, tmp_path / "out", max_files=-1)
    assert not (tmp_path / "out").exists()


# Strict params: names are strict, booleans are true or false, and every param is declared once.
from work_data_hub.config.params import (  # noqa: E402
    RunParameters,
    check_command_line_params,
    check_parameter_names,
    describe_run_parameters,
    run_parameter_names,
)


def test_an_unknown_param_is_refused_with_did_you_mean_and_the_valid_names() -> None:
    with pytest.raises(RunParametersError) as caught:
        check_command_line_params({"max_file": "3"}, {"max_file": 3})
    message = str(caught.value)
    assert "param 'max_file' is not a runtime parameter; did you mean 'max_files'?" in message
    assert "Valid params: execute, max_files, inbox, max_reject_ratio" in message
    with pytest.raises(RunParametersError, match="'colour' is not a runtime parameter; Valid"):
        check_parameter_names(["colour"])


@pytest.mark.parametrize("text", ["yes", "on", "1", "y", "no", "off", ""])
def test_a_boolean_param_is_true_or_false_only(text: str) -> None:
    with pytest.raises(RunParametersError, match=f"param 'execute': .*\\(got '{text}'\\)"):
        check_command_line_params({"execute": text}, {"execute": text == "yes"})


def test_true_and_false_pass_and_every_problem_is_named_at_once(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    write_workbook(inbox / "2024_11_受托业绩.xlsx", trustee_rows())
    for text in ("true", "false"):
        check_command_line_params(
            {"execute": text, "inbox": str(inbox)}, {"execute": text == "true", "inbox": str(inbox)}
        )
    with pytest.raises(RunParametersError) as caught:
        check_command_line_params(
            {"max_file": "3", "execute": "yes", "max_reject_ratio": "2"},
            {"max_file": 3, "execute": True, "max_reject_ratio": 2},
        )
    message = str(caught.value)
    assert all(f"param '{name}'" in message for name in ("max_file", "execute", "max_reject_ratio"))


def test_each_param_is_declared_once_with_a_default_and_a_meaning() -> None:
    described = {name: (default, meaning) for name, default, meaning in describe_run_parameters()}
    assert tuple(described) == run_parameter_names() == tuple(RunParameters.model_fields)
    assert all(meaning for _, meaning in described.values())
    assert described["execute"][0] == "false" and described["max_files"][0] == "1"
    # The project's parameters.yml gives each one its default, so the catalog knows them all.
    import yaml

    from tests.conftest import PROJECT_ROOT

    parameters = yaml.safe_load((PROJECT_ROOT / "conf/base/parameters.yml").read_text("utf-8"))
    assert set(run_parameter_names()) <= set(parameters)
