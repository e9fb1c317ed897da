"""The business checks a domain may declare under ``checks:`` (declarations only, no polars).

A delivery can be valid cell by cell and still wrong as a whole: a month with 2 rows where the
warehouse holds 14, a correction that lost a group, a row whose amounts do not add up, a total
row the rows do not reach. Each kind is declared here once: its name, its options model, and
where it is evaluated (``rows``: per row while cleaning, a broken row is a reject; ``sheet``:
against a sheet's total row; ``delivery``: over the delivered rows and, read-only, the
warehouse). The implementations live in :mod:`work_data_hub.cleaning.checks` (rows and sheets)
and :mod:`work_data_hub.load.business_checks` (the SQL a plan carries).

In ``data_sources.yml`` a check is its kind's name, its ``severity`` (``error`` refuses the
load unless ``accept_checks=<name>`` accepts it; ``warn`` reports) and its options::

    checks:
      volume: {severity: error, max_drop: 0.5}
      identity:
        severity: warn
        left: 期末资产规模
        right: 期初资产规模 + 供款 - 流失_含待遇支付 + 投资收益
        tolerance: 0.01
"""

from __future__ import annotations

import ast
import difflib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, TypeVar

from pydantic import ConfigDict, Field, ValidationError, model_validator

from work_data_hub.config import checks as registry

Severity = Literal["error", "warn"]
Evaluated = Literal["rows", "sheet", "delivery"]
SEVERITIES: tuple[str, ...] = ("error", "warn")
# The keys every check takes; any other key is an option of its kind.
CHECK_KEYS = ("severity",)
# A period is a month: the column holding it is a date (the first day of the month).
PERIOD_TYPE = "date"


class CheckOptions(registry.CheckOptions):
    """Base of every kind's options: unknown keys are errors, values are frozen."""

    def columns(self) -> list[tuple[str, str]]:
        """(option, column) for every column the options name, to check they are declared."""
        return []

    def numeric_columns(self) -> list[tuple[str, str]]:
        """The subset of :meth:`columns` that must be numeric."""
        return []


class VolumeOptions(CheckOptions):
    """Rows per delivered period against the warehouse's (the same period, else the newest
    earlier one): fewer than ``1 - max_drop`` or more than ``1 + max_growth`` times fails."""

    max_drop: float | None = Field(default=None, ge=0, le=1)
    max_growth: float | None = Field(default=None, ge=0)
    period: str | None = None

    @model_validator(mode="after")
    def _a_band(self) -> VolumeOptions:
        if self.max_drop is None and self.max_growth is None:
            raise ValueError("volume needs 'max_drop' or 'max_growth' (shares, e.g. 0.5)")
        return self

    def columns(self) -> list[tuple[str, str]]:
        return [("period", self.period)] if self.period else []


class CoverageOptions(CheckOptions):
    """Combinations of ``by`` the warehouse holds for a replaced period and the delivery lacks."""

    by: list[str] = Field(min_length=1)
    period: str | None = None

    def columns(self) -> list[tuple[str, str]]:
        named = [("by", column) for column in self.by]
        return named + ([("period", self.period)] if self.period else [])


class IdentityOptions(CheckOptions):
    """Per row: ``left`` equals ``right`` (arithmetic of numeric columns) within ``tolerance``."""

    left: str
    right: str
    tolerance: float = Field(default=0.0, ge=0)

    @model_validator(mode="after")
    def _expressions(self) -> IdentityOptions:
        for side in ("left", "right"):
            try:
                parse_expression(getattr(self, side))
            except ValueError as exc:
                raise ValueError(f"'{side}': {exc}") from None
        return self

    @property
    def expressions(self) -> tuple[Expression, Expression]:
        return parse_expression(self.left), parse_expression(self.right)

    @property
    def text(self) -> str:
        return f"{' '.join(self.left.split())} = {' '.join(self.right.split())}"

    def columns(self) -> list[tuple[str, str]]:
        left, right = self.expressions
        return [("left", name) for name in left.names] + [("right", n) for n in right.names]

    def numeric_columns(self) -> list[tuple[str, str]]:
        return self.columns()


