"""The checks' SQL, registered against their declarations (:mod:`work_data_hub.config.checks`).

An implementation returns one read-only SELECT with one row per violation and two columns,
``message`` (built by SQL ``format()``) and ``hint`` (NULL: the declaration's hint), built only
from literals the plan carries (:class:`CheckSubject`). The same SELECT runs

- inside the plan, as a guard: :func:`guard_block` loops over it and RAISEs EXCEPTION (severity
  ``error``, not overridden) or WARNING (``warn``, or overridden by its session setting);
- read-only, by the warehouse client, to build the :class:`PlanVerdict` ``apply_plan`` and
  ``diff=true`` print (:func:`work_data_hub.warehouse.checks.run_checks`).

Unqualified names resolve in the target table's schema: the plan pins its search_path to it,
and the read-only client pins the same one. A check whose tables do not exist yet finds nothing.
Registration fails loudly: an unknown or duplicate name at import, a declaration with no SQL
when the registry is read.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from work_data_hub.config.business_checks import CHECK_KINDS
from work_data_hub.config.checks import (
    ACCEPT_CHECKS,
    ALREADY_APPLIED,
    CHECKS,
    FORCE_STALE,
    MISSING_GRANTS,
    MODIFIED,
    MODIFIED_ROWS,
    REJECTED_ROWS,
    STALE,
    UNDO_STALE,
    UNDO_TARGET,
    UNDONE_ALREADY,
    CheckDeclaration,
    CheckOptions,
    GuardStep,
)
from work_data_hub.config.domains import stage_table
from work_data_hub.load.history import (
    UNDO_HISTORY_PRIVILEGES,
    UNDO_MODE,
    UNDO_PRIVILEGES,
    history_table,
    replaced_by_later_runs_sql,
)
from work_data_hub.load.ledger import CHECKS_SETTING, LEDGER_TABLE, UNDOES_RUN
from work_data_hub.load.modes import LOAD_MODES
from work_data_hub.load.rows_digest import ROWS_DIGEST_PLACEHOLDER, digest_sql
from work_data_hub.load.sql import literal, quote, text_array
from work_data_hub.load.summary import CHECKSUM_PLACEHOLDER, PlanSummary

_NOTHING = "SELECT NULL::text AS message, NULL::text AS hint WHERE false"
_FRAME = re.compile(
    r"/\* wdh-business-check (?P<json>\{[^*]*\}) \*/(?P<sql>.*?)/\* wdh-business-check-end \*/",
    re.DOTALL,
)


@dataclass(frozen=True)
class BusinessSelect:
    """One business check of a domain as its SELECT (a row when broken: message, hint)."""

    name: str
    severity: str
    sql: str
    # It reads the plan's stage (the delivery's rows), which only a transaction that staged
    # them has: the plan's own, or a diff's.
    reads_stage: bool = False

    @property
    def framed(self) -> str:
        """The SELECT between comments that name it (read back from a saved plan)."""
        facts = json.dumps(
            {"name": self.name, "severity": self.severity, "reads_stage": self.reads_stage}
        )
        return f"/* wdh-business-check {facts} */ {self.sql} /* wdh-business-check-end */"


def selects_of_steps(steps: Iterable[Any]) -> tuple[BusinessSelect, ...]:
    """The business checks' SELECTs a saved plan's steps carry."""
    found = []
    for step in steps:
        for match in _FRAME.finditer(step.sql):
            facts = json.loads(match["json"])
            found.append(
                BusinessSelect(
                    facts["name"],
                    facts["severity"],
                    match["sql"].strip(),
                    bool(facts.get("reads_stage")),
                )
            )
    return tuple(found)


@dataclass(frozen=True)
class CheckSubject:
    """The literals of one plan that a check's SQL may use."""

    domain: str
    table: str
    mode: str
    created_at: str
    run_id: str
    plan_sha256: str = CHECKSUM_PLACEHOLDER
    # The domain's business checks as the plan carries them (load.business_checks).
    business: tuple[BusinessSelect, ...] = ()
    # The staged columns and their SQL types, in COPY order (empty: a plan read back, whose
    # rows only its own transaction stages).
    staged: tuple[tuple[str, str], ...] = ()
    # An undo plan: the run it undoes.
    undo_of: str | None = None
    # The transaction the checks run in has the plan's rows in its stage (the plan's own
    # after its COPY, or a diff's); a business check that reads the stage runs only there.
    rows_staged: bool = False

    @classmethod
    def of(cls, summary: PlanSummary, steps: Iterable[Any] = ()) -> CheckSubject:
        """The subject of a plan from its summary (and, read back, its steps' business checks)."""
        return cls(
            summary.domain,
            summary.table,
            summary.mode,
            summary.created_at,
            summary.run_id,
            summary.plan_sha256,
            selects_of_steps(steps),
            undo_of=summary.undo_of,
        )

    @property
    def made_at(self) -> str:
        """``created_at`` as PostgreSQL reads it (microseconds, offset), one spelling."""
        return dt.datetime.fromisoformat(self.created_at).isoformat(timespec="microseconds")

    @property
    def privileges(self) -> tuple[str, ...]:
        return UNDO_PRIVILEGES if self.mode == UNDO_MODE else LOAD_MODES[self.mode].privileges

    @property
    def history_privileges(self) -> tuple[str, ...]:
        """The grants the plan needs on the table's history (none: it does not write it)."""
        if self.mode == UNDO_MODE:
            return UNDO_HISTORY_PRIVILEGES
        return LOAD_MODES[self.mode].history_privileges


