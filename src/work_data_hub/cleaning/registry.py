"""The cleaning rules, each declared once: name, options model, the types it yields, function.

``data_sources.yml`` names a rule on a column (``rule: code``) and spells its options flat
beside it (``remove: "-_ "``); :class:`~work_data_hub.config.domains.ColumnSpec` validates
those options against the rule's model here, so an unknown rule, an unknown option or one the
rule does not use is a config error naming domain, column and option. The engine finds a rule
only here, so a rule without a function cannot exist.

To add a rule: an options model (a :class:`RuleOptions` subclass, empty if it has none) and a
function decorated with :func:`register_rule`, taking a :class:`RuleInput` and the options and
returning a :class:`~work_data_hub.cleaning.rules.RuleResult` built from polars column
operations (no Python code per cell); then its test in ``tests/cleaning/test_registry.py``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import polars as pl

from work_data_hub.cleaning import rules
from work_data_hub.cleaning.rules import RuleResult
from work_data_hub.config.rules import (
    DEFAULT_RULE_FOR_TYPE,
    MAPPINGS_CONTEXT,
    RULE_DECLARATIONS,
    RULE_TAG,
    CodeOptions,
    CopyOptions,
    DecimalOptions,
    MappingOptions,
    NoOptions,
    RuleOptions,
    TextOptions,
    type_kind,
)


@dataclass(frozen=True)
class RuleInput:
    """What a rule sees of one sheet: its source cells as text, or the column it reads."""

    cells: tuple[pl.Series, ...]
    origin: pl.Series | None
    today: dt.date
    column_type: str

    @property
    def rows(self) -> int:
        source = self.cells[0] if self.cells else self.origin
        return 0 if source is None else len(source)

    @property
    def precision_scale(self) -> tuple[int, int]:
        match = re.fullmatch(r"numeric\((\d+),(\d+)\)", self.column_type)
        return (int(match.group(1)), int(match.group(2))) if match else (1000, 0)


OptionsT = TypeVar("OptionsT", bound=RuleOptions)


@dataclass(frozen=True)
class Rule(Generic[OptionsT]):
    """One registered rule.

    ``cells``: how many source headers it reads (0: it reads another column, named by ``from``);
    ``types``: the column type kinds it yields (``date``, ``text``, ``integer``, ``numeric``),
    or None when it yields the type of the column it reads.
    """

    name: str
    options: type[OptionsT]
    function: Callable[[RuleInput, OptionsT], RuleResult]
    cells: int
    types: frozenset[str] | None
    summary: str

    @property
    def reads_column(self) -> bool:
        return self.cells == 0

    def apply(self, given: RuleInput, options: RuleOptions) -> RuleResult:
        if not isinstance(options, self.options):
            raise TypeError(f"rule {self.name} takes {self.options.__name__}, not {options!r}")
        return self.function(given, options)


RULES: dict[str, Rule[Any]] = {}


def register_rule(
    name: str,
) -> Callable[[Callable[[RuleInput, Any], RuleResult]], Callable[[RuleInput, Any], RuleResult]]:
    """Register ``function`` as the declared rule ``name``; its docstring's first line is its
    summary. An undeclared name, or one registered twice, is an error."""
    declaration = RULE_DECLARATIONS.get(name)
    if declaration is None:
        raise ValueError(f"rule {name!r} is not declared in work_data_hub.config.rules")

    def register(
        function: Callable[[RuleInput, Any], RuleResult],
    ) -> Callable[[RuleInput, Any], RuleResult]:
        if name in RULES:
            raise ValueError(f"rule {name!r} is registered twice")
        summary = (function.__doc__ or "").strip().splitlines()[0] if function.__doc__ else ""
        RULES[name] = Rule(
            name, declaration.options, function, declaration.cells, declaration.types, summary
        )
        return function

    return register


def run_rule(
    name: str,
    *cells: pl.Series,
    today: dt.date | None = None,
    column_type: str | None = None,
    origin: pl.Series | None = None,
    context: Mapping[str, Any] | None = None,
    **options: Any,
) -> RuleResult:
    """Apply rule ``name`` with ``options`` spelled as in YAML (for tests and notebooks)."""
    rule = RULES[name]
    validated = rule.options.model_validate(options, context=dict(context or {}))
    kind = next(iter(sorted(rule.types))) if rule.types else "text"
    default_type = {"numeric": "numeric(1000,0)"}.get(kind, kind)
    given = RuleInput(
        tuple(cell.cast(pl.String) for cell in cells),
        origin,
        today or dt.date.today(),
        column_type or default_type,
    )
    return rule.apply(given, validated)


# --- periods --------------------------------------------------------------------------------


@register_rule("year_month")
def year_month(given: RuleInput, options: NoOptions) -> RuleResult:
    """First day of (year, month) from two cells: ``2024``/``2024年``/``2024.0`` and ``11``/``11月``."""
    year_cells, month_cells = given.cells
    years = rules.normalised(year_cells).str.extract(r"^([0-9]{4})(?:\.0+)?年?$", 1)
    months = rules.normalised(month_cells).str.extract(r"^([0-9]{1,2})(?:\.0+)?月?$", 1)
    both = year_cells.is_not_null() & month_cells.is_not_null()
    either = year_cells.is_not_null() | month_cells.is_not_null()
    result = rules.check_period(
        both,
        years.cast(pl.Int64, strict=False),
        months.cast(pl.Int64, strict=False),
        given.today,
        "year or month is not a number",
    )
    errors = rules.coalesce_reasons(
        rules.first_reason((either & ~both, "year and month must both be given")), result.errors
    )
    return RuleResult(result.values, errors)


_MONTH_SPELLINGS = (
    r"^(?P<year>[0-9]{4})(?P<month>[0-9]{2})(?:[0-9]{2})?$",
    r"^(?P<year>[0-9]{4})[-/.](?P<month>[0-9]{1,2})(?:[-/.][0-9]{1,2})?"
    r"(?:[ T][0-9]{1,2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?)?$",
    r"^(?P<year>[0-9]{2}|[0-9]{4})年(?P<month>[0-9]{1,2})月(?:[0-9]{1,2}日)?$",
)
# Excel keeps a 月度 typed 2024.10 as the number 2024.1: January or October cannot be told.
_AMBIGUOUS_MONTH = r"^[0-9]{4}\.1$"
_EXCEL_EPOCH = dt.date(1899, 12, 30)


@register_rule("month_date")
def month_date(given: RuleInput, options: NoOptions) -> RuleResult:
    """First day of the month from ``202411``, ``2024-11(-15)``, ``2024年11月``, ``24年11月``, Excel dates."""
    (cells,) = given.cells
    text = rules.normalised(cells).str.replace_all(f"[{rules.WHITESPACE_CLASS}]+", " ")
    frame = pl.DataFrame({"t": text})
    year = pl.lit(None, dtype=pl.Int64)
    month = pl.lit(None, dtype=pl.Int64)
    found = pl.lit(False)
    for spelling in _MONTH_SPELLINGS:
        parts = pl.col("t").str.extract_groups(spelling)
        hit = parts.struct.field("year").is_not_null() & ~found
        year = pl.when(hit).then(parts.struct.field("year").cast(pl.Int64)).otherwise(year)
        month = pl.when(hit).then(parts.struct.field("month").cast(pl.Int64)).otherwise(month)
        found = found | hit
        frame = frame.with_columns(year.alias("year"), month.alias("month"), found.alias("found"))
        year, month, found = pl.col("year"), pl.col("month"), pl.col("found")
    frame = frame.with_columns(
        ambiguous=pl.col("t").str.contains(_AMBIGUOUS_MONTH),
        serial=pl.when(~pl.col("found")).then(pl.col("t").cast(pl.Float64, strict=False)),
    )
    frame = frame.with_columns(
        is_serial=pl.col("serial").is_between(20000, 80000)
        & (pl.col("serial") == pl.col("serial").floor())
    )
    frame = frame.with_columns(
        stamp=pl.when(pl.col("is_serial")).then(
            pl.lit(_EXCEL_EPOCH) + pl.duration(days=pl.col("serial").cast(pl.Int64))
        )
    )
    frame = frame.with_columns(
        year=pl.when(pl.col("ambiguous"))
        .then(None)
        .when(pl.col("is_serial"))
        .then(pl.col("stamp").dt.year().cast(pl.Int64))
        .when(pl.col("year") < 100)
        .then(pl.col("year") + 2000)
        .otherwise(pl.col("year")),
        month=pl.when(pl.col("is_serial"))
        .then(pl.col("stamp").dt.month().cast(pl.Int64))
        .otherwise(pl.col("month")),
    )
    present = cells.is_not_null()
    result = rules.check_period(
        present, frame["year"], frame["month"], given.today, "not a recognised month or date"
    )
    ambiguous = frame["ambiguous"].fill_null(False)
    reason = (
        "ambiguous month: Excel stores a typed 2024.10 as 2024.1, so it may be January or "
        "October; write the month as 2024-10 or 202410"
    )
    errors = rules.coalesce_reasons(
        rules.first_reason((present & ambiguous, reason)), result.errors
    )
    return RuleResult(result.values, errors)


_ISO_DATE = r"^([0-9]{4}-[0-9]{2}-[0-9]{2})(?:[ T]00:00(?::00(?:\.0+)?)?)?$"


@register_rule("date")
def date(given: RuleInput, options: NoOptions) -> RuleResult:
    """A calendar date: an Excel date cell or ISO text ``YYYY-MM-DD``; never the server's DateStyle."""
    (cells,) = given.cells
    day = rules.normalised(cells).str.extract(_ISO_DATE, 1)
    parsed = day.str.to_date("%Y-%m-%d", strict=False)
    present = cells.is_not_null()
    errors = rules.first_reason(
        (present & day.is_null(), "not a date: use an Excel date or YYYY-MM-DD"),
        (present & parsed.is_null(), "not a calendar date"),
    )
    return RuleResult(rules.where(day, present & errors.is_null()), errors)


