"""Columnar building blocks the registered rules are made of (see :mod:`.registry`).

Every helper takes and returns polars Series of text (null = empty cell) and works column at a
time: no Python code runs per cell. Each helper evaluates eagerly, so a value shared by later
steps is computed once (a lazy expression tree would recompute it at every use).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

# Python's str.isspace() characters. Rust's (and so polars') white space leaves out the
# separators U+001C-U+001F, which Python (and so the old pandas rules and the reader) strips.
PYTHON_WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680"
    "\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)
WHITESPACE_CLASS = "".join(f"\\x{{{ord(ch):x}}}" for ch in PYTHON_WHITESPACE)


@dataclass(frozen=True)
class RuleResult:
    """A rule's output: the clean values (null = NULL) and per row why it is rejected (null = ok)."""

    values: pl.Series
    errors: pl.Series


def filled(
    value: bool | int | str | None, length: int, dtype: pl.DataType | type[pl.DataType]
) -> pl.Series:
    """``length`` copies of ``value``, built in native code."""
    return pl.repeat(value, length, dtype=dtype, eager=True)


def no_errors(length: int) -> pl.Series:
    return filled(None, length, pl.String)


def _frame(**columns: pl.Series) -> pl.DataFrame:
    return pl.DataFrame([series.alias(name) for name, series in columns.items()])


def strip(cells: pl.Series) -> pl.Series:
    """Leading and trailing white space removed, by Python's definition of white space."""
    return cells.cast(pl.String).str.strip_chars(PYTHON_WHITESPACE)


_PRINTABLE_ASCII = r"^[ -~]*$"
# What "full-width characters" means for a cell value: the full-width forms of ASCII
# (U+FF01..U+FF5E: `１２３`, `．`, `％`, `，`, `Ａ`) and the ideographic space. Not NFKC, which
# also turns superscripts, circled digits, ligatures and Roman numerals (`²`, `①`, `ﬁ`, `Ⅻ`)
# into ASCII and so changes what a cell says.
_FULL_WIDTH = [chr(code) for code in range(0xFF01, 0xFF5F)] + ["\u3000"]
_HALF_WIDTH = [chr(code - 0xFEE0) for code in range(0xFF01, 0xFF5F)] + [" "]


def half_width(cells: pl.Series) -> pl.Series:
    """Full-width ASCII forms as ASCII, run only on the cells that are not plain ASCII.

    Most cells are plain ASCII: checking is far cheaper than replacing.
    """
    text = cells.cast(pl.String)
    others = (~text.str.contains(_PRINTABLE_ASCII).fill_null(True)).arg_true()
    if not len(others):
        return text
    folded = text.gather(others).str.replace_many(_FULL_WIDTH, _HALF_WIDTH)
    return text.clone().scatter(others, folded)


def normalised(cells: pl.Series) -> pl.Series:
    """Full-width ASCII forms to ASCII (:func:`half_width`), then trimmed."""
    return strip(half_width(cells))


def ascii_part(cells: pl.Series) -> pl.Series:
    """The ASCII characters of each cell, in order (the others removed)."""
    return cells.str.replace_all(r"[^\x00-\x7F]", "")


def empty_as_null(values: pl.Series) -> pl.Series:
    return _frame(v=values).select(
        pl.when(pl.col("v") != "").then(pl.col("v")).otherwise(None).alias("v")
    )["v"]


def first_of_month(years: pl.Series, months: pl.Series) -> pl.Series:
    return _frame(y=years, m=months).select(
        pl.format(
            "{}-{}-01",
            pl.col("y").cast(pl.String).str.zfill(4),
            pl.col("m").cast(pl.String).str.zfill(2),
        ).alias("y")
    )["y"]