class ContinuityOptions(CheckOptions):
    """Per key (``by``): ``opening`` of period M equals ``closing`` of M-1 within tolerance."""

    by: list[str] = Field(min_length=1)
    opening: str
    closing: str
    tolerance: float = Field(default=0.0, ge=0)
    period: str | None = None

    def columns(self) -> list[tuple[str, str]]:
        named = [("by", column) for column in self.by]
        named += [("opening", self.opening), ("closing", self.closing)]
        return named + ([("period", self.period)] if self.period else [])

    def numeric_columns(self) -> list[tuple[str, str]]:
        return [("opening", self.opening), ("closing", self.closing)]


class TotalRowOptions(CheckOptions):
    """A total row's cells (合计/总计/小计) equal the sums of the rows read, within tolerance."""

    columns_: list[str] = Field(alias="columns", min_length=1)
    tolerance: float = Field(default=0.0, ge=0)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    def columns(self) -> list[tuple[str, str]]:
        return [("columns", column) for column in self.columns_]

    def numeric_columns(self) -> list[tuple[str, str]]:
        return self.columns()


@dataclass(frozen=True)
class CheckKind:
    """One kind of check: its options model, where it is evaluated, whether it needs a period.

    Each is also declared in the check registry (:mod:`work_data_hub.config.checks`), whose
    guard runs its SELECT inside the plan after the COPY (``business_check``) and which
    ``accept_checks=<name>`` overrides; the severity there is the domain's own.
    """

    name: str
    options: type[CheckOptions]
    evaluated: Evaluated
    needs_period: bool
    summary: str


CHECK_KINDS: dict[str, CheckKind] = {}


def declare_check_kind(kind: CheckKind) -> CheckKind:
    if kind.name in CHECK_KINDS:
        raise ValueError(f"check kind {kind.name!r} is declared twice")
    CHECK_KINDS[kind.name] = kind
    registry.declare_check(
        registry.CheckDeclaration(
            name=kind.name,
            reads="warehouse" if kind.evaluated == "delivery" else "delivery",
            hint=f"Review the delivery; if it is right, load it with accept_checks={kind.name} "
            "(recorded in the plan and the ledger).",
            override=registry.ACCEPT_CHECKS,
            guard_step="business_check",
            options=kind.options,
        )
    )
    return kind


VOLUME = declare_check_kind(
    CheckKind("volume", VolumeOptions, "delivery", True, "rows per period within a band")
)
COVERAGE = declare_check_kind(
    CheckKind("coverage", CoverageOptions, "delivery", True, "no group of a period lost")
)
CONTINUITY = declare_check_kind(
    CheckKind("continuity", ContinuityOptions, "delivery", True, "opening = previous closing")
)
IDENTITY = declare_check_kind(
    CheckKind("identity", IdentityOptions, "rows", False, "an arithmetic identity per row")
)
TOTAL_ROW = declare_check_kind(
    CheckKind("total_row", TotalRowOptions, "sheet", False, "the total row equals the sums")
)

OptionsT = TypeVar("OptionsT", bound=CheckOptions)
T = TypeVar("T")


@dataclass(frozen=True)
class BusinessCheck:
    """One declared check of a domain, validated; ``period`` resolved for the kinds needing it."""

    name: str
    kind: str
    severity: Severity
    options: CheckOptions
    period: str | None = None

    def options_as(self, model: type[OptionsT]) -> OptionsT:
        if not isinstance(self.options, model):
            raise TypeError(f"check {self.name!r} is a {self.kind} check")
        return self.options


Status = Literal["passed", "failed", "warned", "accepted", "not_evaluated"]
# The statuses a check's violations can take, by severity (and whether a person accepted it).
BROKEN_STATUS: dict[str, Status] = {"error": "failed", "warn": "warned"}