# --- numbers --------------------------------------------------------------------------------


_INTEGER = r"^[+-]?[0-9]+(?:\.0*)?$"
_INTEGER_RANGE = (-(2**31), 2**31 - 1)


@register_rule("integer")
def integer(given: RuleInput, options: NoOptions) -> RuleResult:
    """A whole number from -2147483648 to 2147483647 (PostgreSQL integer)."""
    (cells,) = given.cells
    text = rules.normalised(cells)
    whole = text.str.contains(_INTEGER).fill_null(False)
    digits = text.str.extract(r"^([+-]?[0-9]+)", 1).str.replace(r"^([+-]?)0+([0-9])", "${1}${2}")
    value = rules.where(digits, whole & (digits.str.len_chars() <= 12)).cast(pl.Int64, strict=False)
    low, high = _INTEGER_RANGE
    present = cells.is_not_null()
    errors = rules.first_reason(
        (present & ~whole, "not a whole number"),
        (present & (value.is_null() | ~value.is_between(low, high)),
         f"outside the integer range ({low} to {high})"),
    )  # fmt: skip
    return RuleResult(rules.where(value.cast(pl.String), present & errors.is_null()), errors)


_CURRENCY_AND_SPACES = f"[¥￥${rules.WHITESPACE_CLASS}]"
# A comma is a thousands separator only between groups of three digits: `12,34` or `1,5` may be
# a decimal comma (as in much of Europe), so it is rejected, never read as 1234 or 15.
_THOUSANDS = r"^[+-]?[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]*)?%?$"
_AMBIGUOUS_COMMA = (
    "ambiguous comma: not between groups of three digits, so it may be a decimal comma; "
    "write the number with a decimal point (12.34) and no other commas"
)


