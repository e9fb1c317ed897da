"""Business checks as SQL: one read-only SELECT per check, run twice from the one text.

Each SELECT returns one row per violation (``message``, ``numbers`` as jsonb, ``periods``),
reading only the target table and literals: the delivery's facts (rows per period, the
combinations per period, opening sums per key) and the thresholds are written into it when
the plan is made. So the very SELECT

- guards the plan inside its transaction, after the COPY and before the first DELETE: a DO
  block loops over it and RAISEs for an ``error`` check nobody accepted, so ``psql -f plan.sql``
  refuses what ``execute=true`` refuses (:func:`check_guard_statement`);
- gives the verdict at plan time when the warehouse is read (``execute=true``, ``diff=true``,
  ``apply_plan``), run by the warehouse client in a READ ONLY transaction
  (:func:`verdict_from_rows`).

Checks the delivery alone decides (a total row, an identity with severity ``error``,
continuity inside the delivery) are evaluated while cleaning; their violations travel as
literal rows of the same kind of SELECT, so the plan refuses them the same way.

A warning, or an error accepted by ``accept_checks=<name>`` (written into the plan, or set by a
session as ``wdh.accept_checks``), is recorded in the transaction-local setting ``wdh.checks``,
which the ledger row stores in its ``checks`` column.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import polars as pl

from work_data_hub.cleaning.rows import SOURCE_FILE, SOURCE_ROW, CleanRows
from work_data_hub.config import DomainConfig
from work_data_hub.config.business_checks import (
    BusinessCheck,
    CheckResult,
    ContinuityOptions,
    CoverageOptions,
    VolumeOptions,
    broken,
    held,
    not_evaluated,
)
from work_data_hub.load.sql import Statement, literal, quote

# A session lists checks it accepts here (apply_plan's accept_checks; psql: PGOPTIONS).
ACCEPT_SETTING = "wdh.accept_checks"
# The guards add what they found (warnings, accepted errors) here; the ledger row stores it.
CHECKS_SETTING = "wdh.checks"
CHECK_STEP = "business_check"
SELECT_START = "-- wdh-check-select\n"
SELECT_END = "\n-- wdh-check-select-end"
_SELECT = re.compile(re.escape(SELECT_START) + r"(.*?)" + re.escape(SELECT_END), re.DOTALL)
_NAME = re.compile(r"-- wdh-check: (?P<json>\{.*\})\n")
# Violations named in one console line; the report lists all of them.
SHOWN_VIOLATIONS = 3


@dataclass(frozen=True)
class CheckQuery:
    """One check's read-only SELECT (one row per violation: message, numbers, periods)."""

    name: str
    kind: str
    severity: str
    sql: str


# --- the delivery's facts, as literals --------------------------------------------------------


def _period_text(values: pl.Expr) -> pl.Expr:
    return values.cast(pl.String)


def _counts(rows: CleanRows, columns: Sequence[str]) -> pl.DataFrame:
    """Rows per combination of ``columns`` over all kept rows (read a file at a time)."""
    parts = [
        frame.group_by(list(columns)).len("rows")
        for frame in rows.read_columns(list(columns))
        if frame.height
    ]
    if not parts:
        return pl.DataFrame(schema={**{c: pl.String for c in columns}, "rows": pl.UInt32})
    return (
        pl.concat(parts)
        .group_by(list(columns))
        .agg(pl.col("rows").sum())
        .sort(list(columns), nulls_last=True)
    )


def _typed(value: object, sql_type: str) -> str:
    return f"NULL::{sql_type}" if value is None else f"{literal(str(value))}::{sql_type}"


def _values(rows: Iterable[Sequence[str]], names: Sequence[str]) -> str:
    listed = ",\n        ".join(f"({', '.join(row)})" for row in rows)
    return f"(VALUES\n        {listed}\n    ) AS delivered({', '.join(names)})"


def _type_of(domain: DomainConfig, column: str) -> str:
    return domain.columns[column].type


def _share(value: float) -> str:
    return f"{value:g}"