@dataclass(frozen=True)
class BusinessCheckResult:
    """What evaluating one check found (over a file, the delivery or the warehouse).

    ``numbers`` are JSON-ready facts (counts, sums, differences); ``details`` one line per
    violation (a key, a row), for the report; ``message`` the one line a console shows.
    """

    name: str
    kind: str
    severity: Severity
    status: Status
    message: str
    periods: tuple[str, ...] = ()
    numbers: Mapping[str, Any] = field(default_factory=dict)
    details: tuple[str, ...] = ()
    # Evaluated against the warehouse (read-only, or inside the plan's transaction): evaluated
    # again whenever the warehouse is read.
    reads_warehouse: bool = False

    @property
    def refuses(self) -> bool:
        return self.status == "failed"

    def accepted(self) -> BusinessCheckResult:
        """This failed result as a person accepted it (``accept_checks=<name>``)."""
        return replace(self, status="accepted") if self.status == "failed" else self

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "severity": self.severity,
            "status": self.status,
            "periods": list(self.periods),
            "numbers": dict(self.numbers),
            "message": self.message,
            "details": list(self.details),
            "reads_warehouse": self.reads_warehouse,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BusinessCheckResult:
        return cls(
            name=str(data["name"]),
            kind=str(data["kind"]),
            severity=data["severity"],
            status=data["status"],
            message=str(data["message"]),
            periods=tuple(data.get("periods") or ()),
            numbers=dict(data.get("numbers") or {}),
            details=tuple(data.get("details") or ()),
            reads_warehouse=bool(data.get("reads_warehouse", False)),
        )


_RANK = {"passed": 0, "not_evaluated": 1, "warned": 2, "accepted": 3, "failed": 4}


def merged(results: Sequence[BusinessCheckResult]) -> list[BusinessCheckResult]:
    """One result per check: the results of its files (a sheet each) folded together.

    The worst status wins; the messages of the files that broke it are joined.
    """
    groups: dict[str, list[BusinessCheckResult]] = {}
    for result in results:
        groups.setdefault(result.name, []).append(result)
    folded = []
    for parts in groups.values():
        if len(parts) == 1:
            folded.append(parts[0])
            continue
        worst = max(parts, key=lambda part: _RANK[part.status])
        shown = [part for part in parts if part.status == worst.status]
        folded.append(
            replace(
                worst,
                message="; ".join(part.message for part in shown),
                periods=tuple(sorted({p for part in parts for p in part.periods})),
                numbers={"parts": [dict(part.numbers) for part in parts]},
                details=tuple(d for part in parts for d in part.details),
            )
        )
    return folded


def broken(check: BusinessCheck, message: str, **facts: Any) -> BusinessCheckResult:
    """A violation of ``check`` (failed or warned by its severity)."""
    return BusinessCheckResult(
        check.name, check.kind, check.severity, BROKEN_STATUS[check.severity], message, **facts
    )


def held(check: BusinessCheck, message: str, **facts: Any) -> BusinessCheckResult:
    """``check`` held."""
    return BusinessCheckResult(check.name, check.kind, check.severity, "passed", message, **facts)


def not_evaluated(check: BusinessCheck, message: str, **facts: Any) -> BusinessCheckResult:
    return BusinessCheckResult(
        check.name, check.kind, check.severity, "not_evaluated", message, **facts
    )


# --- arithmetic expressions -----------------------------------------------------------------

_OPERATORS: dict[type[ast.operator], str] = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
}