# Most amount cells arrive as plain digits (the reader renders number cells so): they skip
# the cleaning of currency signs, separators and full-width forms.
_PLAIN_NUMBER = r"^[+-]?[0-9]+(?:\.[0-9]*)?$"


def _decimal(given: RuleInput, options: DecimalOptions, *, percent: bool) -> RuleResult:
    (cells,) = given.cells
    precision, scale = given.precision_scale
    plain = cells.str.contains(_PLAIN_NUMBER).fill_null(False)
    # Series.scatter writes in place: work on copies, never on the sheet's own cells.
    text = cells.clone()
    is_percent = rules.filled(False, len(cells), pl.Boolean)
    messy_rows = (~plain & cells.is_not_null()).arg_true()
    ambiguous = rules.filled(False, len(cells), pl.Boolean)
    if len(messy_rows):
        messy = rules.normalised(cells.gather(messy_rows)).str.replace_all(_CURRENCY_AND_SPACES, "")
        commas = messy.str.contains(",", literal=True) & ~messy.str.contains(_THOUSANDS)
        messy = messy.str.replace_all(",", "", literal=True)
        # Ambiguous only where the commas are all that stands between the text and a number.
        commas = commas & messy.str.strip_suffix("%").str.contains(rules.NUMBER)
        ambiguous = ambiguous.scatter(messy_rows, commas.fill_null(False))
        text = text.scatter(messy_rows, messy.str.strip_suffix("%"))
        is_percent = is_percent.scatter(messy_rows, messy.str.ends_with("%").fill_null(False))
    numeric = ~ambiguous & (plain | text.str.contains(rules.NUMBER).fill_null(False))
    text = rules.where(text, numeric)
    shifted = is_percent & percent
    # Exact digits only where the size is in doubt (many integer digits, an exponent) or the
    # point moves (a percentage): elsewhere the text is the value and it fits.
    integer_digits = (
        text.str.replace(r"^[+-]?0*", "")
        .str.find(r"[.eE]")
        .fill_null(text.str.replace(r"^[+-]?0*", "").str.len_chars())
    )
    careful = numeric & (
        shifted | text.str.contains("[eE]").fill_null(False) | (integer_digits >= precision - scale)
    )
    values = text.clone()
    too_large = rules.filled(False, len(text), pl.Boolean)
    exponent_too_large = rules.filled(False, len(text), pl.Boolean)
    careful_rows = careful.arg_true()
    if len(careful_rows):
        subset = text.gather(careful_rows)
        shift = rules.filled(-2, len(subset), pl.Int64)
        shift = rules.where(shift, shifted.gather(careful_rows)).fill_null(0)
        numbers = rules.parse_numbers(subset, shift)
        rendered = rules.render_numbers(numbers)
        if percent:
            moved = shifted.gather(careful_rows)
            rendered_or_text = pl.DataFrame({"r": rendered, "t": subset, "m": moved}).select(
                pl.when(pl.col("m")).then(pl.col("r")).otherwise(pl.col("t")).alias("r")
            )["r"]
            # The text as delivered (PostgreSQL reads `1e3` too); digits move for a percentage.
            values = values.scatter(careful_rows, rendered_or_text)
        too_large = too_large.scatter(careful_rows, rules.too_large(numbers, precision, scale))
        exponent_too_large = exponent_too_large.scatter(careful_rows, numbers.exponent_too_large)
    magnitude = rules.as_float(values)
    present = cells.is_not_null()
    size = f"too large for numeric({precision},{scale})"
    bounds: list[tuple[pl.Series, str]] = []
    if options.min is not None:
        below = magnitude <= options.min if options.min_exclusive else magnitude < options.min
        bounds.append((below, f"must be {'>' if options.min_exclusive else '>='} {options.min:g}"))
    if options.max is not None:
        bounds.append((magnitude > options.max, f"must be <= {options.max:g}"))
    errors = rules.first_reason(
        (present & ambiguous, _AMBIGUOUS_COMMA),
        (present & ~numeric, "not a number"),
        (present & exponent_too_large, size),
        *([] if percent else [(present & is_percent, "a percentage where an amount is expected")]),
        *[(present & condition, reason) for condition, reason in bounds],
        (present & too_large, size),
    )
    return RuleResult(rules.where(values, present & errors.is_null()), errors)