def check_period(
    present: pl.Series, years: pl.Series, months: pl.Series, today: dt.date, bad: str
) -> RuleResult:
    """Dates from parsed years and months: 2000-2099, month 1-12, not after this month."""
    this_month = today.year * 12 + today.month
    checked = _frame(present=present, y=years.cast(pl.Int64), m=months.cast(pl.Int64)).with_columns(
        unparsed=pl.col("present") & (pl.col("y").is_null() | pl.col("m").is_null()),
        in_range=pl.col("y").is_between(2000, 2099) & pl.col("m").is_between(1, 12),
    )
    checked = checked.with_columns(
        errors=pl.when(~pl.col("present"))
        .then(None)
        .when(pl.col("unparsed"))
        .then(pl.lit(bad))
        .when(~pl.col("in_range"))
        .then(pl.lit("year must be 2000-2099 and month 1-12"))
        .when(pl.col("y") * 12 + pl.col("m") > this_month)
        .then(pl.lit(f"period is in the future (after {today:%Y-%m})"))
        .otherwise(None)
    )
    values = first_of_month(checked["y"], checked["m"])
    keep = checked["present"] & checked["errors"].is_null()
    return RuleResult(_where(values, keep), checked["errors"])


def _where(values: pl.Series, keep: pl.Series) -> pl.Series:
    """``values`` where ``keep`` holds, else null."""
    return _frame(v=values, k=keep).select(
        pl.when(pl.col("k").fill_null(False)).then(pl.col("v")).otherwise(None).alias("v")
    )["v"]


def where(values: pl.Series, keep: pl.Series) -> pl.Series:
    return _where(values, keep)


def first_reason(*reasons: tuple[pl.Series, str | pl.Series]) -> pl.Series:
    """Per row the reason of the first condition that holds (null when none does)."""
    columns = {f"c{i}": condition for i, (condition, _) in enumerate(reasons)}
    texts = {f"t{i}": text for i, (_, text) in enumerate(reasons) if isinstance(text, pl.Series)}
    frame = _frame(**columns, **texts)
    chain: pl.Expr | None = None
    for i, (_, text) in enumerate(reasons):
        value = pl.col(f"t{i}") if isinstance(text, pl.Series) else pl.lit(text, dtype=pl.String)
        condition = pl.col(f"c{i}").fill_null(False)
        chain = (
            pl.when(condition).then(value) if chain is None else chain.when(condition).then(value)  # type: ignore[attr-defined]
        )
    if chain is None:
        return no_errors(len(frame))
    return frame.select(chain.otherwise(None).cast(pl.String).alias("r"))["r"]  # type: ignore[attr-defined]


def apply_defaults(values: pl.Series, conditions: list[tuple[pl.Series, str]]) -> pl.Series:
    """Fill empty values from the first ``(condition, value)`` pair whose condition holds."""
    filled = values
    for holds, default in conditions:
        filled = _frame(v=filled, h=holds).select(
            pl.when(pl.col("v").is_null() & pl.col("h").fill_null(False))
            .then(pl.lit(default))
            .otherwise(pl.col("v"))
            .alias("v")
        )["v"]
    return filled


def coalesce_reasons(first: pl.Series, second: pl.Series) -> pl.Series:
    """``first`` where it gives a reason, else ``second``."""
    return _frame(a=first, b=second).select(pl.coalesce("a", "b").alias("a"))["a"]


@dataclass(frozen=True)
class ParsedNumbers:
    """Numbers as exact digits: value = (-1 if negative) * 0.<digits> * 10**point."""

    digits: pl.Series  # significant digits, no leading zeros ("" for zero)
    point: pl.Series  # Int64
    negative: pl.Series  # bool
    exponent_too_large: pl.Series  # bool: an exponent no numeric(p,s) can hold


_NUMBER_PARTS = r"^([+-]?)([0-9]*)\.?([0-9]*)(?:[eE]([+-]?[0-9]+))?$"
NUMBER = r"^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$"
# Beyond this exponent a number is far past any numeric(p,s) (at most 1000 digits) or rounds
# to zero at any scale: no need to build its digits.
_EXPONENT_LIMIT = 2000