@dataclass(frozen=True)
class CheckQuery:
    """A check's SELECT for one plan, and the tables (in the target's schema) it reads."""

    check: CheckDeclaration
    sql: str
    reads_tables: tuple[str, ...] = ()

    def tables_exist_sql(self) -> str:
        """A boolean SQL expression: every table the SELECT reads exists (else: no violation)."""
        if not self.reads_tables:
            return "true"
        return (
            "(SELECT pg_catalog.bool_and(pg_catalog.to_regclass(pg_catalog.format("
            "'%I.%I', pg_catalog.current_schema(), wanted)) IS NOT NULL) "
            f"FROM pg_catalog.unnest({text_array(list(self.reads_tables))}) AS wanted)"
        )

    def overridden_sql(self) -> str:
        """A boolean SQL expression: the session lifted this check's refusal."""
        override = self.check.override
        if self.check.severity == "warn":
            return "true"
        if override is None:
            return "false"
        setting = f"coalesce(pg_catalog.current_setting({literal(override.setting)}, true), '')"
        if override.by_name:
            return f"{literal(self.check.name)} = ANY(pg_catalog.string_to_array({setting}, ','))"
        return f"{setting} = 'on'"


# None: the check has nothing to look at in this plan (an undo's checks, in a load's plan).
CheckSql = Callable[[CheckSubject, CheckOptions], CheckQuery | None]
_IMPLEMENTATIONS: dict[str, CheckSql] = {}


def register_check(name: str) -> Callable[[CheckSql], CheckSql]:
    """Register the SQL of the declared check ``name``; unknown or twice is an error."""
    declaration = CHECKS.get(name)
    if declaration is None:
        raise ValueError(f"check {name!r} is not declared in work_data_hub.config.checks")
    if declaration.evaluated != "sql":
        raise ValueError(f"check {name!r} is evaluated by {declaration.evaluated}, not by SQL")
    if name in _IMPLEMENTATIONS:
        raise ValueError(f"check {name!r} is registered twice")

    def decorate(function: CheckSql) -> CheckSql:
        _IMPLEMENTATIONS[name] = function
        return function

    return decorate


def sql_checks() -> list[CheckDeclaration]:
    """Every check evaluated by SQL, in declaration order; a missing implementation fails."""
    declared = [check for check in CHECKS.values() if check.evaluated == "sql"]
    missing = [check.name for check in declared if check.name not in _IMPLEMENTATIONS]
    if missing:
        raise RuntimeError(f"declared check(s) without SQL in work_data_hub.load.checks: {missing}")
    return declared


def check_queries(
    subject: CheckSubject,
    *,
    step: GuardStep | None = None,
    options: Mapping[str, CheckOptions] | None = None,
) -> list[CheckQuery]:
    """The SELECT of every SQL check (of the plan step ``step`` only, when given)."""
    chosen = options or {}
    queries = (
        # Unvalidated defaults: a check whose options are per domain builds its SQL elsewhere.
        _IMPLEMENTATIONS[check.name](
            subject, chosen.get(check.name) or check.options.model_construct()
        )
        for check in sql_checks()
        if step is None or check.guard_step == step
    )
    return [query for query in queries if query is not None]