@dataclass(frozen=True)
class Expression:
    """An arithmetic expression of column names and numbers: ``+ - * /`` and parentheses.

    ``operator`` is None for a leaf: a column ``name`` or a ``number`` (its text).
    """

    operator: str | None = None
    operands: tuple[Expression, ...] = ()
    name: str | None = None
    number: str | None = None

    @property
    def names(self) -> list[str]:
        if self.name is not None:
            return [self.name]
        return list(dict.fromkeys(n for operand in self.operands for n in operand.names))

    def fold(
        self,
        column: Callable[[str], T],
        number: Callable[[str], T],
        apply: Callable[[str, list[T]], T],
    ) -> T:
        """The expression built bottom-up: ``column(name)``, ``number(text)``, ``apply(op, xs)``."""
        if self.name is not None:
            return column(self.name)
        if self.number is not None:
            return number(self.number)
        assert self.operator is not None
        return apply(self.operator, [o.fold(column, number, apply) for o in self.operands])


def parse_expression(text: str) -> Expression:
    """Parse ``text`` with Python's parser, keeping only names, numbers, ``+ - * /``, ``()``.

    Never evaluated by Python: the tree is rebuilt as an :class:`Expression`.
    """
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError:
        raise ValueError(f"{text!r} is not an arithmetic expression of column names") from None
    return _expression(tree.body, text)


def _expression(node: ast.AST, text: str) -> Expression:
    if isinstance(node, ast.Name):
        return Expression(name=node.id)
    if (
        isinstance(node, ast.Constant)
        and isinstance(node.value, int | float)
        and not isinstance(node.value, bool)
    ):
        return Expression(number=repr(node.value))
    if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
        return Expression(
            operator=_OPERATORS[type(node.op)],
            operands=(_expression(node.left, text), _expression(node.right, text)),
        )
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        sign = "-" if isinstance(node.op, ast.USub) else "+"
        return Expression(
            operator=sign, operands=(Expression(number="0"), _expression(node.operand, text))
        )
    raise ValueError(
        f"{text!r}: only column names, numbers, + - * / and parentheses are allowed "
        f"(found {ast.unparse(node)!r})"
    )


# --- validation -----------------------------------------------------------------------------