@register_rule("decimal")
def decimal(given: RuleInput, options: DecimalOptions) -> RuleResult:
    """An amount: thousands ``,``, white space and ``¥ ￥ $`` removed; within min/max and the column's digits."""
    return _decimal(given, options, percent=False)


@register_rule("rate")
def rate(given: RuleInput, options: DecimalOptions) -> RuleResult:
    """A rate: ``5.5%`` is 0.055, a bare number is already a fraction; as decimal otherwise."""
    return _decimal(given, options, percent=True)


# --- text -----------------------------------------------------------------------------------


_NON_ASCII_TO_ASCII = (
    "a character that is not ASCII would become ASCII (a full-width letter or digit such as "
    "Ｐ, or ß and ı, which upper-case to SS and I): the code would change; type it in ASCII"
)


@register_rule("code")
def code(given: RuleInput, options: CodeOptions) -> RuleResult:
    """A code: trimmed, upper-cased, ``remove``, ``strip_prefix``, ``replace``; never ``ß`` -> ``SS``.

    A character that is not ASCII and would become ASCII by upper-casing or full-width
    folding (``ß``, ``ı``, ``Ｐ``) rejects the cell: the code would be another code.
    """
    (cells,) = given.cells
    trimmed = rules.strip(cells)
    values = rules.normalised(cells)
    if options.upper:
        values = values.str.to_uppercase()
    # A code is an identifier: `ß01` must not become `SS01` (nor `Ｐ01` `P01`), which is
    # another code. Full-width folding and upper-casing may only change the ASCII characters.
    # White space is exempt: the full-width space is a space like any other.
    as_delivered = rules.ascii_part(trimmed.str.replace_all(r"\s", ""))
    if options.upper:
        as_delivered = as_delivered.str.to_uppercase()
    made_ascii = (rules.ascii_part(values.str.replace_all(r"\s", "")) != as_delivered).fill_null(
        False
    )
    if options.remove:
        removed = "".join(f"\\x{{{ord(character):x}}}" for character in options.remove)
        values = values.str.replace_all(f"[{removed}]", "")
    if options.strip_prefix:
        prefix = options.strip_prefix
        head = values.str.slice(0, len(prefix))
        # Case-insensitive for ASCII only: no other letter lower-cases onto the prefix.
        starts = (
            (head.str.to_lowercase() == prefix.lower()) & head.str.contains(r"^[\x00-\x7F]*$")
        ).fill_null(False)
        stripped = values.str.slice(len(prefix))
        values = pl.DataFrame({"v": values, "s": stripped, "k": starts}).select(
            pl.when(pl.col("k")).then(pl.col("s")).otherwise(pl.col("v")).alias("v")
        )["v"]
    if options.remove or options.strip_prefix:
        # "- 0" less its "-" is " 0": trim again, or a code is stored with a leading blank.
        values = rules.strip(values)
    if options.replace:
        values = values.replace(list(options.replace), list(options.replace.values()))
    values = rules.empty_as_null(values)
    present = cells.is_not_null()
    invalid = rules.filled(False, len(values), pl.Boolean)
    if options.allowed:
        try:
            fits = values.str.contains(f"^(?:{options.allowed})$")
        except pl.exceptions.ComputeError as exc:
            raise ValueError(
                f"'allowed' {options.allowed!r} is a Python regex that polars cannot run "
                f"(lookarounds and backreferences are not supported): {exc}"
            ) from exc
        invalid = values.is_not_null() & ~fits.fill_null(False)
    errors = rules.first_reason(
        (present & made_ascii, _NON_ASCII_TO_ASCII),
        (invalid, f"code has characters outside {options.allowed}"),
        (present & values.is_null(), "code is empty after cleaning"),
    )
    return RuleResult(rules.where(values, errors.is_null()), errors)


