"""A digest of the COPY rows that the plan writer and the server compute alike.

The plan declares the digest of its rows; inside the transaction, right after the COPY, the
server computes the same digest over the rows it staged and refuses the plan when they differ
(the ``modified rows`` check, :mod:`work_data_hub.load.checks`). So ``psql -f`` refuses a plan
whose rows were edited, as ``apply_plan`` refuses it by its checksum. It catches edits of the
data, not a forger who edits both the rows and the declared digest.

Both sides hash the same text per row: each staged value in its canonical spelling
(:func:`canonical_sql` on the server, :func:`canonical_text` here), prefixed with its length in
characters (``-`` for NULL), concatenated. Rows are hashed in COPY order in chunks of
:data:`CHUNK_ROWS` rows (``md5`` of the chunk's lines joined by newlines) and the digest is the
``md5`` of the chunks' digests: the server never holds more than a chunk's text, and the writer
hashes each slice of rows as it writes it, with no second read of the payload.
"""

from __future__ import annotations

import hashlib
import re
from decimal import ROUND_HALF_UP, Decimal

import polars as pl

from work_data_hub.load.sql import literal

CHUNK_ROWS = 10_000
# Where the plan's SQL names the declared digest before the rows are written; the writer puts
# the digest there in the statements after the COPY, which it writes once the rows are hashed.
ROWS_DIGEST_PLACEHOLDER = "<rows digest>"
_NUMERIC = re.compile(r"^numeric\((\d+),(\d+)\)$")
# Number text that is already canonical but for trailing fraction zeros: no sign but `-`, no
# leading zeros, no exponent.
_PLAIN_DECIMAL = r"^-?(?:0|[1-9][0-9]*)(?:\.[0-9]*)?$"


def canonical_sql(column: str, column_type: str) -> str:
    """SQL giving the staged value of ``column`` as :func:`canonical_text` spells it.

    Numbers without trailing fraction zeros (``numeric(18,2)`` shows ``1234.50``; ``1234.5``
    here), dates as ``YYYY-MM-DD`` whatever the DateStyle, anything else as its text.
    """
    numeric = _NUMERIC.match(column_type)
    if column_type == "date":
        return f"pg_catalog.to_char({column}, 'YYYY-MM-DD')"
    if numeric and int(numeric.group(2)) > 0:
        return f"pg_catalog.rtrim(pg_catalog.rtrim({column}::text, '0'), '.')"
    return f"{column}::text"


def row_sql(columns: list[tuple[str, str]]) -> str:
    """SQL giving one staged row's line: each canonical value after its length, NULL as ``-``."""
    fields = []
    for column, column_type in columns:
        value = canonical_sql(column, column_type)
        fields.append(
            f"COALESCE(pg_catalog.length({value})::text || ':' || {value}, '-')"
        )
    return " || ".join(fields) if fields else "''"


def digest_sql(stage: str, columns: list[tuple[str, str]]) -> str:
    """A SELECT of one column ``digest``: the digest of the rows of ``stage``, in COPY order.

    A temporary table filled by one COPY is scanned in the order the rows went in (see
    :func:`work_data_hub.load.modes.insert_statement`), so ``row_number() OVER ()`` numbers
    them in COPY order.
    """
    return (
        "SELECT pg_catalog.md5(COALESCE(pg_catalog.string_agg(chunk.digest, '' "
        "ORDER BY chunk.number), '')) AS digest\n"
        "        FROM (SELECT numbered.position / "
        f"{CHUNK_ROWS} AS number, pg_catalog.md5(pg_catalog.string_agg(numbered.line, E'\\n' "
        "ORDER BY numbered.position)) AS digest\n"
        f"            FROM (SELECT pg_catalog.row_number() OVER () - 1 AS position, "
        f"{row_sql(columns)} AS line\n"
        f"                FROM {stage}) AS numbered GROUP BY 1) AS chunk"
    )


def declared_digest_sql() -> str:
    return literal(ROWS_DIGEST_PLACEHOLDER)


def canonical_text(values: pl.Series, column_type: str) -> pl.Series:
    """The values (COPY text as the plan writes it) as the server spells them once staged."""
    text = values.cast(pl.String)
    numeric = _NUMERIC.match(column_type)
    if numeric:
        return _canonical_numbers(text, int(numeric.group(2)))
    if column_type == "integer":
        return _canonical_numbers(text, 0)
    return text


def _canonical_numbers(text: pl.Series, scale: int) -> pl.Series:
    """Number text as PostgreSQL stores it in ``numeric(p, scale)`` (rounded half away from
    zero to ``scale`` decimals), without trailing fraction zeros.

    Most values need only their trailing zeros removed, in native code; the few others (an
    exponent, a ``+`` sign, leading zeros, more decimals than the scale) are rounded by
    :class:`~decimal.Decimal`, one by one.
    """
    fraction = text.str.extract(r"\.([0-9]*)$", 1).str.len_chars().fill_null(0)
    plain = (text.str.contains(_PLAIN_DECIMAL) & (fraction <= scale)).fill_null(True)
    trimmed = text.str.replace(r"(\.[0-9]*?)0+$", "${1}").str.strip_suffix(".")
    trimmed = trimmed.str.replace(r"^-0$", "0")
    others = (~plain).arg_true()
    if not len(others):
        return trimmed
    quantum = Decimal(1).scaleb(-scale)
    rounded = [
        _plain(Decimal(value).quantize(quantum, rounding=ROUND_HALF_UP))
        for value in text.gather(others).to_list()
    ]
    return trimmed.scatter(others, pl.Series(rounded, dtype=pl.String))


def _plain(number: Decimal) -> str:
    spelled = format(number, "f")
    if "." in spelled:
        spelled = spelled.rstrip("0").rstrip(".")
    return "0" if spelled in ("-0", "") else spelled


def row_lines(rows: pl.DataFrame, columns: list[tuple[str, str]]) -> pl.Series:
    """Each row's line, as :func:`row_sql` makes it on the server."""
    canonical = pl.DataFrame(
        [
            canonical_text(rows[column], column_type).alias(f"c{position}")
            for position, (column, column_type) in enumerate(columns)
        ]
    )
    fields = [
        pl.when(pl.col(name).is_null())
        .then(pl.lit("-"))
        .otherwise(pl.col(name).str.len_chars().cast(pl.String) + ":" + pl.col(name))
        for name in canonical.columns
    ]
    return canonical.select(pl.concat_str(fields).alias("line"))["line"]


class RowsDigest:
    """The digest of rows given slice after slice, in COPY order (see the module doc)."""

    def __init__(self, columns: list[tuple[str, str]]) -> None:
        self._columns = columns
        self._chunks = hashlib.md5(usedforsecurity=False)
        self._pending: list[pl.Series] = []
        self._pending_rows = 0

    def update(self, rows: pl.DataFrame) -> None:
        lines = row_lines(rows, self._columns)
        while len(lines):
            take = CHUNK_ROWS - self._pending_rows
            self._pending.append(lines.slice(0, take))
            self._pending_rows += min(take, len(lines))
            lines = lines.slice(take)
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