def _unknown_key(key: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(key, list(known), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"unknown key{hint} (allowed here: {', '.join(known)})"


def _option_keys(kind: CheckKind) -> list[str]:
    return sorted(field.alias or name for name, field in kind.options.model_fields.items())


def _period_column(
    options: CheckOptions, columns: Mapping[str, Any], refresh_scope: Sequence[str]
) -> str | None:
    """The declared ``period``, else the one date column of the refresh scope, else of all."""
    given = getattr(options, "period", None)
    if given:
        return str(given)
    for candidates in (list(refresh_scope), list(columns)):
        dates = [name for name in candidates if _type_of(columns.get(name)) == PERIOD_TYPE]
        if len(dates) == 1:
            return dates[0]
    return None


def _type_of(spec: Any) -> str:
    raw = spec.get("type", "text") if isinstance(spec, dict) else getattr(spec, "type", "text")
    return str(raw).replace(" ", "").lower()


def _parse_one(
    name: str, body: Any, columns: Mapping[str, Any] | None, refresh_scope: Sequence[str]
) -> tuple[BusinessCheck | None, list[tuple[str, str]]]:
    key = f"checks.{name}"
    kind = CHECK_KINDS.get(name)
    if kind is None:
        close = difflib.get_close_matches(name, list(CHECK_KINDS), n=1)
        hint = f" did you mean {close[0]!r}?" if close else ""
        return None, [(key, f"unknown check;{hint} the checks are {', '.join(CHECK_KINDS)}")]
    if not isinstance(body, dict):
        return None, [(key, "expected a mapping of the check's severity and options")]
    problems: list[tuple[str, str]] = []
    severity = body.get("severity", "error")
    if severity not in SEVERITIES:
        problems.append((f"{key}.severity", f"must be error or warn (got {severity!r})"))
    raw_options = {k: v for k, v in body.items() if k not in CHECK_KEYS}
    try:
        options = kind.options.model_validate(raw_options)
    except ValidationError as exc:
        return None, problems + _option_problems(key, kind, exc)
    if columns is None:
        return None, problems  # the columns themselves are invalid: reported on their key
    problems += _column_problems(key, options, columns)
    period = _period_column(options, columns, refresh_scope) if kind.needs_period else None
    if kind.needs_period:
        problems += _period_problems(key, kind, period, columns)
    if problems:
        return None, problems
    return BusinessCheck(name, kind.name, severity, options, period), []


def _option_problems(key: str, kind: CheckKind, error: ValidationError) -> list[tuple[str, str]]:
    problems = []
    for problem in error.errors():
        location = ".".join(str(part) for part in problem["loc"])
        where = f"{key}.{location}" if location else key
        if problem["type"] == "extra_forbidden":
            known = [*CHECK_KEYS, *_option_keys(kind)]
            unknown = _unknown_key(str(problem["loc"][-1]), known)
            message = f"{unknown}: not an option of {kind.name}"
        elif problem["type"] == "missing":
            message = f"check {kind.name} needs '{location}:'"
        else:
            message = str(problem["msg"]).removeprefix("Value error, ")
            if problem["type"] != "value_error":
                message += f" (got {problem.get('input')!r})"
        problems.append((where, message))
    return problems


def _column_problems(
    key: str, options: CheckOptions, columns: Mapping[str, Any]
) -> list[tuple[str, str]]:
    problems = [
        (f"{key}.{option}", f"{column!r} is not among the declared columns {sorted(columns)}")
        for option, column in options.columns()
        if column not in columns
    ]
    for option, column in options.numeric_columns():
        kind = _type_of(columns.get(column))
        if column in columns and not kind.startswith(("numeric", "integer")):
            problems.append((f"{key}.{option}", f"column {column!r} is {kind}, not numeric"))
    return problems


def _period_problems(
    key: str, kind: CheckKind, period: str | None, columns: Mapping[str, Any]
) -> list[tuple[str, str]]:
    if period is None:
        return [
            (
                key,
                f"check {kind.name} compares periods: name the month column with "
                "'period: <date column>' (the domain has no single date column)",
            )
        ]
    if period in columns and _type_of(columns[period]) != PERIOD_TYPE:
        return [(f"{key}.period", f"column {period!r} is not a date column")]
    return []


def check_problems(
    raw: Any, columns: Mapping[str, Any] | None, refresh_scope: Sequence[str] = ()
) -> list[tuple[str, str]]:
    """Every problem of a domain's ``checks:`` as ``(key, message)``; none when it is valid."""
    if raw is None:
        return []
    if not isinstance(raw, dict):
        return [("checks", "must map each check's name to its kind, severity and options")]
    problems: list[tuple[str, str]] = []
    for name, body in raw.items():
        problems += _parse_one(str(name), body, columns, refresh_scope)[1]
    return problems


def parse_checks(
    raw: Mapping[str, Any] | None, columns: Mapping[str, Any], refresh_scope: Sequence[str] = ()
) -> tuple[BusinessCheck, ...]:
    """The validated checks of a domain (its declaration was validated by check_problems)."""
    checks = []
    for name, body in (raw or {}).items():
        check, problems = _parse_one(str(name), body, columns, refresh_scope)
        if check is None:
            raise ValueError("; ".join(f"key '{key}': {message}" for key, message in problems))
        checks.append(check)
    return tuple(checks)


def domain_check_names(domain: Any) -> list[str]:
    """The names of a domain's declared checks (what ``accept_checks`` may name)."""
    return [check.name for check in domain.business_checks]


__all__ = [
    "CHECK_KINDS",
    "BusinessCheck",
    "BusinessCheckResult",
    "CheckKind",
    "CheckOptions",
    "ContinuityOptions",
    "CoverageOptions",
    "Expression",
    "IdentityOptions",
    "TotalRowOptions",
    "VolumeOptions",
    "check_problems",
    "parse_checks",
    "parse_expression",
]