@register_rule("text")
def text(given: RuleInput, options: TextOptions) -> RuleResult:
    """Trimmed text; ``placeholders`` (case- and width-insensitive) become NULL."""
    (cells,) = given.cells
    values = rules.empty_as_null(rules.strip(cells))
    if options.placeholders:
        spellings = rules.half_width(pl.Series(options.placeholders, dtype=pl.String))
        spelled = rules.half_width(values).str.to_lowercase()
        placeholder = spelled.is_in(spellings.str.to_lowercase().implode()).fill_null(False)
        values = rules.where(values, ~placeholder)
    return RuleResult(values, rules.no_errors(len(values)))


@register_rule("mapping")
def mapping(given: RuleInput, options: MappingOptions) -> RuleResult:
    """The ``from`` column's clean value looked up in a table of mappings.yml; unknown -> NULL."""
    origin = _origin(given)
    table = options.table
    values = origin.replace_strict(
        list(table), list(table.values()), default=None, return_dtype=pl.String
    )
    return RuleResult(values, rules.no_errors(len(values)))


@register_rule("copy")
def copy(given: RuleInput, options: CopyOptions) -> RuleResult:
    """The ``from`` column's clean value, or with ``raw: true`` its cell as delivered."""
    origin = _origin(given)
    return RuleResult(origin.cast(pl.String), rules.no_errors(len(origin)))


