"""The runtime parameters (``kedro run --params ...``), checked before any file is read.

:class:`RunParameters` is the one place a runtime parameter is declared: its name, type,
default and meaning (the field's ``description``). The strict name check, the boolean check of
the command line's text, ``kedro run --help`` and the run report all read it from there, so
adding a parameter is one field here (and its default in ``conf/base/parameters.yml``).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from work_data_hub.errors import WorkDataHubError
from work_data_hub.months import parse_periods

DEFAULT_INBOX = "data/01_raw"
_CHECK_NAME = re.compile(r"[a-z][a-z0-9_]*")


def accepted_names(value: str | Sequence[object] | None) -> tuple[str, ...]:
    """``accept_checks`` as check names: ``volume``, ``volume,coverage`` or a list."""
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else [str(item) for item in value]
    return tuple(dict.fromkeys(item.strip() for item in items if item.strip()))


BOOLEAN_TEXTS = {"true": True, "false": False}


class RunParameters(BaseModel):
    """The runtime parameters (``kedro run --params ...``), checked before any file is read."""

    model_config = ConfigDict(extra="ignore", frozen=True, strict=True)

    execute: bool = Field(
        default=False,
        description="apply the load to PostgreSQL in one transaction; false only writes the plan",
    )
    # None: not given, so the newest period (1) unless `periods` names the months.
    max_files: Annotated[int, Field(ge=1)] | None = Field(
        default=None,
        description="the newest N periods read per domain",
        json_schema_extra={"shown_default": "1"},
    )
    inbox: str = Field(
        default=DEFAULT_INBOX,
        description="the folder searched recursively for every domain's workbooks",
    )
    max_reject_ratio: Annotated[float, Field(ge=0, le=1)] = Field(
        default=0.0,
        description="share of rejected rows (0 to 1) an execute run still loads",
    )
    periods: tuple[str, ...] | None = Field(
        default=None,
        description="exactly these months of each domain: 2024-10, 2024-09..2024-11 or "
        "[2024-09,2024-11] (not with max_files)",
    )
    reload: bool = Field(
        default=False,
        description="load selected files again even if the ledger says they are loaded",
    )
    diff: bool = Field(
        default=False,
        description="plan-only runs: read the warehouse (read-only) and report what would change",
    )
    plan: str | None = Field(
        default=None,
        description="apply_plan: the saved plan file to check (and, with execute=true, apply)",
    )
    force: bool = Field(
        default=False,
        description="apply_plan and undo: apply a plan even if a newer load made it stale",
    )
    run: str | None = Field(
        default=None,
        description="undo: the run id (wdh_loads.run_id) of the load to undo",
    )
    domain: str | None = Field(
        default=None,
        description="undo: which domain's load to undo, when the run loaded several",
    )
    accept_checks: tuple[str, ...] | None = Field(
        default=None,
        description="business checks whose error verdict this run accepts "
        "(accept_checks=volume or [volume,coverage]); recorded in the plan and the ledger",
    )

    @field_validator("accept_checks", mode="before")
    @classmethod
    def _check_names(cls, value: object) -> object:
        names = accepted_names(value)  # type: ignore[arg-type]
        bad = [name for name in names if not _CHECK_NAME.fullmatch(name)]
        if bad or not isinstance(value, str | list | tuple | type(None)):
            raise ValueError(
                "must name business checks of data_sources.yml, as accept_checks=volume or "
                "accept_checks=[volume,coverage]"
            )
        return names or None

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

    @field_validator("run", "domain", mode="before")
    @classmethod
    def _name(cls, value: object) -> object:
        # The command line turns an all-digit run id into a number: it is still the run id.
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise ValueError("must be a name, as in --params run=<run id from wdh_loads>")
        return value

    @field_validator("max_files", mode="before")
    @classmethod
    def _whole_number(cls, value: object) -> object:
        if value is None:
            return value
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError("must be a whole number from 1 upwards")
        return value

    @field_validator("periods", mode="before")
    @classmethod
    def _months(cls, value: object) -> object:
        return None if value is None else parse_periods(value)

    @model_validator(mode="after")
    def _one_selection(self) -> RunParameters:
        if self.max_files is not None and self.periods is not None:
            raise ValueError(
                "give either max_files (the newest N periods) or periods (exactly these "
                f"months), not both (got max_files={self.max_files}, "
                f"periods={','.join(self.periods)})"
            )
        return self

    @property
    def newest_periods(self) -> int:
        """How many of the newest periods a run without ``periods`` reads."""
        return self.max_files or 1

    @field_validator("max_reject_ratio", mode="before")
    @classmethod
    def _ratio(cls, value: object) -> object:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError("must be a number from 0 to 1")
        return float(value)


class RunParametersError(WorkDataHubError, ValueError):
    """A runtime parameter has the wrong type or value; the message names it.

    Args:
        message: Every problem, one a line.
        problems: The same problems as a list (each names its parameter).
    """

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message, problems=list(problems) if problems is not None else [message])

    @property
    def problems(self) -> list[str]:
        return list(self.fields["problems"])


def run_parameter_names() -> tuple[str, ...]:
    """Every runtime parameter, in declaration order."""
    return tuple(RunParameters.model_fields)


def boolean_parameter_names() -> frozenset[str]:
    """The runtime parameters that take ``true`` or ``false``."""
    return frozenset(
        name for name, field in RunParameters.model_fields.items() if field.annotation is bool
    )


def describe_run_parameters() -> list[tuple[str, str, str]]:
    """(name, default as typed on the command line, meaning) for each runtime parameter."""
    rows = []
    for name, field in RunParameters.model_fields.items():
        default = field.default
        extra = field.json_schema_extra
        if isinstance(extra, dict) and "shown_default" in extra:
            shown = str(extra["shown_default"])
        elif default is None:
            shown = "(none)"
        else:
            shown = str(default).lower() if isinstance(default, bool) else str(default)
        rows.append((name, shown, field.description or ""))
    return rows


def _unknown_name_problem(name: str) -> str:
    valid = run_parameter_names()
    close = difflib.get_close_matches(name, valid, n=1, cutoff=0.6)
    hint = f" did you mean '{close[0]}'?" if close else ""
    return f"param {name!r} is not a runtime parameter;{hint} Valid params: {', '.join(valid)}"


def _name_problems(names: Iterable[str]) -> list[str]:
    return [_unknown_name_problem(name) for name in names if name not in RunParameters.model_fields]


def _boolean_text_problems(texts: Mapping[str, str]) -> list[str]:
    return [
        f"param '{name}': must be true or false (as in --params {name}=true) (got {text!r})"
        for name, text in texts.items()
        if name in boolean_parameter_names() and text.strip().lower() not in BOOLEAN_TEXTS
    ]


def check_parameter_names(names: Iterable[str]) -> None:
    """Refuse any name that is not a runtime parameter, suggesting the closest one.

    Args:
        names: The parameter names given.

    Raises:
        RunParametersError: A name is not a runtime parameter.
    """
    problems = _name_problems(names)
    if problems:
        raise RunParametersError(_message(problems), problems)


def check_command_line_params(texts: Mapping[str, str], parsed: Mapping[str, Any]) -> None:
    """Check ``--params`` as typed (``texts``) and as Kedro parsed it; every problem at once.

    Booleans are checked on the text: Kedro's ``--params`` parser reads ``yes`` and ``on`` as
    true, so after it the difference is gone. An inbox given here must exist and hold files.

    Args:
        texts: ``--params`` as typed, name to text.
        parsed: The same, as Kedro's parser read them.

    Raises:
        RunParametersError: Every unknown name, malformed boolean and bad value at once.
    """
    problems = _name_problems(texts) + _boolean_text_problems(texts)
    given = {
        name: value
        for name, value in parsed.items()
        if name in RunParameters.model_fields and not any(f"'{name}'" in p for p in problems)
    }
    problems += _value_problems(given, inbox_must_hold_files=True)[1]
    if problems:
        raise RunParametersError(_message(problems), problems)


def _message(problems: list[str]) -> str:
    return (
        "Invalid runtime parameters:\n  "
        + "\n  ".join(problems)
        + f"\n  e.g. kedro run --params execute=true,max_files=3,inbox={DEFAULT_INBOX}"
        + "\n  (kedro run --help lists every runtime parameter)"
    )


def _inbox_problem(inbox: str) -> str | None:
    """Why ``inbox`` cannot be searched, or None. Stops at the first file it finds."""
    root = Path(inbox)
    if not root.is_dir():
        return f"param 'inbox': folder {inbox!r} does not exist or is not a folder"
    # Hidden files (the skeleton's .gitkeep) are never workbooks: discovery skips them too.
    visible = (p for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))
    if next(visible, None) is None:
        return (
            f"param 'inbox': folder {inbox!r} holds no files, so no domain's pattern can match"
            f" (the shipped sample: `uv run python scripts/make_sample_inbox.py --inbox {inbox}`)"
        )
    return None


def _problem_text(problem: Any) -> str:
    message = problem["msg"].removeprefix("Value error, ")
    if not problem["loc"]:  # a rule across params (max_files with periods) names its values
        return f"params: {message}"
    name = ".".join(str(part) for part in problem["loc"])
    return f"param '{name}': {message} (got {problem.get('input')!r})"


def _value_problems(
    params: Mapping[str, Any], *, inbox_must_hold_files: bool
) -> tuple[RunParameters | None, list[str]]:
    problems: list[str] = []
    checked: RunParameters | None = None
    try:
        checked = RunParameters.model_validate(dict(params))
    except ValidationError as exc:
        problems = [_problem_text(problem) for problem in exc.errors()]
    inbox = params.get("inbox")
    if inbox_must_hold_files and isinstance(inbox, str):
        inbox_problem = _inbox_problem(inbox)
        if inbox_problem:
            problems.append(inbox_problem)
    return checked, problems


def check_run_parameters(
    params: dict[str, Any], *, inbox_must_hold_files: bool = False
) -> RunParameters:
    """Validate the runtime parameters with clear messages.

    With ``inbox_must_hold_files`` (the run's start) a missing or empty inbox is refused too,
    together with any other bad parameter, before any file is read.

    Args:
        params: The runtime parameters, name to value.
        inbox_must_hold_files: Refuse a missing or empty inbox too.

    Raises:
        RunParametersError: Every bad parameter at once.
    """
    checked, problems = _value_problems(params, inbox_must_hold_files=inbox_must_hold_files)
    if problems or checked is None:
        raise RunParametersError(_message(problems), problems) from None
    return checked
