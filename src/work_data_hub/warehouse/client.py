"""The warehouse client: the one place that connects to PostgreSQL and drives a cursor.

It resolves the address when first needed (:func:`work_data_hub.warehouse.address.resolve_address`),
reads in ``READ ONLY`` transactions (the checks, the ledger, the diff), and applies a plan file
exactly: its own statements, in the one transaction they open and commit. A saved plan
(``apply_plan``) is verified first, then its rows are COPYed from the file a mebibyte at a time;
execute writes the plan and applies it in the same pass (:meth:`WarehouseClient.execute_plan`),
committing only once the finished file is verified to be what the server ran. Every driver error
becomes a :class:`LoadFailedError` naming the step, the server's reason and the warehouse,
never the password.
"""

from __future__ import annotations

import hashlib
import io
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import IO, Any, BinaryIO

from work_data_hub.config.domains import stage_table
from work_data_hub.config.warehouse import (
    WarehouseAddress,
    WarehouseConfigError,
    describe,
)
from work_data_hub.load.business_checks import accept_settings
from work_data_hub.load.checks import (
    CheckQuery,
    CheckResult,
    CheckSubject,
    check_queries,
    force_settings,
)
from work_data_hub.load.copy_format import copy_text
from work_data_hub.load.diff import DiffQuery
from work_data_hub.load.history import history_table
from work_data_hub.load.ledger import LEDGER_TABLE
from work_data_hub.load.plan import LoadPlan, Statement
from work_data_hub.load.plan_file import (
    PlanFileError,
    PlanStep,
    SavedPlan,
    read_saved_plan,
    read_written_plan,
)
from work_data_hub.load.psql import RowsStream, write_plan
from work_data_hub.load.row_diff import STAGE, DiffRows, RowDiffQuery
from work_data_hub.load.sql import quote
from work_data_hub.load.steps import Step
from work_data_hub.load.summary import PlanDiff, PlanSummary
from work_data_hub.load.table_changes import TableShape
from work_data_hub.load.undo import UndoneLoad, loads_of_run_sql
from work_data_hub.warehouse.address import resolve_address
from work_data_hub.warehouse.checks import pin_target_schema, run_checks
from work_data_hub.warehouse.connection import (
    WarehouseConnectionError,
    connect,
    interruptible,
    server_reason,
    without_wait_callback,
)
from work_data_hub.warehouse.errors import LoadFailedError
from work_data_hub.warehouse.ledger import LedgerReadError, LoadLedger
from work_data_hub.warehouse.results import LoadResult

logger = logging.getLogger(__name__)

# psycopg2 reads the COPY rows in pieces of this size (its default is 8 KiB).
COPY_READ_SIZE = 1 << 20


# How long execute's read of the checks waits for a table another session locks.
PRE_READ_LOCK_TIMEOUT_MS = 2000
_LOCK_NOT_AVAILABLE = "55P03"


class _TableLockedError(Exception):
    """A read-only read gave up waiting for a lock (SQLSTATE 55P03)."""