def guard_block(queries: Sequence[CheckQuery]) -> str:
    """PL/pgSQL (a nested block) refusing the plan on the first violation of an error check."""
    if not queries:
        return ""
    loops = []
    for query in queries:
        name = literal(query.check.name)
        hint = f"coalesce(violation.hint, {literal(query.check.hint)})"
        loops.append(f"""
    IF {query.tables_exist_sql()} THEN
        FOR violation IN {query.sql} LOOP
            IF {query.overridden_sql()} THEN
                RAISE WARNING '%: %', {name}, violation.message USING HINT = {hint};
                {_recorded(query)}
            ELSE
                RAISE EXCEPTION '%: %', {name}, violation.message USING HINT = {hint};
            END IF;
        END LOOP;
    END IF;""")
    return "\nDECLARE\n    violation record;\nBEGIN" + "".join(loops) + "\nEND;\n"


def _recorded(query: CheckQuery) -> str:
    """Add a violation the guard let through to ``wdh.checks`` (the ledger row stores it)."""
    status = "warned" if query.check.severity == "warn" else "accepted"
    entry = (
        f"pg_catalog.jsonb_build_object('name', {literal(query.check.name)}, 'severity', "
        f"{literal(query.check.severity)}, 'status', {literal(status)}, 'message', "
        "violation.message)"
    )
    current = (
        f"COALESCE(NULLIF(pg_catalog.current_setting({literal(CHECKS_SETTING)}, true), ''), "
        "'[]')::jsonb"
    )
    return (
        f"PERFORM pg_catalog.set_config({literal(CHECKS_SETTING)}, ({current} || "
        f"pg_catalog.jsonb_build_array({entry}))::text, true);"
    )


def guard_sql(subject: CheckSubject, step: GuardStep = "guard") -> str:
    """A ``DO`` block running the checks of the plan step ``step`` (the ``guard`` step's)."""
    body = "\nBEGIN\n" + guard_block(check_queries(subject, step=step)) + "END\n"
    tag = f"$wdh_{step}_guard$" if step != "guard" else "$wdh_guard$"
    if tag in body:
        raise ValueError(f"domain {subject.domain!r}: a name contains {tag}")
    return f"DO {tag}{body}{tag}"


# --- the verdict ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckResult:
    """One violation a check found, and whether it refuses the plan."""

    check: CheckDeclaration
    message: str
    hint: str | None = None
    overridden: bool = False

    @property
    def refuses(self) -> bool:
        return self.check.severity == "error" and not self.overridden

    @property
    def text(self) -> str:
        return f"{self.check.name}: {self.message}. {self.hint or self.check.hint}"


def overridden(check: CheckDeclaration, settings: Mapping[str, str]) -> bool:
    """Whether session ``settings`` lift ``check`` (as :meth:`CheckQuery.overridden_sql`)."""
    override = check.override
    if check.severity == "warn":
        return True
    if override is None:
        return False
    value = settings.get(override.setting, "")
    return check.name in value.split(",") if override.by_name else value == "on"


@dataclass(frozen=True)
class PlanVerdict:
    """What checking a saved plan found. ``refusals`` is empty when it may be applied."""

    plan_path: str
    summary: PlanSummary
    results: tuple[CheckResult, ...]
    # The session settings the plan will be applied with (the overrides), e.g. force=true's.
    settings: Mapping[str, str] = field(default_factory=dict)

    @property
    def forced(self) -> bool:
        return self.settings.get(FORCE_STALE.setting) == "on"

    @property
    def accepted(self) -> tuple[str, ...]:
        """The business checks ``accept_checks`` accepts for this application."""
        return tuple(
            name for name in self.settings.get(ACCEPT_CHECKS.setting, "").split(",") if name
        )

    # The names a LoadPlan gives them, so the run report reads a verdict like a plan.
    @property
    def table(self) -> str:
        return self.summary.table

    @property
    def mode(self) -> str:
        return self.summary.mode

    @property
    def rows_to_insert(self) -> int:
        return self.summary.rows_to_insert

    @property
    def refusals(self) -> list[str]:
        return [result.text for result in self.results if result.refuses]

    @property
    def warnings(self) -> list[str]:
        return [result.text for result in self.results if not result.refuses]

    @property
    def text(self) -> str:
        """The verdict in one paragraph, as the log and the refusal show it."""
        refusals = self.refusals
        if refusals:
            return "The plan is refused: " + " ".join(refusals)
        lifted = f" (lifted or warnings: {' '.join(self.warnings)})" if self.warnings else ""
        return f"The plan passes every check{lifted}: it can be applied."


def modified_result(plan_path: str, summary: PlanSummary, intact: bool) -> CheckResult | None:
    """The ``modified`` check, evaluated by the checksum verification of the plan file."""
    if intact:
        return None
    return CheckResult(
        MODIFIED,
        f"{plan_path} no longer matches its checksum {summary.plan_sha256}",
    )


