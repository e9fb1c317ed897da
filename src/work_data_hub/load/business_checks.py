"""Business checks as SQL, registered in the check registry (:mod:`work_data_hub.load.checks`).

Each check of a domain becomes one read-only SELECT returning one row when it is broken
(``message``: every violation with its numbers; ``hint``: NULL) and none when it holds. It reads
the target table and literals written into it when the plan is made: the delivery's facts
(rows per period, the ``by`` combinations per period), the thresholds, and the violations the
delivery alone showed (a total row, a row identity, two months of one delivery). Continuity,
which compares every key, reads the delivery's keys from the plan's stage instead (a copy of
them in the plan would cost what the rows do). So the very SELECT

- guards the plan inside its transaction, in the ``business_check`` step after the COPY and
  before the first DELETE (the registry's guard: RAISE EXCEPTION for an ``error`` check nobody
  accepted, WARNING otherwise), so ``psql -f plan.sql`` refuses what ``execute=true`` refuses;
- gives the verdict when the warehouse is read (``execute=true``, ``diff=true``,
  ``apply_plan``), run read-only by the warehouse client; a SELECT that reads the stage is run
  there only by ``diff=true`` (which stages the rows), and otherwise judged by the plan's
  transaction, whose ledger row records what it found.

``apply_plan`` reads the SELECTs back from the plan file's ``business_check`` step (each is
framed by a comment naming it), so the verdict runs the text that step runs.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import polars as pl

from work_data_hub.config import DomainConfig
from work_data_hub.config.business_checks import (
    BROKEN_STATUS,
    CHECK_KINDS,
    BusinessCheck,
    BusinessCheckResult,
    ContinuityOptions,
    CoverageOptions,
    Severity,
    Status,
    VolumeOptions,
)
from work_data_hub.config.checks import ACCEPT_CHECKS
from work_data_hub.config.domains import stage_table
from work_data_hub.load.checks import BusinessSelect, CheckResult
from work_data_hub.load.sql import literal, quote
from work_data_hub.rows import SOURCE_FILE, SOURCE_ROW, CleanRows

logger = logging.getLogger(__name__)

# --- the delivery's facts, as literals --------------------------------------------------------


def _counts(rows: CleanRows, columns: Sequence[str]) -> pl.DataFrame:
    """Rows per combination of ``columns`` over all kept rows (read a file at a time)."""
    parts = [
        frame.group_by(list(columns)).len("rows")
        for frame in rows.read_columns(list(columns))
        if frame.height
    ]
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


def _share(value: float | None) -> str:
    return f"{value:g}"


def _period(expression: str) -> str:
    return f"pg_catalog.to_char({expression}, 'YYYY-MM')"


def _volume(check: BusinessCheck, domain: DomainConfig, rows: CleanRows) -> str:
    """Rows per delivered period against the rows the warehouse holds for it (a correction)
    or, for a new period, for the newest earlier period (delivered or held)."""
    options = check.options_as(VolumeOptions)
    assert check.period is not None
    period = quote(check.period)
    table = quote(domain.table)
    counts = _counts(rows, [check.period])
    delivered = _values(
        ([_typed(p, "date"), f"{n}::bigint"] for p, n in counts.iter_rows()), ["period", "rows"]
    )
    bounds = []
    band = []
    if options.max_drop is not None:
        bounds.append(f"compared.rows < compared.basis_rows * (1 - {_share(options.max_drop)})")
        band.append(f"max_drop {_share(options.max_drop)}")
    if options.max_growth is not None:
        bounds.append(f"compared.rows > compared.basis_rows * (1 + {_share(options.max_growth)})")
        band.append(f"max_growth {_share(options.max_growth)}")
    return f"""WITH delivered AS (SELECT * FROM {delivered}),