def volume_query(check: BusinessCheck, domain: DomainConfig, rows: CleanRows) -> CheckQuery:
    """Rows per delivered period against the warehouse's rows for it (a correction) or, for a
    new period, for the newest earlier period (delivered or held)."""
    options = check.options_as(VolumeOptions)
    assert check.period is not None
    period = quote(check.period)
    table = quote(domain.table)
    counts = _counts(rows, [check.period])
    delivered = _values(
        ([_typed(p, "date"), f"{n}::bigint"] for p, n in counts.iter_rows()), ["period", "rows"]
    )
    low = f"(1 - {_share(options.max_drop)})" if options.max_drop is not None else None
    high = f"(1 + {_share(options.max_growth)})" if options.max_growth is not None else None
    outside = " OR ".join(
        condition
        for condition in (
            f"compared.rows < compared.basis_rows * {low}" if low else "",
            f"compared.rows > compared.basis_rows * {high}" if high else "",
        )
        if condition
    )
    band = ", ".join(
        part
        for part in (
            f"max_drop {_share(options.max_drop)}" if options.max_drop is not None else "",
            f"max_growth {_share(options.max_growth)}" if options.max_growth is not None else "",
        )
        if part
    )
    sql = f"""WITH delivered AS (SELECT * FROM {delivered}),
compared AS (
    SELECT delivered.period, delivered.rows,
        COALESCE(NULLIF(held.rows, 0), earlier.rows) AS basis_rows,
        CASE WHEN held.rows > 0 THEN delivered.period ELSE earlier.period END AS basis_period,
        CASE WHEN held.rows > 0 THEN 'the warehouse holds'
             WHEN earlier.delivered THEN 'this delivery brings'
             ELSE 'the warehouse holds' END AS basis_source
    FROM delivered
    LEFT JOIN LATERAL (
        SELECT count(*) AS rows FROM {table} AS target WHERE target.{period} = delivered.period
    ) AS held ON true
    LEFT JOIN LATERAL (
        SELECT candidate.period, candidate.delivered,
            CASE WHEN candidate.delivered
                 THEN (SELECT d.rows FROM delivered AS d WHERE d.period = candidate.period)
                 ELSE (SELECT count(*) FROM {table} AS target
                       WHERE target.{period} = candidate.period) END AS rows
        FROM (
            SELECT d.period, true AS delivered FROM delivered AS d
            WHERE d.period < delivered.period
            UNION ALL
            SELECT max(target.{period}), false FROM {table} AS target
            WHERE target.{period} < delivered.period
        ) AS candidate
        WHERE candidate.period IS NOT NULL
        ORDER BY candidate.period DESC, candidate.delivered DESC LIMIT 1
    ) AS earlier ON true
)
SELECT pg_catalog.format(
        '%s: %s rows delivered, %s %s rows for %s (%s%s%%; {band})',
        pg_catalog.to_char(compared.period, 'YYYY-MM'), compared.rows, compared.basis_source,
        compared.basis_rows, pg_catalog.to_char(compared.basis_period, 'YYYY-MM'),
        CASE WHEN compared.rows < compared.basis_rows THEN 'a drop of ' ELSE 'a growth of ' END,
        pg_catalog.round(abs(compared.rows - compared.basis_rows) * 100.0
                         / compared.basis_rows, 1)) AS message,
    pg_catalog.jsonb_build_object(
        'period', pg_catalog.to_char(compared.period, 'YYYY-MM'),
        'rows', compared.rows, 'basis_rows', compared.basis_rows,
        'basis_period', pg_catalog.to_char(compared.basis_period, 'YYYY-MM')) AS numbers,
    ARRAY[pg_catalog.to_char(compared.period, 'YYYY-MM')] AS periods
FROM compared
WHERE compared.basis_rows > 0 AND ({outside})
ORDER BY compared.period"""
    return CheckQuery(check.name, check.kind, check.severity, sql)


