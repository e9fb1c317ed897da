"""Errors carry what their message names as fields, for the run report and orchestrators."""

from __future__ import annotations

import contextlib
import importlib
import json
import pkgutil
import time
from pathlib import Path

import pytest
from kedro.io import DatasetError

import work_data_hub
from tests.support.workbooks import write_garbage
from work_data_hub.cleaning.workbook import WorkbookReadError, open_workbook
from work_data_hub.config import DataSourcesError, parse_domains
from work_data_hub.config.params import RunParametersError, check_run_parameters
from work_data_hub.errors import WorkDataHubError
from work_data_hub.hooks.run_report import RunReportHooks
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


def _every_error_class() -> set[type[WorkDataHubError]]:
    for module in pkgutil.walk_packages(work_data_hub.__path__, "work_data_hub."):
        # An integration whose optional library is not installed defines no error of ours.
        with contextlib.suppress(ModuleNotFoundError):
            importlib.import_module(module.name)
    found: set[type[WorkDataHubError]] = set()
    waiting = [WorkDataHubError]
    while waiting:
        for subclass in waiting.pop().__subclasses__():
            found.add(subclass)
            waiting.append(subclass)
    return found


def test_every_error_a_run_can_end_with_declares_its_fields() -> None:
    # A subclass that only had a message would leave orchestrators parsing text.
    bare = [
        cls.__qualname__
        for cls in _every_error_class()
        if cls.__init__ is WorkDataHubError.__init__ and cls.fields is WorkDataHubError.fields
    ]
    assert bare == []


def test_a_workbook_error_names_its_file(tmp_path: Path) -> None:
    garbage = write_garbage(tmp_path / "2024-11 受托业绩.xlsx")
    with pytest.raises(WorkbookReadError) as caught:
        open_workbook(garbage)
    assert caught.value.fields["file"] == str(garbage)


def test_a_run_parameter_error_holds_its_list_of_problems() -> None:
    with pytest.raises(RunParametersError) as caught:
        check_run_parameters({"max_files": "many", "max_reject_ratio": 7})
    problems = caught.value.fields["problems"]
    assert len(problems) == 2 and all(problem in str(caught.value) for problem in problems)


def test_the_run_report_keeps_the_message_and_the_fields_of_a_wrapped_error(
    tmp_path: Path,
) -> None:
    # Kedro wraps a dataset's failure in its own DatasetError: the fields come from the cause.
    failure = LoadFailedError("d: failed", domain="d", table="t", step=Step.COPY)
    wrapped = DatasetError("Failed while saving data to dataset d.load_plan")
    wrapped.__cause__ = failure
    hooks = RunReportHooks()
    hooks._run = {"run_id": "r1", "_clock": time.perf_counter()}
    hooks._report_dir = tmp_path
    hooks._fail("d", "save_load_plan", wrapped)
    hooks.on_pipeline_error(wrapped, run_params={})

    report = json.loads((tmp_path / "run_r1.json").read_text(encoding="utf-8"))
    domain = report["domains"]["d"]
    assert domain["error"] == str(wrapped)
    assert domain["error_type"] == report["error_type"] == "LoadFailedError"
    assert domain["error_fields"] == report["error_fields"] == failure.fields
