"""The runtime parameters (``kedro run --params ...``), checked before any file is read."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from work_data_hub.errors import WorkDataHubError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RunParameters(_Strict):
    """The runtime parameters (``kedro run --params ...``), checked before any file is read."""

    model_config = ConfigDict(extra="ignore", frozen=True, strict=True)

    execute: bool = False
    max_files: Annotated[int, Field(ge=1)] = 1
    inbox: str = "data/01_raw"
    max_reject_ratio: Annotated[float, Field(ge=0, le=1)] = 0.0
    reload: bool = False
    # Review and apply: diff counts against the warehouse; plan and force are apply_plan's.
    diff: bool = False
    plan: str | None = None
    force: bool = False

    # The messages leave out the value: check_run_parameters appends "(got ...)".
    @field_validator("execute", "reload", "diff", "force", mode="before")
    @classmethod
    def _boolean(cls, value: object) -> object:
        if not isinstance(value, bool):
            raise ValueError("must be true or false (as in --params execute=true)")
        return value

    @field_validator("plan", mode="before")
    @classmethod
    def _path(cls, value: object) -> object:
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise ValueError("must be the path of a saved plan file (plan=data/08_reporting/...)")
        return value

    @field_validator("max_files", mode="before")
    @classmethod
    def _whole_number(cls, value: object) -> object:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError("must be a whole number from 1 upwards")
        return value

    @field_validator("max_reject_ratio", mode="before")
    @classmethod
    def _ratio(cls, value: object) -> object:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError("must be a number from 0 to 1")
        return float(value)


class RunParametersError(WorkDataHubError, ValueError):
    """A runtime parameter has the wrong type or value; the message names it."""


def _inbox_problem(inbox: str) -> str | None:
    """Why ``inbox`` cannot be searched, or None. Stops at the first file it finds."""
    root = Path(inbox)
    if not root.is_dir():
        return f"param 'inbox': folder {inbox!r} does not exist or is not a folder"
    if next((path for path in root.rglob("*") if path.is_file()), None) is None:
        return f"param 'inbox': folder {inbox!r} holds no files, so no domain's pattern can match"
    return None


def check_run_parameters(
    params: dict[str, Any], *, inbox_must_hold_files: bool = False
) -> RunParameters:
    """Validate ``execute``, ``max_files``, ``inbox`` and ``max_reject_ratio`` with clear messages.

    With ``inbox_must_hold_files`` (the run's start) a missing or empty inbox is refused too,
    together with any other bad parameter, before any file is read.
    """
    problems: list[str] = []
    checked: RunParameters | None = None
    try:
        checked = RunParameters.model_validate(params)
    except ValidationError as exc:
        problems = [
            f"param '{'.'.join(str(p) for p in problem['loc'])}': "
            f"{problem['msg'].removeprefix('Value error, ')} (got {problem.get('input')!r})"
            for problem in exc.errors()
        ]
    inbox = params.get("inbox")
    if inbox_must_hold_files and isinstance(inbox, str):
        inbox_problem = _inbox_problem(inbox)
        if inbox_problem:
            problems.append(inbox_problem)
    if problems or checked is None:
        raise RunParametersError(
            "Invalid runtime parameters:\n  "
            + "\n  ".join(problems)
            + "\n  e.g. kedro run --params execute=true,max_files=3,inbox=data/01_raw"
        ) from None
    return checked
