"""Errors carry what their message names as fields, for the run report and orchestrators."""

from __future__ import annotations

import pytest

from work_data_hub.config import DataSourcesError, parse_domains
from work_data_hub.load.steps import Step
from work_data_hub.warehouse.errors import LoadFailedError


def test_a_config_error_holds_its_list_of_problems() -> None:
    with pytest.raises(DataSourcesError) as caught:
        parse_domains({"domains": {"a": {"table": "a"}, "b": {"table": "b"}}})
    problems = caught.value.fields["problems"]
    assert len(problems) >= 2 and all(problem in str(caught.value) for problem in problems)


def test_a_failed_load_names_domain_table_and_step_as_fields() -> None:
    error = LoadFailedError("x", domain="d", table="t", step=Step.COPY, warehouse="host h")
    assert error.fields == {
        "domain": "d",
        "table": "t",
        "step": "copy",
        "warehouse": "host h",
        "rolled_back": True,
    }


def test_every_step_name_is_the_plan_files_step_name() -> None:
    assert {str(step) for step in Step} >= {"begin", "guard", "copy", "record_load", "commit"}