def coverage_query(check: BusinessCheck, domain: DomainConfig, rows: CleanRows) -> CheckQuery:
    """Combinations of ``by`` the warehouse holds for a delivered period that it lacks."""
    options = check.options_as(CoverageOptions)
    assert check.period is not None
    by = list(options.by)
    counts = _counts(rows, [check.period, *by])
    names = ["period", *(f"by{i}" for i in range(len(by))), "rows"]
    delivered = _values(
        (
            [
                _typed(record[0], "date"),
                *(
                    _typed(value, _type_of(domain, column))
                    for value, column in zip(record[1:-1], by, strict=True)
                ),
                f"{record[-1]}::bigint",
            ]
            for record in counts.iter_rows()
        ),
        names,
    )
    period = quote(check.period)
    matches = " AND ".join(
        f"d.by{i} IS NOT DISTINCT FROM target.{quote(column)}" for i, column in enumerate(by)
    )
    shown = ", ".join(
        f"{literal(column + '=')} || COALESCE(target.{quote(column)}::text, 'NULL')"
        for column in by
    )
    sql = f"""WITH delivered AS (SELECT * FROM {delivered}),
missing AS (
    SELECT target.{period} AS period, {", ".join(f"target.{quote(c)}" for c in by)},
        count(*) AS rows
    FROM {quote(domain.table)} AS target
    WHERE target.{period} IN (SELECT d.period FROM delivered AS d)
        AND NOT EXISTS (
            SELECT 1 FROM delivered AS d WHERE d.period = target.{period} AND {matches})
    GROUP BY target.{period}, {", ".join(f"target.{quote(c)}" for c in by)}
)
SELECT pg_catalog.format('%s: %s holds %s rows in the warehouse and none in this delivery',
        pg_catalog.to_char(target.period, 'YYYY-MM'), pg_catalog.concat_ws(', ', {shown}),
        target.rows) AS message,
    pg_catalog.jsonb_build_object('period', pg_catalog.to_char(target.period, 'YYYY-MM'),
        'rows', target.rows, 'group', pg_catalog.jsonb_build_object({
        ", ".join(f"{literal(c)}, target.{quote(c)}" for c in by)})) AS numbers,
    ARRAY[pg_catalog.to_char(target.period, 'YYYY-MM')] AS periods
FROM missing AS target
ORDER BY target.period, target.rows DESC"""
    return CheckQuery(check.name, check.kind, check.severity, sql)


def continuity_query(
    check: BusinessCheck, domain: DomainConfig, sums: pl.DataFrame
) -> CheckQuery | None:
    """Keys whose opening in a delivered month differs from their closing of the month before
    in the warehouse, for the months whose previous month this delivery does not bring."""
    options = check.options_as(ContinuityOptions)
    assert check.period is not None
    if not sums.height:
        return None
    period_column = check.period
    delivered_periods = set(sums[period_column].to_list())
    previous = sums.with_columns(
        previous=pl.col(period_column).str.to_date().dt.offset_by("-1mo").cast(pl.String)
    )
    alone = previous.filter(~pl.col("previous").is_in(list(delivered_periods)))
    if not alone.height:
        return None
    by = list(options.by)
    names = ["period", *(f"by{i}" for i in range(len(by))), "opening", "places"]
    delivered = _values(
        (
            [
                _typed(record[period_column], "date"),
                *(_typed(record[column], _type_of(domain, column)) for column in by),
                f"{literal(str(record['opening']))}::numeric",
                literal("; ".join(record["places"][:SHOWN_VIOLATIONS])),
            ]
            for record in alone.iter_rows(named=True)
        ),
        names,
    )
    period = quote(period_column)
    table = quote(domain.table)
    matches = " AND ".join(
        f"d.by{i} IS NOT DISTINCT FROM target.{quote(column)}" for i, column in enumerate(by)
    )
    keys = ", ".join(
        f"{literal(column + '=')} || COALESCE(d.by{i}::text, 'NULL')" for i, column in enumerate(by)
    )
    tolerance = _share(options.tolerance)
    sql = f"""WITH delivered AS (SELECT * FROM {delivered}),
compared AS (
    SELECT d.*, previous.closing, previous.places AS previous_places
    FROM delivered AS d
    JOIN LATERAL (
        SELECT sum(target.{quote(options.closing)}) AS closing,
            pg_catalog.string_agg(target.{quote(SOURCE_FILE)} || ' row '
                || target.{quote(SOURCE_ROW)}, '; ' ORDER BY target.{quote(SOURCE_ROW)})
                AS places,
            count(*) AS rows
        FROM {table} AS target
        WHERE target.{period} = (d.period - interval '1 month')::date AND {matches}
    ) AS previous ON previous.rows > 0
)
SELECT pg_catalog.format('%s: %s of %s is %s (%s), %s of %s in the warehouse is %s (%s), off by %s',
        pg_catalog.concat_ws(', ', {keys}), {literal(options.opening)},
        pg_catalog.to_char(d.period, 'YYYY-MM'), d.opening, d.places,
        {literal(options.closing)}, pg_catalog.to_char(d.period - interval '1 month', 'YYYY-MM'),
        d.closing, d.previous_places, d.opening - d.closing) AS message,
    pg_catalog.jsonb_build_object('period', pg_catalog.to_char(d.period, 'YYYY-MM'),
        'opening', d.opening, 'closing', d.closing, 'difference', d.opening - d.closing)
        AS numbers,
    ARRAY[pg_catalog.to_char(d.period, 'YYYY-MM')] AS periods
FROM compared AS d
WHERE abs(d.opening - d.closing) > {tolerance}
ORDER BY d.period"""
    return CheckQuery(check.name, check.kind, check.severity, sql)