compared AS (
    SELECT delivered.period, delivered.rows,
        COALESCE(NULLIF(held.rows, 0), earlier.rows) AS basis_rows,
        CASE WHEN held.rows > 0 THEN delivered.period ELSE earlier.period END AS basis_period,
        CASE WHEN held.rows = 0 AND earlier.delivered THEN 'this delivery brings'
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
SELECT {_period("compared.period")} AS position, pg_catalog.format(
        '%s: %s rows delivered, %s %s rows for %s (a %s of %s%%; {", ".join(band)})',
        {_period("compared.period")}, compared.rows, compared.basis_source,
        compared.basis_rows, {_period("compared.basis_period")},
        CASE WHEN compared.rows < compared.basis_rows THEN 'drop' ELSE 'growth' END,
        pg_catalog.round(abs(compared.rows - compared.basis_rows) * 100.0
                         / compared.basis_rows, 1)) AS message
FROM compared
WHERE compared.basis_rows > 0 AND ({" OR ".join(bounds)})"""


def _by_values(
    domain: DomainConfig, period: str, by: Sequence[str], records: Iterable[Sequence[Any]]
) -> Iterable[list[str]]:
    for record in records:
        yield [
            _typed(record[0], "date"),
            *(
                _typed(value, domain.columns[column].type)
                for value, column in zip(record[1 : 1 + len(by)], by, strict=True)
            ),
            *(str(value) for value in record[1 + len(by) :]),
        ]


def _coverage(check: BusinessCheck, domain: DomainConfig, rows: CleanRows) -> str:
    """Combinations of ``by`` the warehouse holds for a delivered period and the delivery lacks."""
    options = check.options_as(CoverageOptions)
    assert check.period is not None
    by = list(options.by)
    counts = _counts(rows, [check.period, *by]).drop("rows")
    names = ["period", *(f"by{i}" for i in range(len(by)))]
    delivered = _values(_by_values(domain, check.period, by, counts.iter_rows()), names)
    period = quote(check.period)
    columns = ", ".join(f"target.{quote(column)}" for column in by)
    matches = " AND ".join(
        f"d.by{i} IS NOT DISTINCT FROM target.{quote(column)}" for i, column in enumerate(by)
    )
    shown = ", ".join(
        f"{literal(column + '=')} || COALESCE(missing.{quote(column)}::text, 'NULL')"
        for column in by
    )
    return f"""WITH delivered AS (SELECT * FROM {delivered}),
missing AS (
    SELECT target.{period} AS period, {columns}, count(*) AS rows
    FROM {quote(domain.table)} AS target
    WHERE target.{period} IN (SELECT d.period FROM delivered AS d)
        AND NOT EXISTS (
            SELECT 1 FROM delivered AS d WHERE d.period = target.{period} AND {matches})
    GROUP BY target.{period}, {columns}
)
SELECT {_period("missing.period")} || pg_catalog.to_char(1e9 - missing.rows, '0000000000')
        AS position,
    pg_catalog.format('%s: %s holds %s rows in the warehouse and none in this delivery',
        {_period("missing.period")}, pg_catalog.concat_ws(', ', {shown}), missing.rows) AS message
FROM missing"""


def _continuity(check: BusinessCheck, domain: DomainConfig) -> str:
    """Keys whose opening in a delivered month differs from their closing of the month before
    in the warehouse, for the months whose previous month this delivery does not bring.

    It reads the delivery from the plan's stage (the rows its COPY just staged), so the plan
    carries no copy of the delivery's keys: only the plan's own transaction (and a diff's, which
    stages the same rows) evaluates it. Set-based: both sides are summed per key once and
    joined by hash (a key is compared as its values' text, NULL included).
    """
    options = check.options_as(ContinuityOptions)
    assert check.period is not None
    by = list(options.by)
    period = quote(check.period)
    table = quote(domain.table)
    stage = f"pg_temp.{quote(stage_table(domain.name))}"
    staged_by = ", ".join(f"staged.{quote(name)}" for name in by)
    staged_key = ", ".join(f"staged.{quote(name)}::text" for name in by)
    target_key = ", ".join(f"target.{quote(name)}::text" for name in by)
    by_columns = ", ".join(f"staged.{quote(name)} AS by{i}" for i, name in enumerate(by))
    keys = ", ".join(
        f"{literal(name + '=')} || COALESCE(d.by{i}::text, 'NULL')" for i, name in enumerate(by)
    )

    def places(alias: str) -> str:
        return (
            f"pg_catalog.min({alias}.{quote(SOURCE_FILE)}) || ' row ' "
            f"|| pg_catalog.min({alias}.{quote(SOURCE_ROW)}) || CASE WHEN count(*) > 1 "
            "THEN ' and ' || (count(*) - 1) || ' more' ELSE '' END"
        )

    # The delivered keys are summed only when the warehouse holds a month to compare with
    # (a first load compares nothing): the EXISTS is evaluated once, before the stage is read.
    return f"""WITH months AS (
    SELECT DISTINCT staged.{period} AS period FROM {stage} AS staged
    WHERE staged.{period} IS NOT NULL
),
alone AS (
    SELECT months.period FROM months
    WHERE (months.period - interval '1 month')::date NOT IN (SELECT m.period FROM months AS m)
),
previous AS (
    SELECT (target.{period} + interval '1 month')::date AS period, ARRAY[{target_key}] AS key,
        sum(target.{quote(options.closing)}) AS closing, {places("target")} AS places
    FROM {table} AS target
    WHERE target.{period} IN (SELECT (alone.period - interval '1 month')::date FROM alone)
    GROUP BY target.{period}, {", ".join(f"target.{quote(name)}" for name in by)}
),
delivered AS (
    SELECT staged.{period} AS period, {by_columns}, ARRAY[{staged_key}] AS key,
        sum(staged.{quote(options.opening)}) AS opening, {places("staged")} AS places
    FROM {stage} AS staged
    WHERE staged.{period} IN (SELECT alone.period FROM alone) AND EXISTS (SELECT 1 FROM previous)
    GROUP BY staged.{period}, {staged_by}
),
compared AS (
    SELECT d.*, previous.closing, previous.places AS previous_places
    FROM delivered AS d
    JOIN previous ON previous.period = d.period AND previous.key = d.key
)
SELECT {_period("d.period")} || d.places AS position, pg_catalog.format(
        '%s: %s of %s is %s (%s), %s of %s in the warehouse is %s (%s), off by %s',
        pg_catalog.concat_ws(', ', {keys}), {literal(options.opening)},
        {_period("d.period")}, pg_catalog.trim_scale(d.opening), d.places,
        {literal(options.closing)}, {_period("d.period - interval '1 month'")},
        pg_catalog.trim_scale(d.closing), d.previous_places,
        pg_catalog.trim_scale(d.opening - d.closing)) AS message
FROM compared AS d
WHERE abs(d.opening - d.closing) > {_share(options.tolerance)}"""


# Violations the delivery showed that a plan spells out; the rest are counted (the rejects
# file and the run report list every one).
LISTED_IN_PLAN = 50


def _found(result: BusinessCheckResult) -> str | None:
    """What the delivery alone showed broken, as literal rows (None when it held)."""
    if result.status not in BROKEN_STATUS.values() and result.status != "accepted":
        return None
    details = list(result.details or (result.message,))
    if len(details) > LISTED_IN_PLAN:
        more = len(details) - LISTED_IN_PLAN
        details = [*details[:LISTED_IN_PLAN], f"and {more} more (see the run report)"]
    return ",\n".join(
        f"({literal(f'{n:06d}')}, {literal(detail)})" for n, detail in enumerate(details)
    )


def business_selects(
    domain: DomainConfig,
    rows: CleanRows,
    delivery_results: Sequence[BusinessCheckResult],
) -> tuple[BusinessSelect, ...]:
    """The domain's checks as SELECTs: their warehouse comparisons and their delivery's
    violations (literals), one SELECT per check, none for a check with nothing to ask."""
    selects = []
    for check in domain.business_checks:
        parts: list[str] = []
        found = [
            literal_rows
            for result in delivery_results
            if result.name == check.name and (literal_rows := _found(result))
        ]
        if found:
            listed = ",\n".join(found)
            parts.append(f"SELECT * FROM (VALUES\n{listed}\n) AS seen(position, message)")
        if len(rows) and check.kind == "volume":
            parts.append(_volume(check, domain, rows))
        elif len(rows) and check.kind == "coverage":
            parts.append(_coverage(check, domain, rows))
        reads_stage = bool(len(rows)) and check.kind == "continuity"
        if reads_stage:
            parts.append(_continuity(check, domain))
        if not parts:
            continue
        union = "\nUNION ALL\n".join(f"({part})" for part in parts)
        sql = (
            "SELECT pg_catalog.string_agg(found.message, '; ' ORDER BY found.position) "
            "AS message, NULL::text AS hint\nFROM (\n"
            f"{union}\n) AS found HAVING count(*) > 0"
        )
        selects.append(BusinessSelect(check.name, check.severity, sql, reads_stage))
    return tuple(selects)


# --- the verdict ---------------------------------------------------------------------------

# What a check that only the plan's transaction evaluates says before it runs (its ledger row has
# what it found).
IN_TRANSACTION = (
    "compared with the warehouse inside the plan's transaction (it was not read when "
    "the plan was made)"
)


def accept_settings(accepted: Sequence[str]) -> dict[str, str]:
    """The session settings ``accept_checks`` stands for."""
    return {ACCEPT_CHECKS.setting: ",".join(accepted)} if accepted else {}


def verdicts(
    selects: Sequence[BusinessSelect], found: Sequence[CheckResult], *, rows_staged: bool
) -> list[BusinessCheckResult]:
    """Each SELECT's verdict from what the registry's read-only run found (``rows_staged``:
    that run had the plan's rows staged, so the SELECTs that read them ran too)."""
    results = []
    for select in selects:
        hits = [result for result in found if result.check.name == select.name]
        kind = CHECK_KINDS[select.name].name
        severity: Severity = "warn" if select.severity == "warn" else "error"
        if select.reads_stage and not rows_staged:
            results.append(
                BusinessCheckResult(
                    select.name,
                    kind,
                    severity,
                    "not_evaluated",
                    IN_TRANSACTION,
                    reads_warehouse=True,
                )
            )
            continue
        if not hits:
            results.append(
                BusinessCheckResult(
                    select.name, kind, severity, "passed", "holds", reads_warehouse=True
                )
            )
            continue
        status: Status = (
            "warned" if severity == "warn" else ("accepted" if hits[0].overridden else "failed")
        )
        message = "; ".join(hit.message for hit in hits)
        results.append(
            BusinessCheckResult(
                select.name,
                kind,
                severity,
                status,
                message,
                periods=tuple(sorted(set(re.findall(r"\b(\d{4}-\d{2}):", message)))),
                details=tuple(message.split("; ")),
                reads_warehouse=True,
            )
        )
    return results


def final_results(
    delivery: Sequence[BusinessCheckResult],
    selects: Sequence[BusinessSelect],
    evaluated: Sequence[BusinessCheckResult] | None,
) -> tuple[BusinessCheckResult, ...]:
    """What the plan says of its checks: with the warehouse read, each SELECT's verdict (it
    covers the delivery's own violations too); without, the delivery's results and, for the
    checks that compare with the warehouse, that the plan's transaction will."""
    if evaluated is not None:
        # A verdict covers the delivery's own violations, unless it could not read the table.
        broken = {r.name for r in delivery if r.status in ("failed", "warned", "accepted")}
        kept = [
            r
            for r in evaluated
            if not (r.status in ("passed", "not_evaluated") and r.name in broken)
        ]
        judged = {result.name for result in kept}
        return (*[r for r in delivery if r.name not in judged], *kept)
    waiting = [
        BusinessCheckResult(
            select.name,
            CHECK_KINDS[select.name].name,
            "warn" if select.severity == "warn" else "error",
            "not_evaluated",
            IN_TRANSACTION,
            reads_warehouse=True,
        )
        for select in selects
        if CHECK_KINDS[select.name].evaluated == "delivery"
    ]
    return (*delivery, *waiting)


def judged_in_transaction(
    checks: Sequence[BusinessCheckResult], recorded: Sequence[Mapping[str, Any]]
) -> tuple[BusinessCheckResult, ...]:
    """``checks`` with the verdicts of those only the plan's transaction evaluated: what it let
    through (``recorded``, its ledger row's checks), else held (it refuses a failed error)."""
    judged = []
    for check in checks:
        if check.status != "not_evaluated":
            judged.append(check)
            continue
        found = [entry for entry in recorded if entry.get("name") == check.name]
        if not found:
            judged.append(replace(check, status="passed", message="holds"))
            continue
        message = "; ".join(str(entry.get("message", "")) for entry in found)
        judged.append(
            replace(
                check,
                status="accepted" if found[0].get("status") == "accepted" else "warned",
                message=message,
                periods=tuple(sorted(set(re.findall(r"\b(\d{4}-\d{2}):", message)))),
                details=tuple(message.split("; ")),
            )
        )
    return tuple(judged)


# Check lines the console shows; the run report and the plan list all of them.
CONSOLE_CHECK_LINES = 20


def log_check_results(domain: str, checks: Sequence[BusinessCheckResult]) -> None:
    """Warnings and accepted checks on the console, at most CONSOLE_CHECK_LINES lines."""
    noted = [check for check in checks if check.status in ("warned", "accepted")]
    lines = [
        f"{domain}: check {check.name} {check.status}: {detail}"
        for check in noted
        for detail in (check.details or (check.message,))
    ]
    for line in lines[:CONSOLE_CHECK_LINES]:
        logger.warning("%s", line, extra={"event": "check", "domain": domain})
    if len(lines) > CONSOLE_CHECK_LINES:
        logger.warning(
            "%s: and %s more check line(s), listed in the run report and the plan",
            domain,
            len(lines) - CONSOLE_CHECK_LINES,
        )


def with_accepted(
    results: Iterable[BusinessCheckResult], accepted: Sequence[str]
) -> tuple[BusinessCheckResult, ...]:
    """``results`` with the failed checks a person accepted marked ``accepted``."""
    return tuple(result.accepted() if result.name in accepted else result for result in results)


__all__ = [
    "BusinessSelect",
    "accept_settings",
    "business_selects",
    "final_results",
    "judged_in_transaction",
    "log_check_results",
    "verdicts",
    "with_accepted",
]
