"""A digest of the COPY rows that the plan writer and the server compute alike.

The plan declares the digest of its rows; inside the transaction, right after the COPY, the
server computes the same digest over the rows it staged and refuses the plan when they differ
(the ``modified rows`` check, :mod:`work_data_hub.load.checks`). So ``psql -f`` refuses a plan
whose rows were edited, as ``apply_plan`` refuses it by its checksum. It catches edits of the
data, not a forger who edits both the rows and the declared digest.

Both sides hash the same text per row: the staged row as PostgreSQL writes a row value,
``ROW(...)::text`` (``(2024-11-01,P0001,"a, b",,0.055000)``: values in the column type's output
form, quoted where they hold a comma, parenthesis, quote, backslash or white space, NULL as
nothing, an empty text as ``""``), with each date as its day number from 2000-01-01 (a date's
text depends on the server's DateStyle), in UTF-8 whatever the server's encoding. Rows are
hashed in COPY order in chunks of :data:`CHUNK_ROWS` (``md5`` of the chunk's rows joined by
newlines) and the digest is the ``md5`` of the chunks' digests: the writer hashes each slice of
rows as it writes it (no second read of the payload), and the server holds one chunk's text at
a time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from decimal import ROUND_HALF_UP, Decimal

import polars as pl

from work_data_hub.load.sql import literal

# Where the plan's SQL names the declared digest before the rows are written; the writer puts
# the digest there in the statements after the COPY, which it writes once the rows are hashed.
ROWS_DIGEST_PLACEHOLDER = "<rows digest>"
CHUNK_ROWS = 10_000
_DAY_ZERO = "2000-01-01"
_NUMERIC = re.compile(r"^numeric\((\d+),(\d+)\)$")
# Number text PostgreSQL prints back as is once padded to the scale: no sign but `-`, no
# leading zeros, no exponent.
_PLAIN_NUMBER = r"^-?(?:0|[1-9][0-9]*)(?:\.[0-9]*)?$"
# What makes PostgreSQL quote a value inside a row's text (record_out): an empty value, or one
# holding a quote, a backslash, a parenthesis, a comma or ASCII white space.
_QUOTED_IN_A_ROW = r'^$|["\\(),\t\n\x0b\x0c\r ]'


def digest_sql(stage: str, columns: list[tuple[str, str]]) -> str:
    """A SELECT of one column ``digest``: the digest of the rows of ``stage`` in COPY order.

    ``columns``: each staged column (quoted) and its SQL type. A temporary table filled by one
    COPY is scanned in the order the rows went in (as :func:`work_data_hub.load.modes.
    insert_statement` relies on), so ``row_number() OVER ()`` numbers them in COPY order.
    """
    values = ", ".join(
        f"staged.{column} - DATE '{_DAY_ZERO}'" if column_type == "date" else f"staged.{column}"
        for column, column_type in columns
    )
    return (
        "SELECT pg_catalog.md5(COALESCE(pg_catalog.string_agg(chunk.digest, '' ORDER BY "
        "chunk.number), '')) AS digest\n"
        f"        FROM (SELECT numbered.position / {CHUNK_ROWS} AS number, pg_catalog.md5("
        "pg_catalog.convert_to(pg_catalog.string_agg(numbered.line, E'\\n' ORDER BY "
        "numbered.position), 'UTF8')) AS digest\n"
        "            FROM (SELECT pg_catalog.row_number() OVER () - 1 AS position, "
        f"ROW({values})::text AS line\n"
        f"                FROM {stage} AS staged) AS numbered GROUP BY 1) AS chunk"
    )


def declared_digest_sql() -> str:
    return literal(ROWS_DIGEST_PLACEHOLDER)


def canonical_text(values: pl.Series, column_type: str) -> pl.Series:
    """The values (COPY text, as the plan writes them) as PostgreSQL prints them once staged."""
    text = values.cast(pl.String)
    if values.dtype.is_integer():
        return text  # already as PostgreSQL prints an integer (the lineage's row numbers)
    numeric = _NUMERIC.match(column_type)
    if numeric:
        return _numbers(text, int(numeric.group(2)))
    if column_type == "integer":
        return _numbers(text, 0)
    if column_type == "date":
        days = text.str.to_date("%Y-%m-%d") - dt.date.fromisoformat(_DAY_ZERO)
        return days.dt.total_days().cast(pl.String)
    return text


def _numbers(text: pl.Series, scale: int) -> pl.Series:
    """Number text as PostgreSQL prints a ``numeric(p, scale)`` (rounded half away from zero
    to ``scale`` decimals, padded to them; ``integer`` is scale 0).

    Most values need only their fraction padded, in native code; the few others (an exponent,
    a ``+`` sign, leading zeros, more decimals than the scale, a negative zero) are rounded by
    :class:`~decimal.Decimal`, one by one.
    """
    value = pl.lit(text)
    point = value.str.find(".", literal=True)
    decimals = (value.str.len_chars().cast(pl.Int64) - point - 1).fill_null(0)
    padded = (
        pl.when(point.is_null())
        .then(value + ("." + "0" * scale if scale else ""))
        .otherwise(value.str.pad_end(value.str.len_chars() + scale - decimals, "0"))
    )
    plain = (
        value.str.contains(_PLAIN_NUMBER) & (decimals <= scale) & ~value.str.contains("^-0*[.]?0*$")
    )
    printed, plain_values = pl.select(
        padded.alias("p"), plain.fill_null(True).alias("k")
    ).get_columns()
    others = (~plain_values).arg_true()
    if not len(others):
        return printed
    quantum = Decimal(1).scaleb(-scale)
    rounded = [
        _printed(Decimal(value).quantize(quantum, rounding=ROUND_HALF_UP))
        for value in text.gather(others).to_list()
    ]
    return printed.scatter(others, pl.Series(rounded, dtype=pl.String))


def _printed(number: Decimal) -> str:
    return format(number.copy_abs() if number.is_zero() else number, "f")


def row_texts(rows: pl.DataFrame, columns: list[tuple[str, str]]) -> pl.Series:
    """Each row's text, as ``ROW(...)::text`` gives it on the server (see :func:`digest_sql`).

    Only text can need quoting (numbers and day numbers are digits, ``-`` and ``.``), and only
    a column holding such a value pays for it.
    """
    fields = []
    for column, column_type in columns:
        value = canonical_text(rows[column], column_type)
        if column_type == "text" and value.str.contains(_QUOTED_IN_A_ROW).any():
            escaped = value.str.replace_all("\\", "\\\\", literal=True).str.replace_all(
                '"', '""', literal=True
            )
            value = pl.select(
                pl.when(pl.lit(value).str.contains(_QUOTED_IN_A_ROW))
                .then('"' + pl.lit(escaped) + '"')
                .otherwise(pl.lit(value))
            ).to_series()
        fields.append(pl.lit(value).fill_null(""))
    text = pl.concat_str(fields, separator=",") if fields else pl.lit("")
    return rows.select(("(" + text + ")").alias("row")).to_series()


class RowsDigest:
    """The digest of rows given slice after slice, in COPY order (see the module doc)."""

    def __init__(self, columns: list[tuple[str, str]]) -> None:
        self._columns = columns
        self._chunks = hashlib.md5(usedforsecurity=False)
        self._pending: list[pl.Series] = []
        self._pending_rows = 0

    def update(self, rows: pl.DataFrame) -> None:
        texts = row_texts(rows, self._columns)
        while len(texts):
            taken = texts.slice(0, CHUNK_ROWS - self._pending_rows)
            self._pending.append(taken)
            self._pending_rows += len(taken)
            texts = texts.slice(len(taken))
            if self._pending_rows == CHUNK_ROWS:
                self._close_chunk()

    def _close_chunk(self) -> None:
        text = pl.concat(self._pending).str.join("\n").item()
        chunk = hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()
        self._chunks.update(chunk.encode("ascii"))
        self._pending, self._pending_rows = [], 0

    def hexdigest(self) -> str:
        if self._pending_rows:
            self._close_chunk()
        return self._chunks.hexdigest()