class WarehouseClient:
    """One warehouse, as the ``warehouse`` credentials entry (or ``WDH_DATABASE__*``) names it.

    Args:
        credentials: The catalog's ``warehouse`` credentials entry (``con``), if any.
        connect_timeout: Seconds to wait for the server when connecting.
        statement_timeout_ms: ``statement_timeout`` of the session applying a plan (0: none).

    Nothing is resolved, started or connected until a method needs the warehouse.
    """

    def __init__(
        self,
        credentials: dict[str, Any] | None = None,
        *,
        connect_timeout: int = 10,
        statement_timeout_ms: int = 0,
    ) -> None:
        self._credentials = dict(credentials or {})
        self._connect_timeout = connect_timeout
        self._statement_timeout_ms = statement_timeout_ms

    def address(self, domain: str) -> WarehouseAddress:
        """Where the warehouse is.

        Args:
            domain: The domain asking (named in the error).

        Raises:
            LoadFailedError: The address is misconfigured (the message names the setting).
        """
        try:
            return resolve_address(self._credentials)
        except WarehouseConfigError as exc:
            raise LoadFailedError(f"{domain}: {exc}; nothing was loaded.", domain=domain) from None

    def connection(self, address: WarehouseAddress, purpose: str) -> Any:
        """An autocommit connection (statements bring their own BEGIN and COMMIT).

        Args:
            address: Where to connect.
            purpose: What the connection is for, as the log line says it.

        Raises:
            LoadFailedError: The server cannot be reached.
        """
        try:
            return connect(address, connect_timeout=self._connect_timeout, purpose=purpose)
        except WarehouseConnectionError as exc:
            raise LoadFailedError(str(exc), warehouse=describe(address.url)) from None

    @contextmanager
    def read_only(self, domain: str, purpose: str) -> Iterator[tuple[Any, WarehouseAddress]]:
        """A cursor inside a ``READ ONLY`` transaction, rolled back and closed on exit.

        Args:
            domain: The domain asking (named in errors).
            purpose: What the reads are for, as the log line says it.

        Raises:
            LoadFailedError: The address is misconfigured or the server cannot be reached.
        """
        with self.read_write_then_read_only(domain, purpose) as (cursor, address, read_only):
            read_only()
            yield cursor, address

    def open_ledger(self) -> LoadLedger:
        """The ledger on a connection opened now (a wrong address fails here, before any work).

        Raises:
            LedgerReadError: The address is misconfigured.
            WarehouseConnectionError: The server cannot be reached.
        """
        try:
            address = resolve_address(self._credentials)
        except WarehouseConfigError as exc:
            raise LedgerReadError(
                f"{exc}; nothing was read or loaded.", settings=exc.fields["settings"]
            ) from None
        with interruptible():
            connection = connect(
                address, connect_timeout=self._connect_timeout, purpose="read the load ledger"
            )
        return LoadLedger(connection, address)

    # --- read-only: the checks and the diff ------------------------------------------------

    def run_checks(
        self,
        *,
        domain: str,
        table: str,
        queries: Sequence[CheckQuery],
        settings: Mapping[str, str],
    ) -> list[CheckResult]:
        """What the checks' SELECTs find, read-only, in the table's schema as the plan pins it.

        Args:
            domain: The plan's domain.
            table: Its target table (its schema is the one the checks read in).
            queries: The checks' SELECTs (:func:`work_data_hub.load.checks.check_queries`).
            settings: The session settings of the overrides (``force``), as the plan sees them.

        Raises:
            LoadFailedError: The warehouse cannot be reached or refuses a read.
        """
        with self.read_only(domain, "check a saved plan") as (cursor, address):
            try:
                return run_checks(cursor, table, queries, settings)
            except Exception as exc:
                if not hasattr(exc, "pgcode"):
                    raise
                raise LoadFailedError(
                    f"{domain}: the checks could not read the warehouse: "
                    f"{server_reason(exc)} Nothing was written.",
                    domain=domain,
                    table=table,
                    warehouse=describe(address.url),
                ) from None

    def diff(
        self, plan: LoadPlan, *, rows: bool = True, every_row: IO[bytes] | None = None
    ) -> tuple[PlanDiff, list[CheckResult], TableShape | None]:
        """What the plan would change, and what its checks find, in one transaction that
        writes nothing but a temporary table and is rolled back.

        The plan's rows are staged by COPY (the text the load sends, so values compare as
        they would be stored), then the transaction is made read-only: the checks, the counts
        and, with ``rows``, the rows it would remove, change and add (:mod:`load.row_diff`):
        the first of each kind in the diff, every one streamed to ``every_row`` as JSON lines.

        Args:
            plan: A plan built with its diff query and summary.
            rows: Whether to name the rows (else the counts only).
            every_row: Where every row goes, one line of JSON each (None: only the first).

        Raises:
            LoadFailedError: The plan has no diff query, or the warehouse refuses the read.
        """
        found, diff, shape = self._read(plan, diff=True, rows=rows, every_row=every_row)
        assert diff is not None
        return diff, found, shape

    def plan_checks(self, plan: LoadPlan) -> tuple[list[CheckResult], TableShape | None] | None:
        """What the plan's checks find, and the table's columns, read-only (execute=true reads
        them before applying).

        None when another session locks a table the checks read: the reading waits at most
        ``PRE_READ_LOCK_TIMEOUT_MS`` and leaves the verdict to the same checks inside the
        plan's transaction, which waits for the lock like every statement of the load.

        Raises:
            LoadFailedError: The warehouse refuses the read.
        """
        try:
            found, _, shape = self._read(plan, diff=False, lock_timeout_ms=PRE_READ_LOCK_TIMEOUT_MS)
            return found, shape
        except _TableLockedError:
            return None

    def _read(
        self,
        plan: LoadPlan,
        *,
        diff: bool,
        rows: bool = False,
        every_row: IO[bytes] | None = None,
        lock_timeout_ms: int = 0,
    ) -> tuple[list[CheckResult], PlanDiff | None, TableShape | None]:
        query = plan.diff_query
        if query is None or plan.summary is None:
            raise LoadFailedError(
                f"{plan.domain}: this plan cannot be compared (no diff query).",
                domain=plan.domain,
                table=plan.table,
            )
        subject = plan.check_subject or CheckSubject.of(plan.summary)
        settings = accept_settings(plan.summary.accepted_checks)
        counted: PlanDiff | None = None
        shape: TableShape | None = None
        with self.read_write_then_read_only(
            plan.domain, f"read the warehouse for {plan.domain}"
        ) as (cursor, address, read_only):
            try:
                if lock_timeout_ms:
                    cursor.execute(f"SET LOCAL lock_timeout = {int(lock_timeout_ms)}")
                stage = plan.row_diff_query if diff else None
                exists = False
                if diff:
                    pin_target_schema(cursor, plan.table)
                    cursor.execute(query.table_check)
                    exists = bool(cursor.fetchone()[0])
                    if exists and stage is not None:
                        _stage_rows(cursor, plan, stage)
                        # The business checks that read the plan's stage read these rows.
                        cursor.execute(
                            f"CREATE TEMPORARY VIEW {quote(stage_table(plan.domain))} AS "
                            f"SELECT * FROM pg_temp.{quote(STAGE)}"
                        )
                        subject = replace(subject, rows_staged=True)
                read_only()
                found = run_checks(cursor, plan.table, check_queries(subject), settings)
                if diff:
                    pin_target_schema(cursor, plan.table)
                    counted = _counted(
                        cursor, plan, query, stage if exists else None, rows, exists, every_row
                    )
                if plan.shape_query is not None:
                    # The table's columns in the same transaction (what the plan adds).
                    pin_target_schema(cursor, plan.table)
                    cursor.execute(plan.shape_query)
                    shape = TableShape.from_rows(cursor.fetchall())
            except Exception as exc:
                if lock_timeout_ms and getattr(exc, "pgcode", None) == _LOCK_NOT_AVAILABLE:
                    raise _TableLockedError from None
                raise LoadFailedError(
                    f"{plan.domain}: reading table {plan.table!r} for the plan's checks"
                    f"{' and diff=true' if diff else ''} failed ({describe(address.url)}): "
                    f"{server_reason(exc)} Nothing was written.",
                    domain=plan.domain,
                    table=plan.table,
                    warehouse=describe(address.url),
                ) from None
        return found, counted, shape

    @contextmanager
    def read_write_then_read_only(
        self, domain: str, purpose: str
    ) -> Iterator[tuple[Any, WarehouseAddress, Callable[[], None]]]:
        """A cursor in a transaction that may fill temporary tables until ``read_only()`` is
        called (a read-only transaction may not create one), rolled back and closed on exit."""
        address = self.address(domain)
        connection = self.connection(address, purpose)
        try:
            with connection.cursor() as cursor:
                cursor.execute("BEGIN")
                try:
                    yield cursor, address, lambda: cursor.execute("SET TRANSACTION READ ONLY")
                finally:
                    if not connection.closed:
                        cursor.execute("ROLLBACK")
        finally:
            connection.close()

    # --- read-only: table changes and what an undo would do --------------------------------

    def loads_of_run(self, run: str, tables: Sequence[str]) -> list[UndoneLoad]:
        """The ledger rows of run ``run``, read-only, from the ledger beside each of ``tables``.

        Raises:
            LoadFailedError: The warehouse cannot be reached or refuses the read.
        """
        found: dict[str, UndoneLoad] = {}
        with self.read_only("undo", "read the load ledger") as (cursor, address):
            try:
                for table in dict.fromkeys(tables):
                    pin_target_schema(cursor, table)
                    cursor.execute("SELECT pg_catalog.to_regclass(%s)", (quote(LEDGER_TABLE),))
                    if cursor.fetchone()[0] is None:
                        continue
                    cursor.execute(loads_of_run_sql(), {"run": run})
                    for run_id, domain, table_name, mode, committed_at, undoes in cursor:
                        found[domain] = UndoneLoad(
                            run_id, domain, table_name, mode, committed_at.isoformat(), undoes
                        )
            except Exception as exc:
                raise _read_failed(
                    f"undo: could not read the load ledger {LEDGER_TABLE}",
                    exc,
                    address,
                    table=LEDGER_TABLE,
                ) from None
        return list(found.values())

    def preview_undo(
        self, plan: LoadPlan, counts_sql: str, settings: Mapping[str, str]
    ) -> tuple[PlanDiff, list[CheckResult], TableShape]:
        """What an undo plan would do, in one READ ONLY transaction: the rows it would delete
        and restore (``counts_sql``), what its checks find, and its table changes.

        Raises:
            LoadFailedError: The warehouse cannot be reached or refuses a read.
        """
        assert plan.summary is not None and plan.shape_query is not None
        subject = CheckSubject.of(plan.summary)
        with self.read_only(plan.domain, f"preview the undo of {plan.domain}") as (
            cursor,
            address,
        ):
            try:
                found = run_checks(cursor, plan.table, check_queries(subject), settings)
                pin_target_schema(cursor, plan.table)
                cursor.execute(plan.shape_query)
                shape = TableShape.from_rows(cursor.fetchall())
                cursor.execute(
                    "SELECT pg_catalog.to_regclass(%s) IS NOT NULL",
                    (quote(history_table(plan.table)),),
                )
                deleted = restored = 0
                if cursor.fetchone()[0]:
                    cursor.execute(counts_sql)
                    deleted, restored = cursor.fetchone()
            except Exception as exc:
                raise _read_failed(
                    f"{plan.domain}: the undo could not read table {plan.table!r}",
                    exc,
                    address,
                    domain=plan.domain,
                    table=plan.table,
                ) from None
        return PlanDiff(rows_to_delete=deleted, rows_to_insert=restored), found, shape

    # --- writing and applying a plan in one pass (execute=true) ----------------------------

    def execute_plan(
        self,
        plan: LoadPlan,
        handle: BinaryIO,
        path: Path,
        *,
        publish: Callable[[], None],
        before_commit: Callable[[], None] | None = None,
        summary: PlanSummary | None = None,
        force: bool = False,
    ) -> LoadResult:
        """Write the plan to ``handle`` and apply it in the same pass, exactly as written.

        Each statement goes to the server once it is in the file, the COPY rows piece by piece
        as they are written (while the next slice is rendered), up to the first statement that
        names the plan's own checksum (:mod:`work_data_hub.load.psql`). The finished file is
        then read back and verified: its checksum, and that the server got its statements and
        its rows' very bytes. ``publish`` names it, and its remaining statements run from it,
        ``COMMIT`` last. When the server fails or cannot be reached, the file is still finished
        and published, for review, before the failure is raised; when the file itself cannot be
        finished, nothing is published and the transaction is rolled back.

        Args:
            plan: The plan (with statements).
            handle: An empty file, open for writing and reading, not named yet.
            path: Where ``publish`` puts the file (named in messages).
            publish: Gives the finished file its name (before ``COMMIT``).
            before_commit: Runs once the file is published and the rows are staged, before the
                statements after them; what it raises rolls the transaction back.
            summary: The summary its header shows (default: the plan's own).
            force: Lift the staleness check (the session setting the plan's guard reads).

        Raises:
            LoadFailedError: The address is misconfigured, the server cannot be reached, or it
                refused a statement; nothing was loaded (the plan file is published).
            PlanFileError: The file read back is not the plan that was written (nothing loaded,
                nothing published).
            ValueError: A value cannot be written as COPY text (nothing loaded or published).
        """
        with interruptible():
            try:
                address = self.address(plan.domain)
                connection = self.connection(address, f"load {plan.domain}")
            except LoadFailedError:
                # No server: the plan is still written whole, for review.
                write_plan(plan, handle, summary)
                publish()
                raise
            try:
                return self._execute(
                    plan,
                    handle,
                    path,
                    publish,
                    before_commit,
                    summary,
                    connection,
                    address,
                    force,
                )
            finally:
                connection.close()

    def _execute(
        self,
        plan: LoadPlan,
        handle: BinaryIO,
        path: Path,
        publish: Callable[[], None],
        before_commit: Callable[[], None] | None,
        summary: PlanSummary | None,
        connection: Any,
        address: WarehouseAddress,
        force: bool,
    ) -> LoadResult:
        started = time.perf_counter()
        with connection.cursor() as cursor:
            # The plan carries its own BEGIN and COMMIT, exactly as psql runs it.
            if self._statement_timeout_ms:
                cursor.execute(f"SET statement_timeout = {int(self._statement_timeout_ms)}")
            for setting, value in force_settings(force).items():
                cursor.execute("SELECT pg_catalog.set_config(%s, %s, false)", (setting, value))
            transaction = _Transaction(
                cursor, connection, address, plan, path, sent_rows=self._sent_rows
            )
            written = write_plan(plan, handle, summary, sink=transaction)
            verifying = time.perf_counter()
            saved = read_written_plan(handle, str(path))
            transaction.seconds["verify_plan"] = time.perf_counter() - verifying
            if not saved.intact or saved.plan_sha256 != written.plan_sha256:
                raise PlanFileError(
                    f"{path} does not read back as the plan just written (its checksum does not "
                    "hold); nothing was loaded",
                    file=str(path),
                )
            publish()
            transaction.raise_failure()
            if before_commit is not None:
                before_commit()
            transaction.check_sent(saved)
            for step in saved.steps[len(transaction.ran) :]:
                transaction.execute(step)
                transaction.raise_failure()
        return _loaded(
            saved,
            path,
            address,
            started=started,
            counts=transaction.counts,
            recorded_checks=transaction.recorded_checks,
            summary=saved.summary.as_dict(),
            step_seconds={
                str(name): round(value, 3)
                for name, value in {**transaction.seconds, **written.seconds}.items()
            },
        )

    @staticmethod
    def _sent_rows(rows: RowsStream) -> RowsStream:
        """The COPY rows as the driver reads them (tests watch or disturb the COPY here)."""
        return rows

    # --- applying a plan file --------------------------------------------------------------

    def apply_plan_file(
        self, path: Path, *, force: bool = False, accepted: Sequence[str] = ()
    ) -> LoadResult:
        """Apply the plan file at ``path`` exactly: its own steps, one transaction, checked.

        A file whose checksum does not hold is refused before connecting (the file is read
        once for that, in blocks; its rows are then streamed from it). The plan's guards
        refuse it inside its transaction when a check fails; ``force`` sets the session
        settings that lift the staleness check only.

        Args:
            path: The plan file.
            force: Lift the staleness check (the session setting the plan's guard reads).

        Raises:
            PlanFileError: The file is not a plan, or it was modified after it was made.
            LoadFailedError: The address is misconfigured, the server cannot be reached, or it
                refused a statement (a check, or rows changed while being applied); nothing
                was loaded.
        """
        saved = read_saved_plan(path)
        if not saved.intact:
            raise PlanFileError(
                f"{path} was modified after it was made (its checksum {saved.plan_sha256} does "
                "not match its bytes); a changed plan is never applied, even with force=true. "
                "Make a new plan with kedro run.",
                file=str(path),
            )
        if not saved.steps:
            return LoadResult(str(path), False, 0, 0, None, saved.plan_sha256, True)
        address = self.address(saved.summary.domain)
        with interruptible():
            settings = {**force_settings(force), **accept_settings(accepted)}
            result = self._apply(saved, path, address, settings)
        return replace(result, plan_sha256=saved.plan_sha256, summary=saved.summary.as_dict())

    def _apply(
        self, plan: SavedPlan, path: Path, address: WarehouseAddress, settings: Mapping[str, str]
    ) -> LoadResult:
        """Run the plan's statements, in order, in the one transaction they open and commit."""
        connection = self.connection(address, f"load {plan.summary.domain}")
        deleted: int | None = None
        inserted: int | None = None
        recorded: list[dict[str, Any]] | None = None
        started = time.perf_counter()
        try:
            # The plan carries its own BEGIN and COMMIT, exactly as psql runs it.
            with connection.cursor() as cursor:
                if self._statement_timeout_ms:
                    cursor.execute(f"SET statement_timeout = {int(self._statement_timeout_ms)}")
                for setting, value in settings.items():
                    cursor.execute("SELECT pg_catalog.set_config(%s, %s, false)", (setting, value))
                for statement in plan.steps:
                    try:
                        if statement.rows is not None:
                            self._copy_rows(cursor, plan, statement, path)
                        else:
                            cursor.execute(statement.sql)
                    except Exception as exc:
                        failure = _failure(
                            plan.summary, statement.purpose, exc, connection, address, path
                        )
                        # from None: the driver's exception can carry connection details.
                        raise failure from None
                    if statement.purpose == Step.RECORD_LOAD:
                        # The ledger row's own counts and checks: what psql would record too.
                        deleted, inserted, recorded = cursor.fetchone()
        finally:
            connection.close()
        return _loaded(
            plan,
            path,
            address,
            started=started,
            counts=(deleted, inserted),
            recorded_checks=tuple(recorded or ()),
        )

    def _copy_rows(self, cursor: Any, plan: SavedPlan, step: PlanStep, path: Path) -> None:
        """COPY the step's rows from the plan file; refuse them unless they are the verified bytes.

        The check runs before the plan's COMMIT, so a file changed between its verification and
        this read rolls back instead of loading rows nobody verified.
        """
        assert step.rows is not None
        with without_wait_callback(), self._payload_stream(plan) as stream:
            sent = _HashedReader(stream)
            cursor.copy_expert(step.sql, sent, size=COPY_READ_SIZE)
        if sent.length != step.rows.length or sent.sha256 != step.rows.sha256:
            raise PlanFileError(
                f"{path} changed while it was being applied: its rows are not the bytes its "
                "checksum was verified over",
                file=str(path),
            )

    @staticmethod
    def _payload_stream(plan: SavedPlan) -> BinaryIO:
        """The COPY rows, streamed from the plan file: its own bytes, as reviewed."""
        return plan.open_rows()


