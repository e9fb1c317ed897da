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