def parse_numbers(text: pl.Series, shift: pl.Series) -> ParsedNumbers:
    """Exact digits of number text (``NUMBER``), with the decimal point moved by ``shift``.

    Digits, not floats: ``9999999999999999`` keeps 16 digits (a float would round it to 1e16).
    """
    parts = _frame(t=text, shift=shift.cast(pl.Int64)).with_columns(
        p=pl.col("t").str.extract_groups(_NUMBER_PARTS)
    )
    parts = parts.select(
        negative=pl.col("p").struct.field("1") == "-",
        whole=pl.col("p").struct.field("2"),
        digits=pl.col("p").struct.field("2") + pl.col("p").struct.field("3"),
        exponent=pl.col("p").struct.field("4").cast(pl.Int64, strict=False),
        exponent_given=pl.col("p").struct.field("4").is_not_null(),
        exponent_text=pl.col("p").struct.field("4"),
        shift=pl.col("shift"),
    )
    out_of_reach = pl.col("exponent_given") & (
        pl.col("exponent").is_null() | (pl.col("exponent").abs() > _EXPONENT_LIMIT)
    )
    negative_exponent = pl.col("exponent_text").str.starts_with("-")
    parts = parts.with_columns(
        # A huge positive exponent overflows every numeric(p,s); a huge negative one rounds
        # to zero at any scale, so it is clamped rather than spelled out in full.
        exponent_too_large=(out_of_reach & ~negative_exponent).fill_null(False),
        exponent=pl.when(out_of_reach & negative_exponent)
        .then(-_EXPONENT_LIMIT)
        .when(out_of_reach)
        .then(0)
        .otherwise(pl.col("exponent").fill_null(0)),
        significant=pl.col("digits").str.strip_chars_start("0"),
    )
    parts = parts.with_columns(
        point=pl.col("whole").str.len_chars().cast(pl.Int64)
        + pl.col("exponent")
        + pl.col("shift")
        - (pl.col("digits").str.len_chars() - pl.col("significant").str.len_chars()).cast(pl.Int64)
    )
    return ParsedNumbers(
        digits=parts["significant"],
        point=parts["point"],
        negative=parts["negative"].fill_null(False),
        exponent_too_large=parts["exponent_too_large"].fill_null(False),
    )


def too_large(numbers: ParsedNumbers, precision: int, scale: int) -> pl.Series:
    """True where the number, rounded half up to ``scale`` decimals, has too many digits.

    PostgreSQL rounds on input, so 99.995 overflows numeric(4,2): its rounding carries into a
    third integer digit.
    """
    whole_digits = precision - scale
    frame = _frame(d=numbers.digits, p=numbers.point, big=numbers.exponent_too_large)
    return frame.select(
        (
            (pl.col("d") != "")
            & (
                pl.col("big")
                | (pl.col("p") > whole_digits)
                | (
                    (pl.col("p") == whole_digits)
                    & (pl.col("d").str.len_chars() > precision)
                    & pl.col("d").str.slice(0, precision).str.contains("^9+$")
                    & (pl.col("d").str.slice(precision, 1) >= "5")
                )
            )
        ).alias("r")
    )["r"]


def render_numbers(numbers: ParsedNumbers) -> pl.Series:
    """Plain decimal text of exact digits (``0.055``, ``-1234.50``): what COPY sends as is."""
    frame = _frame(d=numbers.digits, p=numbers.point, neg=numbers.negative)
    frame = frame.with_columns(length=pl.col("d").str.len_chars().cast(pl.Int64))
    frame = frame.with_columns(
        body=pl.when(pl.col("d") == "")
        .then(pl.lit("0"))
        .when(pl.col("p") <= 0)
        .then("0." + pl.col("d").str.zfill(pl.col("length") - pl.col("p")))
        .when(pl.col("p") >= pl.col("length"))
        .then(pl.col("d").str.reverse().str.zfill(pl.col("p")).str.reverse())
        .otherwise(pl.col("d").str.slice(0, pl.col("p")) + "." + pl.col("d").str.slice(pl.col("p")))
    )
    # Trailing fraction zeros carry nothing once the digits moved: 10.4770% is 0.10477.
    frame = frame.with_columns(
        body=pl.col("body").str.replace(r"(\.[0-9]*?)0+$", "${1}").str.strip_suffix(".")
    )
    return frame.select(
        pl.when(pl.col("neg") & (pl.col("d") != ""))
        .then("-" + pl.col("body"))
        .otherwise(pl.col("body"))
        .alias("r")
    )["r"]


def as_float(rendered: pl.Series) -> pl.Series:
    """For comparing with a column's bounds only; the value itself stays exact text."""
    return rendered.cast(pl.Float64, strict=False)