def _loaded(
    plan: SavedPlan,
    path: Path,
    address: WarehouseAddress,
    *,
    started: float,
    counts: tuple[int | None, int | None],
    **reported: Any,
) -> LoadResult:
    """What a committed load reports (and logs): its counts, seconds, plan and warehouse."""
    seconds = time.perf_counter() - started
    deleted, inserted = counts
    logger.info(
        "Loaded %s into %s: %s rows deleted, %s inserted in %.2fs",
        plan.summary.domain,
        plan.summary.table,
        deleted,
        inserted,
        seconds,
    )
    return LoadResult(
        str(path),
        True,
        deleted,
        inserted,
        round(seconds, 3),
        plan.plan_sha256,
        warehouse=address.describe(),
        **reported,
    )


def _read_failed(
    what: str,
    error: Exception,
    address: WarehouseAddress,
    *,
    domain: str | None = None,
    table: str | None = None,
) -> LoadFailedError:
    """A read-only read that failed: what was read, the server's reason, nothing written."""
    return LoadFailedError(
        f"{what} ({describe(address.url)}): {server_reason(error)} Nothing was written.",
        domain=domain,
        table=table,
        warehouse=describe(address.url),
    )


def _counted(
    cursor: Any,
    plan: LoadPlan,
    query: DiffQuery,
    stage: RowDiffQuery | None,
    rows: bool,
    exists: bool,
    every_row: IO[bytes] | None,
) -> PlanDiff:
    """What the plan would change: the counts and, with ``rows``, the rows (one pass, each
    row streamed on to ``every_row`` as it arrives)."""
    if not exists:
        return query.answer_without_table(plan.rows_to_insert)
    if stage is not None and rows and plan.summary is not None:
        cursor.execute(stage.columns_query)
        columns = dict(cursor.fetchall())
        received = DiffRows(every_row)
        cursor.copy_expert(stage.rows_copy(plan.summary.files, columns), received)
        cursor.execute(stage.totals_query(columns))
        return stage.plan_diff(received, cursor.fetchone(), plan.rows_to_insert)
    if stage is not None:
        cursor.execute(query.staged_sql)
    else:
        cursor.execute(query.sql, plan.rows.text_columns(query.payload_columns))
    return query.answer(cursor.fetchone(), plan.rows_to_insert)