def _origin(given: RuleInput) -> pl.Series:
    if given.origin is None:
        raise ValueError("a rule that reads another column was given no column")
    return given.origin


# --- the reference page -----------------------------------------------------------------------


def _option_line(name: str, info: Any) -> str:
    annotation = getattr(info.annotation, "__name__", None) or str(info.annotation)
    annotation = annotation.replace("typing.", "").replace("NoneType", "None")
    if info.is_required():
        return f"`{name}` ({annotation}, required)"
    default = info.get_default(call_default_factory=True)
    return f"`{name}` ({annotation}, default `{default!r}`)"


def describe_rules() -> str:
    """The registered rules as a Markdown table: the "Cleaning rules" section of the docs."""
    lines = [
        "| rule | reads | yields | options | what it does |",
        "|---|---|---|---|---|",
    ]
    for name in sorted(RULES):
        rule = RULES[name]
        reads = {0: "the column in `from`", 1: "one header", 2: "two headers"}[rule.cells]
        yields = ", ".join(sorted(rule.types)) if rule.types else "the type of `from`"
        options = [_option_line(option, info) for option, info in rule.options.model_fields.items()]
        summary = rule.summary.replace("``", "`").replace("|", "\\|")
        listed = ("; ".join(options) or "none").replace("|", "\\|")
        lines.append(f"| `{name}` | {reads} | {yields} | {listed} | {summary} |")
    defaults = ", ".join(f"{kind} → `{rule}`" for kind, rule in DEFAULT_RULE_FOR_TYPE.items())
    lines += ["", f"A column that declares a type but no rule gets: {defaults}."]
    return "\n".join(lines) + "\n"


_unregistered = sorted(set(RULE_DECLARATIONS) - set(RULES))
if _unregistered:
    raise RuntimeError(
        f"declared rule(s) without a function in cleaning/registry.py: {_unregistered}"
    )

__all__ = [
    "DEFAULT_RULE_FOR_TYPE",
    "MAPPINGS_CONTEXT",
    "RULES",
    "RULE_TAG",
    "CodeOptions",
    "CopyOptions",
    "DecimalOptions",
    "MappingOptions",
    "NoOptions",
    "Rule",
    "RuleInput",
    "RuleOptions",
    "TextOptions",
    "describe_rules",
    "register_rule",
    "run_rule",
    "type_kind",
]