def delivery_query(result: CheckResult) -> CheckQuery | None:
    """A check the delivery alone decided, as a SELECT of its violation (None if it held)."""
    if result.status not in ("failed", "warned", "accepted"):
        return None
    numbers = json.dumps(dict(result.numbers), ensure_ascii=False, default=str)
    periods = ", ".join(literal(period) for period in result.periods)
    sql = (
        f"SELECT {literal(result.message)}::text AS message, {literal(numbers)}::jsonb AS numbers, "
        f"ARRAY[{periods}]::text[] AS periods"
    )
    return CheckQuery(result.name, result.kind, result.severity, sql)


def warehouse_queries(
    domain: DomainConfig, rows: CleanRows, continuity_sums: Mapping[str, pl.DataFrame]
) -> tuple[CheckQuery, ...]:
    """The domain's checks that compare the delivery with the warehouse, as SELECTs."""
    queries: list[CheckQuery] = []
    if not len(rows):
        return ()
    for check in domain.business_checks:
        if check.kind == "volume":
            queries.append(volume_query(check, domain, rows))
        elif check.kind == "coverage":
            queries.append(coverage_query(check, domain, rows))
        elif check.kind == "continuity" and check.name in continuity_sums:
            query = continuity_query(check, domain, continuity_sums[check.name])
            queries += [query] if query is not None else []
    return tuple(queries)


# --- the guard in the plan --------------------------------------------------------------------


def check_guard_statement(query: CheckQuery, accepted: Sequence[str]) -> Statement:
    """A DO block running ``query`` inside the plan's transaction.

    An ``error`` check's violations refuse the load (RAISE, naming the check, its violations and
    the override) unless the check is accepted, in the plan (``accepted``) or by the session
    (``wdh.accept_checks``); a warning or an accepted error is a NOTICE and is added to
    ``wdh.checks`` for the ledger row.
    """
    tag = "$wdh_check$"
    header = json.dumps(
        {"name": query.name, "kind": query.kind, "severity": query.severity}, ensure_ascii=True
    )
    accepted_array = (
        "ARRAY[" + ", ".join(literal(name) for name in accepted) + "]::text[]"
        if accepted
        else "ARRAY[]::text[]"
    )
    body = f"""
-- wdh-check: {header}
DECLARE
    violation record;
    messages text[] := ARRAY[]::text[];
    found jsonb := '[]'::jsonb;
    accepted boolean := {literal(query.name)} = ANY({accepted_array} || pg_catalog.string_to_array(
        pg_catalog.replace(COALESCE(pg_catalog.current_setting({literal(ACCEPT_SETTING)}, true), ''),
                           ' ', ''), ','));
    status text;
BEGIN
    FOR violation IN
{SELECT_START}{query.sql}{SELECT_END}
    LOOP
        messages := messages || violation.message;
        found := found || pg_catalog.jsonb_build_object('message', violation.message,
            'numbers', violation.numbers, 'periods', pg_catalog.to_jsonb(violation.periods));
    END LOOP;
    IF pg_catalog.cardinality(messages) = 0 THEN
        RETURN;
    END IF;
    IF {literal(query.severity)} = 'error' AND NOT accepted THEN
        RAISE EXCEPTION 'check {query.name.replace("'", "''").replace("%", "%%")} refused the load: %; the table is unchanged',
            pg_catalog.array_to_string(messages, '; ')
            USING HINT = 'Review the delivery; to load it anyway, make the plan with '
                         'accept_checks={query.name.replace("'", "''")} (or set {ACCEPT_SETTING} = '
                         '''{query.name.replace("'", "''")}'' for the session)';
    END IF;
    status := CASE WHEN {literal(query.severity)} = 'error' THEN 'accepted' ELSE 'warned' END;
    RAISE NOTICE 'check % %: %', {literal(query.name)}, status,
        pg_catalog.array_to_string(messages, '; ');
    PERFORM pg_catalog.set_config({literal(CHECKS_SETTING)},
        (COALESCE(NULLIF(pg_catalog.current_setting({literal(CHECKS_SETTING)}, true), ''),
                  '[]')::jsonb
         || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
                'name', {literal(query.name)}, 'kind', {literal(query.kind)},
                'severity', {literal(query.severity)}, 'status', status,
                'violations', found)))::text,
        true);
END
"""
    if tag in body:
        raise ValueError(f"a name in the domain contains {tag}")
    return Statement(CHECK_STEP, f"DO {tag}{body}{tag}")