def _stage_rows(cursor: Any, plan: LoadPlan, stage: RowDiffQuery) -> None:
    """The plan's rows in a temporary table (dropped at the end of the transaction), analysed
    so that the comparison is planned on real row counts."""
    cursor.execute(stage.create_stage)
    columns = list(stage.copy_columns)
    for frame in plan.rows.frames():
        cursor.copy_expert(stage.copy_stage, io.BytesIO(copy_text(frame, columns)))
    cursor.execute(stage.analyze_stage)


def _failure(
    plan: PlanSummary | LoadPlan,
    step: Step,
    error: Exception,
    connection: Any,
    address: WarehouseAddress,
    path: Path,
) -> LoadFailedError:
    """Roll back (if the server is still there) and say what happened to the table."""
    reason = server_reason(error)
    # psycopg2 marks the connection closed when the server went away (terminated, crashed).
    lost = bool(connection.closed)
    if lost:
        reason = f"the connection to the server was lost ({reason.rstrip('.')})."
    else:
        _rollback(connection)
    if lost and step == Step.COMMIT:
        outcome = (
            "The server may have committed the load just before the connection was lost: "
            f"check the table's _run_id ({plan.run_id}) before running again."
        )
    elif lost:
        outcome = (
            "The server rolled the transaction back: the table is unchanged and nothing was loaded."
        )
    else:
        outcome = "The transaction was rolled back: the table is unchanged and nothing was loaded."
    return LoadFailedError(
        f"{plan.domain}: loading table {plan.table!r} failed at step '{step}' "
        f"({describe(address.url)}): {reason} {outcome} Plan: {path}",
        domain=plan.domain,
        table=plan.table,
        step=step,
        warehouse=describe(address.url),
        rolled_back=not (lost and step == Step.COMMIT),
    )


