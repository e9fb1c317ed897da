"""``PostgresLoadDataset``: write a load plan as a psql script and, with ``execute``, apply it."""

from __future__ import annotations

import hashlib
import io
import logging
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

from kedro.io import AbstractVersionedDataset, DatasetError, Version

from work_data_hub.config.warehouse import (
    WarehouseAddress,
    WarehouseConfigError,
    describe,
    resolve_address,
)
from work_data_hub.datasets.owner_only import open_owner_only
from work_data_hub.datasets.review_files import ReviewFiles, write_review
from work_data_hub.datasets.warehouse_connection import (
    WarehouseConnectionError,
    connect,
    interruptible,
    server_reason,
    without_wait_callback,
)
from work_data_hub.errors import WorkDataHubError
from work_data_hub.load.copy_format import copy_text
from work_data_hub.load.diff import DiffQuery
from work_data_hub.load.guards import FORCE_STALE_SETTING
from work_data_hub.load.plan import LoadPlan
from work_data_hub.load.plan_file import (
    PlanFileError,
    PlanStep,
    SavedPlan,
    read_plan_summary,
    read_saved_plan,
)
from work_data_hub.load.psql import write_plan
from work_data_hub.load.row_diff import RowDiffQuery
from work_data_hub.load.summary import PlanDiff, PlanSummary

logger = logging.getLogger(__name__)

# psycopg2 reads the COPY rows in pieces of this size (its default is 8 KiB).
COPY_READ_SIZE = 1 << 20


class RejectedRowsError(WorkDataHubError, DatasetError):
    """Too many rejected rows for an execute run; nothing was loaded."""


class LoadFailedError(WorkDataHubError, DatasetError):
    """The database refused the load; the transaction was rolled back, nothing changed."""


@dataclass(frozen=True)
class LoadResult:
    """What one save did: where the plan is and, when executed, what PostgreSQL reported."""

    plan_path: str
    executed: bool
    rows_deleted: int | None = None
    rows_inserted: int | None = None
    transaction_seconds: float | None = None
    plan_sha256: str | None = None
    nothing_to_load: bool = False
    # The plan's summary (load.summary) as data, for the run report and the log.
    summary: dict[str, Any] | None = None
    # Which warehouse was loaded: "embedded, data/warehouse" or the configured host and database.
    warehouse: str | None = None


def strict_bool(value: object, name: str) -> bool:
    if isinstance(value, bool):
        return value
    raise DatasetError(
        f"{name} must be true or false (as in --params execute=true), got {value!r} "
        f"of type {type(value).__name__}"
    )


def _staged_diff(
    cursor: Any, plan: LoadPlan, counts: DiffQuery, rows: RowDiffQuery | None
) -> PlanDiff:
    """What the plan would change, from its rows staged by COPY in a temporary table: the
    counts, and (``rows``) the rows it removes, changes and adds."""
    # A read-only transaction may not create (or analyze) even a temporary table: the stage
    # is made and filled first, the transaction then made read-only; all is rolled back.
    stage = plan.row_diff_query
    assert stage is not None
    cursor.execute(stage.create_stage)
    columns = list(stage.copy_columns)
    for frame in plan.rows.frames():
        cursor.copy_expert(stage.copy_stage, io.BytesIO(copy_text(frame, columns)))
    cursor.execute(stage.analyze_stage)
    cursor.execute("SET TRANSACTION READ ONLY")
    cursor.execute(counts.staged_sql)
    diff = counts.answer(cursor.fetchone(), plan.rows_to_insert)
    if rows is None:
        return diff
    cursor.execute(rows.query)
    files = plan.summary.files if plan.summary is not None else ()
    return replace(diff, **rows.answer(cursor.fetchall(), files))