def recorded_checks_sql() -> str:
    """What the ledger row stores in ``checks``: the guards' findings of this transaction."""
    return (
        f"COALESCE(NULLIF(pg_catalog.current_setting({literal(CHECKS_SETTING)}, true), ''),"
        " '[]')::jsonb"
    )


def queries_of_steps(steps: Iterable[Any]) -> tuple[CheckQuery, ...]:
    """The check SELECTs a saved plan's guard steps carry (``apply_plan`` runs them read-only)."""
    found = []
    for step in steps:
        if step.purpose != CHECK_STEP:
            continue
        name = _NAME.search(step.sql)
        select = _SELECT.search(step.sql)
        if name is None or select is None:
            continue
        facts = json.loads(name["json"])
        found.append(CheckQuery(facts["name"], facts["kind"], facts["severity"], select[1]))
    return tuple(found)


# --- the verdict at plan time -------------------------------------------------------------


def verdict_from_rows(
    query: CheckQuery, violations: Sequence[tuple[str, Any, Sequence[str] | None]]
) -> CheckResult:
    """One check's result from the rows its SELECT returned (read-only, at plan time)."""
    check = BusinessCheck(query.name, query.kind, query.severity, None)  # type: ignore[arg-type]
    if not violations:
        return replace(held(check, "holds against the warehouse"), reads_warehouse=True)
    messages = [message for message, _, _ in violations]
    periods = sorted({period for _, _, listed in violations for period in listed or ()})
    numbers = [value if isinstance(value, dict) else json.loads(value) for _, value, _ in violations]
    shown = "; ".join(messages[:SHOWN_VIOLATIONS])
    more = len(messages) - SHOWN_VIOLATIONS
    return broken(
        check,
        shown + (f"; and {more} more" if more > 0 else ""),
        periods=tuple(periods),
        numbers={"violations": numbers},
        details=tuple(messages),
        reads_warehouse=True,
    )


def unevaluated(query: CheckQuery, reason: str) -> CheckResult:
    check = BusinessCheck(query.name, query.kind, query.severity, None)  # type: ignore[arg-type]
    return not_evaluated(check, reason, reads_warehouse=True)


def evaluate_checks(
    cursor: Any,
    queries: Sequence[CheckQuery],
    known: Sequence[CheckResult],
    *,
    table_exists: bool,
    accepted: Sequence[str] = (),
) -> tuple[CheckResult, ...]:
    """``known`` with the warehouse's results evaluated now, by each query's SELECT on
    ``cursor`` (in the caller's READ ONLY transaction); failed checks in ``accepted`` accepted.

    Without the table the warehouse holds nothing: every such check holds.
    """
    found = {
        query.name: verdict_from_rows(query, _violations(cursor, query) if table_exists else [])
        for query in queries
    }
    merged = [
        found.pop(check.name) if check.reads_warehouse and check.name in found else check
        for check in known
    ]
    return with_accepted([*merged, *found.values()], accepted)


def _violations(cursor: Any, query: CheckQuery) -> list[tuple[str, Any, Sequence[str] | None]]:
    cursor.execute(query.sql)
    return list(cursor.fetchall())


def with_accepted(results: Iterable[CheckResult], accepted: Sequence[str]) -> tuple[CheckResult, ...]:
    """``results`` with the failed checks a person accepted marked ``accepted``."""
    return tuple(
        result.accepted() if result.name in accepted else result for result in results
    )


__all__ = [
    "ACCEPT_SETTING",
    "CHECKS_SETTING",
    "CheckQuery",
    "check_guard_statement",
    "continuity_query",
    "coverage_query",
    "delivery_query",
    "queries_of_steps",
    "recorded_checks_sql",
    "verdict_from_rows",
    "volume_query",
    "warehouse_queries",
    "with_accepted",
]