def _rollback(connection: Any) -> None:
    try:
        if not connection.closed:
            connection.cursor().execute("ROLLBACK")
    except Exception:
        logger.debug("ROLLBACK after a failed load did not reach the server", exc_info=True)


class _Transaction:
    """The plan's statements on one connection, as the plan writer hands them over.

    A statement the server refuses (or a lost connection) is recorded, rolled back, and
    everything after it ignored, so the writer still finishes the file; the caller raises it
    once the file is there. What ran is kept, to be compared with the finished file.
    """

    def __init__(
        self,
        cursor: Any,
        connection: Any,
        address: WarehouseAddress,
        plan: LoadPlan,
        path: Path,
        *,
        sent_rows: Callable[[RowsStream], RowsStream],
    ) -> None:
        self._cursor = cursor
        self._connection = connection
        self._address = address
        self._plan = plan
        self._path = path
        self._sent_rows = sent_rows
        # Each statement the server ran: its purpose, its SQL and, for the COPY, the length
        # and SHA-256 of the rows it was sent.
        self.ran: list[tuple[Step, str, tuple[int, str] | None]] = []
        self.failure: LoadFailedError | None = None
        self.counts: tuple[int | None, int | None] = (None, None)
        self.recorded_checks: tuple[dict[str, Any], ...] = ()
        self.seconds: dict[str, float] = {}

    def execute(self, statement: Statement | PlanStep) -> None:
        if self.failure is not None:
            return
        started = time.perf_counter()
        try:
            self._cursor.execute(statement.sql)
            if statement.purpose == Step.RECORD_LOAD:
                # The ledger row's own counts and checks: what psql would record too.
                deleted, inserted, recorded = self._cursor.fetchone()
                self.counts = (deleted, inserted)
                self.recorded_checks = tuple(recorded or ())
        except Exception as exc:
            self._failed(statement.purpose, exc)
            return
        finally:
            self._timed(statement.purpose, started)
        self.ran.append((statement.purpose, statement.sql, None))

    def copy(self, statement: Statement, rows: RowsStream) -> None:
        if self.failure is not None:
            return
        started = time.perf_counter()
        sent = _HashedReader(self._sent_rows(rows))
        try:
            with without_wait_callback():
                self._cursor.copy_expert(statement.sql, sent, size=COPY_READ_SIZE)
        except Exception as exc:
            if sent.interrupted is not None:
                # Ctrl-C (or SIGTERM) while the rows were read: psycopg2 turned it into a failed
                # COPY; it stops the load instead, leaving no plan file.
                raise sent.interrupted from None
            self._failed(statement.purpose, exc)
            return
        finally:
            self._timed(statement.purpose, started)
        self.ran.append((statement.purpose, statement.sql, (sent.length, sent.sha256)))

    def check_sent(self, saved: SavedPlan) -> None:
        """The server ran the file's first statements, and its COPY got the file's rows."""
        for (purpose, sql, rows), step in zip(self.ran, saved.steps, strict=False):
            in_file = (step.rows.length, step.rows.sha256) if step.rows is not None else None
            if (purpose, sql, rows) != (step.purpose, step.sql, in_file):
                what = "rows" if rows is not None else "statement"
                self._failed(
                    purpose,
                    PlanFileError(
                        f"the server was sent other {what} than the plan file holds",
                        file=str(self._path),
                    ),
                )
                self.raise_failure()
        if len(self.ran) > len(saved.steps):
            raise RuntimeError("the server ran more statements than the plan file holds")

    def raise_failure(self) -> None:
        if self.failure is not None:
            # from None: the driver's exception can carry connection details.
            raise self.failure from None

    def _failed(self, step: Step, error: Exception) -> None:
        self.failure = _failure(
            self._plan, step, error, self._connection, self._address, self._path
        )

    def _timed(self, step: Step, started: float) -> None:
        self.seconds[step] = self.seconds.get(step, 0.0) + time.perf_counter() - started


class _HashedReader:
    """Passes ``read`` through, counting and hashing the bytes handed to the driver."""

    def __init__(self, stream: RowsStream) -> None:
        self._stream = stream
        self._hasher = hashlib.sha256()
        self.length = 0
        # An interrupt (KeyboardInterrupt) raised while reading, which the driver reports as a
        # failed COPY.
        self.interrupted: BaseException | None = None

    def read(self, size: int = -1) -> bytes:
        try:
            data = self._stream.read(size)
        except BaseException as exc:
            if not isinstance(exc, Exception):
                self.interrupted = exc
            raise
        self._hasher.update(data)
        self.length += len(data)
        return data

    @property
    def sha256(self) -> str:
        return self._hasher.hexdigest()