class PostgresLoadDataset(AbstractVersionedDataset[LoadPlan, bytes]):
    """Saves a :class:`~work_data_hub.load.plan.LoadPlan`: always as a versioned psql script,
    and, when ``execute`` is true, also by running the same statements in one transaction.

    Loading returns the plan script's bytes. Example catalog entry::

        "{domain}.load_plan":
          type: work_data_hub.datasets.postgres_load_dataset.PostgresLoadDataset
          filepath: data/08_reporting/plans/{domain}.sql
          versioned: true
          execute: ${runtime_params:execute, ${globals:execute}}
          credentials: warehouse
          connect_timeout: 10

    The database address comes from ``WDH_DATABASE__URI``, else ``WDH_DATABASE__HOST``,
    ``__PORT``, ``__USER``, ``__PASSWORD``, ``__DB``, else ``credentials['con']``
    (see :mod:`work_data_hub.config.warehouse`). Plan-only saves never import the driver and never
    connect.

    Executing runs the plan's own statements on one autocommit connection, so its ``BEGIN``
    and ``COMMIT`` frame the transaction exactly as under psql; the plan takes a
    transaction-scoped advisory lock on the table first, so two runs of one domain queue. The
    rows go through ``COPY ... FROM STDIN`` straight from the plan file, a mebibyte at a time,
    and must be the very bytes its checksum was verified over. Any failure rolls back
    and raises :class:`LoadFailedError` naming the step, the server's reason and the address
    (never the password); the connection is closed on every path. With rejected rows above
    the plan's ``max_reject_ratio`` nothing connects: :class:`RejectedRowsError`. What
    PostgreSQL reported (rows deleted and inserted, transaction seconds) is in ``last_result``,
    which the run-report hook copies.

    With ``diff`` the plan is also compared with its table row by row, and its review
    (``<plan>.review.html`` and ``.xlsx``, :mod:`work_data_hub.datasets.review_files`) is written
    beside it and named in ``last_review``; ``review: false`` keeps only the counts.
    """

    def __init__(
        self,
        *,
        filepath: str,
        execute: bool = False,
        diff: bool = False,
        review: bool = True,
        rejects_filepath: str | None = None,
        credentials: dict[str, Any] | None = None,
        connect_timeout: int = 10,
        statement_timeout_ms: int = 0,
        version: Version | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(
            filepath=PurePosixPath(filepath), version=version, exists_function=self._file_exists
        )
        self._execute = strict_bool(execute, "execute")
        self._diff = strict_bool(diff, "diff")
        self._review = strict_bool(review, "review")
        self._rejects_filepath = rejects_filepath
        self._credentials = dict(credentials or {})
        self._connect_timeout = connect_timeout
        self._statement_timeout_ms = statement_timeout_ms
        self.metadata = metadata
        self.last_result: LoadResult | None = None
        # The review written beside the last plan (diff=true), for the run report.
        self.last_review: ReviewFiles | None = None

    @staticmethod
    def _file_exists(path: str) -> bool:
        return Path(path).is_file()

    def _describe(self) -> dict[str, Any]:
        return {
            "filepath": str(self._filepath),
            "execute": self._execute,
            "diff": self._diff,
            "version": self._version,
        }

    def load(self) -> bytes:
        return Path(self._get_load_path()).read_bytes()

    def save(self, data: LoadPlan) -> None:
        path = Path(self._get_save_path())
        summary = data.summary
        if summary is not None:
            summary = summary.with_rejects_file(self._rejects_file(summary))
            if self._diff and not data.nothing_to_load:
                summary = summary.with_diff(self._diff_against_warehouse(data))
        # Plans carry the rows themselves: readable by the owner only.
        try:
            with os.fdopen(open_owner_only(path), "wb") as handle:
                written = write_plan(data, handle, summary)
        except BaseException:
            # Half a plan is no plan: it must not be left for someone to apply.
            path.unlink(missing_ok=True)
            raise
        shown = read_plan_summary(path)
        shown_data = shown.as_dict()
        # diff=true read the rows the plan changes: a reviewer reads them beside the plan.
        reviewed = self._review and shown.diff is not None
        self.last_review = write_review(path, shown_data) if reviewed else None
        self.last_result = LoadResult(
            plan_path=str(path),
            executed=False,
            plan_sha256=written.plan_sha256,
            nothing_to_load=data.nothing_to_load,
            summary=shown_data,
        )
        logger.info(
            "Wrote the load plan for %s to %s:\n%s",
            data.domain,
            path,
            shown.log_text(),
            extra={"event": "plan_summary", "domain": data.domain, "summary": shown_data},
        )
        if data.nothing_to_load:
            logger.info("%s: nothing to load, every selected file is already loaded", data.domain)
            return
        if not self._execute:
            return
        if data.rows_rejected and data.reject_ratio > data.max_reject_ratio:
            raise RejectedRowsError(
                f"{data.domain}: {data.rows_rejected} of {data.rows_read} rows were rejected "
                f"({data.reject_ratio:.2%}, above max_reject_ratio {data.max_reject_ratio:.2%}); "
                f"nothing was loaded. See the rejects file and the plan {path}."
            )
        # One path: the file just written is read back, checked and applied, as apply_plan does.
        # Staleness guards a person's review; this plan was made moments ago by this very run,
        # and a load that committed while it waited for the table's lock is not a review
        # overtaken (two runs at once still both finish, in turn).
        self.last_result = self.apply_plan_file(path, force=True)

    def _address(self, domain: str) -> WarehouseAddress:
        try:
            return resolve_address(self._credentials)
        except WarehouseConfigError as exc:
            raise LoadFailedError(f"{domain}: {exc}; nothing was loaded.") from None

    def _connection(self, address: WarehouseAddress, purpose: str) -> Any:
        try:
            return connect(address, connect_timeout=self._connect_timeout, purpose=purpose)
        except WarehouseConnectionError as exc:
            raise LoadFailedError(str(exc)) from None

    def _rejects_file(self, summary: PlanSummary) -> str | None:
        """Where this run's rejects file is (the rejects dataset shares the run's version)."""
        if not summary.rows_rejected or not self._rejects_filepath:
            return None
        rejects = PurePosixPath(self._rejects_filepath)
        version = self.resolve_save_version()
        return str(rejects / version / rejects.name) if version else str(rejects)

    def _diff_against_warehouse(self, plan: LoadPlan) -> PlanDiff:
        """Count what the plan would change, inside one READ ONLY transaction; never writes."""
        query = plan.diff_query
        if query is None:
            raise LoadFailedError(f"{plan.domain}: this plan cannot be compared (no diff query).")
        address = self._address(plan.domain)
        connection = self._connection(address, f"diff {plan.domain}")
        try:
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute("BEGIN")
                try:
                    cursor.execute(query.table_check)
                    if not cursor.fetchone()[0]:
                        diff = query.answer_without_table(plan.rows_to_insert)
                    elif plan.row_diff_query is not None:
                        rows = plan.row_diff_query if self._review else None
                        diff = _staged_diff(cursor, plan, query, rows)
                    else:
                        cursor.execute("SET TRANSACTION READ ONLY")
                        arrays = plan.rows.text_columns(query.payload_columns)
                        cursor.execute(query.sql, arrays)
                        diff = query.answer(cursor.fetchone(), plan.rows_to_insert)
                finally:
                    cursor.execute("ROLLBACK")
        except LoadFailedError:
            raise
        except Exception as exc:
            raise LoadFailedError(
                f"{plan.domain}: diff=true could not read table {plan.table!r} "
                f"({describe(address.url)}): {server_reason(exc, address.url)} "
                "Nothing was written."
            ) from None
        finally:
            connection.close()
        logger.info(
            "%s diff against %s: %s rows to delete, %s to insert",
            plan.domain,
            plan.table,
            diff.rows_to_delete,
            diff.rows_to_insert,
            extra={"event": "diff", "domain": plan.domain, "diff": vars(diff)},
        )
        return diff

    def apply_plan_file(self, path: Path, *, force: bool = False) -> LoadResult:
        """Apply the plan file at ``path`` exactly: its own steps, one transaction, checked.

        A file whose checksum does not hold is refused before connecting (the file is read
        once for that, in blocks; its rows are then streamed from it). The plan's guards
        refuse it inside its transaction when it was already applied or is stale; ``force``
        sets ``wdh.force_stale`` on the session, which lifts the staleness guard only.
        """
        saved = read_saved_plan(path)
        if not saved.intact:
            raise PlanFileError(
                f"{path} was modified after it was made (its checksum {saved.plan_sha256} does "
                "not match its bytes); a changed plan is never applied, even with force=true. "
                "Make a new plan with kedro run."
            )
        if not saved.steps:
            return LoadResult(str(path), False, 0, 0, None, saved.plan_sha256, True)
        address = self._address(saved.summary.domain)
        with interruptible():
            result = self._apply(saved, path, address, force=force)
        return replace(result, plan_sha256=saved.plan_sha256, summary=saved.summary.as_dict())

    def _apply(
        self, plan: SavedPlan, path: Path, address: WarehouseAddress, *, force: bool = False
    ) -> LoadResult:
        """Run the plan's statements, in order, in the one transaction they open and commit."""
        connection = self._connection(address, f"load {plan.summary.domain}")
        deleted: int | None = None
        inserted: int | None = None
        started = time.perf_counter()
        try:
            # The plan carries its own BEGIN and COMMIT, exactly as psql runs it.
            with connection.cursor() as cursor:
                if self._statement_timeout_ms:
                    cursor.execute(f"SET statement_timeout = {int(self._statement_timeout_ms)}")
                if force:
                    cursor.execute(f"SET {FORCE_STALE_SETTING} = on")
                for statement in plan.steps:
                    try:
                        if statement.rows is not None:
                            self._copy_rows(cursor, plan, statement, path)
                        else:
                            cursor.execute(statement.sql)
                    except Exception as exc:
                        failure = self._failure(
                            plan, statement.purpose, exc, connection, address, path
                        )
                        # from None: the driver's exception can carry connection details.
                        raise failure from None
                    if statement.purpose == "record_load":
                        # The ledger row's own counts: what psql would record too.
                        deleted, inserted = cursor.fetchone()
        finally:
            connection.close()
        seconds = time.perf_counter() - started
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
                "checksum was verified over"
            )

    @staticmethod
    def _payload_stream(plan: SavedPlan) -> BinaryIO:
        """The COPY rows, streamed from the plan file: its own bytes, as reviewed."""
        return plan.open_rows()

    def _failure(
        self,
        plan: SavedPlan,
        step: str,
        error: Exception,
        connection: Any,
        address: WarehouseAddress,
        path: Path,
    ) -> LoadFailedError:
        """Roll back (if the server is still there) and say what happened to the table."""
        reason = server_reason(error, address.url)
        # psycopg2 marks the connection closed when the server went away (terminated, crashed).
        lost = bool(connection.closed)
        if lost:
            reason = f"the connection to the server was lost ({reason.rstrip('.')})."
        else:
            self._rollback(connection)
        if lost and step == "commit":
            outcome = (
                "The server may have committed the load just before the connection was lost: "
                f"check the table's _run_id ({plan.summary.run_id}) before running again."
            )
        elif lost:
            outcome = (
                "The server rolled the transaction back: the table is unchanged and nothing "
                "was loaded."
            )
        else:
            outcome = (
                "The transaction was rolled back: the table is unchanged and nothing was loaded."
            )
        return LoadFailedError(
            f"{plan.summary.domain}: loading table {plan.summary.table!r} failed at step '{step}' "
            f"({describe(address.url)}): {reason} {outcome} Plan: {path}"
        )

    @staticmethod
    def _rollback(connection: Any) -> None:
        try:
            if not connection.closed:
                connection.cursor().execute("ROLLBACK")
        except Exception:
            logger.debug("ROLLBACK after a failed load did not reach the server", exc_info=True)


class _HashedReader:
    """Passes ``read`` through, counting and hashing the bytes handed to the driver."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._hasher = hashlib.sha256()
        self.length = 0

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        self._hasher.update(data)
        self.length += len(data)
        return data

    @property
    def sha256(self) -> str:
        return self._hasher.hexdigest()