def rejected_rows_result(summary: PlanSummary, max_reject_ratio: float) -> CheckResult | None:
    """The ``rejected rows`` check: the plan's rejects within ``max_reject_ratio``, as
    ``execute=true`` refuses them before it connects."""
    if not summary.rows_rejected or not summary.rows_read:
        return None
    ratio = summary.rows_rejected / summary.rows_read
    if ratio <= max_reject_ratio:
        return None
    return CheckResult(
        REJECTED_ROWS,
        f"{summary.rows_rejected} of {summary.rows_read} rows were rejected ({ratio:.2%}, above "
        f"max_reject_ratio {max_reject_ratio:.2%})",
    )


def force_settings(force: bool) -> dict[str, str]:
    """The session settings ``force=true`` stands for (lifting the staleness check)."""
    return {FORCE_STALE.setting: "on"} if force else {}


# --- the SQL of each check -----------------------------------------------------------------


@register_check(ALREADY_APPLIED.name)
def _already_applied(subject: CheckSubject, options: CheckOptions) -> CheckQuery:
    sha = literal(subject.plan_sha256)
    sql = (
        "SELECT pg_catalog.format('run %s applied this plan (%s) at %s (see %s); a plan is "
        f"applied once and the table is unchanged', load.run_id, {sha}, load.committed_at, "
        f"{literal(LEDGER_TABLE)}) AS message, NULL::text AS hint\n"
        f"        FROM {quote(LEDGER_TABLE)} AS load WHERE load.plan_sha256 = {sha} LIMIT 1"
    )
    return CheckQuery(ALREADY_APPLIED, sql, (LEDGER_TABLE,))


@register_check(STALE.name)
def _stale(subject: CheckSubject, options: CheckOptions) -> CheckQuery:
    made_at = f"{literal(subject.made_at)}::timestamptz"
    sql = (
        "SELECT pg_catalog.format('the plan was made at %s, but run %s committed a newer load "
        f"of domain %s at %s; the table is unchanged', {made_at}, load.run_id, "
        f"{literal(subject.domain)}, load.committed_at) AS message, NULL::text AS hint\n"
        f"        FROM {quote(LEDGER_TABLE)} AS load\n"
        f"        WHERE load.domain = {literal(subject.domain)} AND load.committed_at > {made_at}"
        # Not this plan's own load (the run that made it): that is "already applied".
        f" AND load.run_id <> {literal(subject.run_id)}\n"
        "        ORDER BY load.committed_at DESC LIMIT 1"
    )
    return CheckQuery(STALE, sql, (LEDGER_TABLE,))


@register_check(MISSING_GRANTS.name)
def _missing_grants(subject: CheckSubject, options: CheckOptions) -> CheckQuery:
    def wanted(table: str, privileges: tuple[str, ...]) -> str:
        name = f"pg_catalog.format('%I.%I', pg_catalog.current_schema(), {literal(table)})"
        return f"({name}, {text_array(list(privileges))}, {literal(', '.join(privileges))})"

    rows = [wanted(subject.table, subject.privileges)]
    if subject.history_privileges:
        rows.append(wanted(history_table(subject.table), subject.history_privileges))
    sql = (
        "SELECT pg_catalog.format('role %s lacks %s on table %s (mode %s needs %s)', "
        f"current_user, lacking.missing, lacking.target, {literal(subject.mode)}, lacking.needs)"
        " AS message,\n"
        "            pg_catalog.format('GRANT %s ON %s TO %I', lacking.missing, lacking.target, "
        "current_user) AS hint\n"
        "        FROM (SELECT target.name AS target, target.needs, "
        "pg_catalog.string_agg(privilege, ', ') AS missing\n"
        f"            FROM (VALUES {', '.join(rows)}) AS target(name, privileges, needs), "
        "pg_catalog.unnest(target.privileges) AS privilege\n"
        "            WHERE CASE WHEN pg_catalog.to_regclass(target.name) IS NULL THEN false\n"
        "                ELSE NOT pg_catalog.has_table_privilege(target.name, privilege) END\n"
        "            GROUP BY target.name, target.needs) AS lacking"
    )
    return CheckQuery(MISSING_GRANTS, sql, (subject.table,))


@register_check(MODIFIED_ROWS.name)
def _modified_rows(subject: CheckSubject, options: CheckOptions) -> CheckQuery:
    """The digest of the staged rows against the one the plan declares (load.rows_digest).

    Only the plan's own transaction has the rows staged: a plan read back (no ``staged``
    columns) is checked by its checksum instead (``modified``), so this finds nothing there.
    """
    declared = literal(ROWS_DIGEST_PLACEHOLDER)
    if not subject.staged:
        return CheckQuery(
            MODIFIED_ROWS, "SELECT NULL::text AS message, NULL::text AS hint WHERE false"
        )
    stage = f"pg_temp.{quote(stage_table(subject.domain))}"
    columns = [(quote(column), column_type) for column, column_type in subject.staged]
    sql = (
        "SELECT pg_catalog.format('the rows COPY staged have digest %s, the plan declares %s',"
        f" computed.digest, {declared}) AS message, NULL::text AS hint\n"
        f"        FROM ({digest_sql(stage, columns)}) AS computed\n"
        f"        WHERE computed.digest <> {declared}"
    )
    return CheckQuery(MODIFIED_ROWS, sql)


@register_check(UNDO_TARGET.name)
def _undo_target(subject: CheckSubject, options: CheckOptions) -> CheckQuery | None:
    if subject.undo_of is None:
        return None
    run, domain = literal(subject.undo_of), literal(subject.domain)
    sql = (
        f"SELECT pg_catalog.format('run %s wrote no load of domain %s (see %s); the table is "
        f"unchanged', {run}, {domain}, {literal(LEDGER_TABLE)}) AS message, NULL::text AS hint\n"
        f"        WHERE NOT EXISTS (SELECT 1 FROM {quote(LEDGER_TABLE)} AS load "
        f"WHERE load.run_id = {run} AND load.domain = {domain})"
    )
    return CheckQuery(UNDO_TARGET, sql)


@register_check(UNDONE_ALREADY.name)
def _undone_already(subject: CheckSubject, options: CheckOptions) -> CheckQuery | None:
    if subject.undo_of is None:
        return None
    run, domain = literal(subject.undo_of), literal(subject.domain)
    sql = (
        "SELECT pg_catalog.format('run %s undid run %s at %s; the table is unchanged', "
        f"undo.run_id, {run}, undo.committed_at) AS message,\n"
        "            pg_catalog.format('a load is undone once; to bring it back, undo that undo: "
        "kedro run --pipelines undo --params run=%s', undo.run_id) AS hint\n"
        f"        FROM {quote(LEDGER_TABLE)} AS undo\n"
        f"        WHERE undo.{quote(UNDOES_RUN)} = {run} AND undo.domain = {domain}"
    )
    return CheckQuery(UNDONE_ALREADY, sql, (LEDGER_TABLE,))


@register_check(UNDO_STALE.name)
def _undo_stale(subject: CheckSubject, options: CheckOptions) -> CheckQuery | None:
    if subject.undo_of is None:
        return None
    run = literal(subject.undo_of)
    later = replaced_by_later_runs_sql(
        subject.undo_of, domain=subject.domain, table=subject.table
    ).replace("\n", "\n        ")
    sql = (
        "SELECT pg_catalog.format('run %s (committed at %s) replaced %s row(s) that run %s "
        "wrote, so undoing %s would not give the table as it was before it; the table is "
        f"unchanged', later.run_id, later.committed_at, later.rows, {run}, {run}) AS message, "
        "NULL::text AS hint\n"
        f"        FROM ({later}) AS later ORDER BY later.committed_at"
    )
    return CheckQuery(UNDO_STALE, sql, (LEDGER_TABLE, subject.table, history_table(subject.table)))


# --- the business checks of data_sources.yml ------------------------------------------------
# Each domain's business check is a SELECT built when its plan is made (load.business_checks)
# from the delivery's facts; the plan carries it, framed by comments that name it, in its
# ``business_check`` step, and a saved plan's subject reads it back from there.


def _business_check(name: str) -> None:
    @register_check(name)
    def business_check(subject: CheckSubject, options: CheckOptions) -> CheckQuery | None:
        chosen = next((s for s in subject.business if s.name == name), None)
        if chosen is None:
            return CheckQuery(CHECKS[name], _NOTHING)
        if chosen.reads_stage and not subject.rows_staged:
            return None  # judged by the plan's own transaction (its verdict says so)
        # The domain's severity, not the declaration's.
        declared = replace(CHECKS[name], severity=chosen.severity)  # type: ignore[arg-type]
        return CheckQuery(declared, chosen.framed, reads_tables=(subject.table,))


for _kind in CHECK_KINDS:
    _business_check(_kind)


sql_checks()  # every SQL check declared is registered, or importing this module fails
