"""``PostgresLoadDataset``: write a load plan as a psql script and, with ``execute``, apply it."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Any

from kedro.io import AbstractVersionedDataset, DatasetError, Version

from work_data_hub.config.business_checks import CHECK_KINDS, BusinessCheckResult
from work_data_hub.datasets import background_writes
from work_data_hub.datasets.flags import strict_bool
from work_data_hub.datasets.no_delivery import WritesNothingWithoutDelivery
from work_data_hub.datasets.owner_only import PendingFile
from work_data_hub.datasets.rejects_workbook_dataset import RejectsWorkbookError
from work_data_hub.datasets.review_files import ReviewFiles, diff_rows_file, write_review
from work_data_hub.errors import WorkDataHubError
from work_data_hub.load.business_checks import (
    final_results,
    judged_in_transaction,
    log_check_results,
    verdicts,
    with_accepted,
)
from work_data_hub.load.plan import LoadPlan
from work_data_hub.load.plan_file import read_plan_summary
from work_data_hub.load.psql import write_plan
from work_data_hub.load.summary import PlanSummary
from work_data_hub.load.table_changes import TableShape
from work_data_hub.warehouse.client import WarehouseClient
from work_data_hub.warehouse.errors import LoadFailedError
from work_data_hub.warehouse.results import LoadResult

__all__ = [
    "CheckRefusedError",
    "LoadFailedError",
    "LoadResult",
    "PostgresLoadDataset",
    "RejectedRowsError",
    "RejectsWorkbookError",
]

logger = logging.getLogger(__name__)


class RejectedRowsError(WorkDataHubError, DatasetError):
    """Too many rejected rows for an execute run; nothing was loaded.

    Args:
        message: The counts, the limit, and where the rejects and the plan are.
        domain: The domain.
        rows_read: Rows read from the workbooks.
        rows_rejected: Rows rejected.
        max_reject_ratio: The limit the share of rejected rows went above.
        file: The plan written (nothing of it was applied).
    """

    def __init__(
        self,
        message: str,
        *,
        domain: str,
        rows_read: int,
        rows_rejected: int,
        max_reject_ratio: float,
        file: str,
    ) -> None:
        super().__init__(
            message,
            domain=domain,
            rows_read=rows_read,
            rows_rejected=rows_rejected,
            max_reject_ratio=max_reject_ratio,
            file=file,
        )


class CheckRefusedError(WorkDataHubError, DatasetError):
    """An ``error`` business check failed and nobody accepted it; nothing was loaded."""

    def __init__(self, domain: str, refused: Sequence[BusinessCheckResult], plan_path: str) -> None:
        self.domain = domain
        self.checks = tuple(refused)
        self.plan_path = plan_path
        super().__init__(refusal_text(domain, refused, plan_path))


def refusal_text(domain: str, refused: Sequence[BusinessCheckResult], plan_path: str) -> str:
    """One short message: the domain, each refusing check with its periods and numbers, the
    override."""
    names = [check.name for check in refused]
    override = names[0] if len(names) == 1 else "[" + ",".join(names) + "]"
    said = "; ".join(f"check {check.name} refused the load: {check.message}" for check in refused)
    return (
        f"{domain}: {said}. Nothing was loaded. If the delivery is right, load it with "
        f"accept_checks={override} (recorded in the plan and the ledger). Plan: {plan_path}"
    )


class PostgresLoadDataset(WritesNothingWithoutDelivery, AbstractVersionedDataset[LoadPlan, bytes]):
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

    Executing first reads the plan's checks, read-only; then it writes the plan and runs its
    own statements in the same pass (:meth:`WarehouseClient.execute_plan`), on one autocommit
    connection, so its ``BEGIN`` and ``COMMIT`` frame the transaction exactly as under psql;
    the plan takes a transaction-scoped advisory lock on the table first, so two runs of one
    domain queue. Each statement goes to the server once it is in the file, the rows through
    ``COPY ... FROM STDIN`` as they are written; ``COMMIT`` comes only once the file is whole,
    verified to be what the server got, and named. A plan file is written unnamed and named
    only when whole: a run killed midway leaves none. Any failure rolls back and raises
    :class:`LoadFailedError` naming the step, the server's reason and the address (never the
    password), with the plan written whole for review; the connection is closed on every path.
    A check that refuses the plan (:class:`CheckRefusedError`), or rejected rows above the
    plan's ``max_reject_ratio`` (:class:`RejectedRowsError`, nothing connects), leave the plan
    written and nothing applied. What PostgreSQL reported (rows deleted and inserted, the
    transaction's seconds and its steps') is in ``last_result``, which the run-report hook
    copies. A plan of a domain without a delivery (``LoadPlan.no_delivery``) writes no file and
    connects nowhere; ``last_result`` is None.

    The domain's marked rejects workbooks, written in the background
    (:mod:`work_data_hub.datasets.background_writes`), are waited for before ``COMMIT``: one
    that cannot be written rolls the load back (:class:`RejectsWorkbookError`, the plan kept
    for review). Every save returns only once they are whole, or raises their failure; a save
    that fails on its own raises its own error and logs theirs.

    The table's columns are read with the checks (read-only; with ``diff``, and before an
    execute applies): the summary lists the columns the plan adds ("table changes"), and the
    log names them, or what the plan will refuse (a WARNING).
    With ``diff`` the plan is also compared with its table row by row, and its review
    (``<plan>.review.html`` and ``.xlsx``, :mod:`work_data_hub.datasets.review_files`) is written
    beside it and named in ``last_review``. The summary and the review list the first rows of
    each kind; every row goes, as JSON lines, to the file :meth:`write_diff_rows_to` names
    (the run-report hook names one beside the run report), and the summary names it.

    Args:
        filepath: Where the plan file is written (a folder of versions when versioned).
        execute: Whether to apply the plan just written; ``true`` or ``false`` only.
        diff: Whether to count, read-only, what the plan would change (and run its checks).
        review: With ``diff``, whether to name the rows it would change and write the review
            (``false``: the counts only).
        rejects_filepath: The rejects dataset's path, named in the plan's summary.
        force: Whether applying lifts the staleness checks (the undo pipeline's ``force``);
            unset, a load's own plan, made moments ago, is applied as made.
        credentials: The ``warehouse`` credentials entry (``con``), if any.
        connect_timeout: Seconds to wait for the server when connecting.
        statement_timeout_ms: ``statement_timeout`` of the applying session (0: none).
        version: Kedro's load and save versions.
        metadata: Kedro's free-form metadata (Kedro-Viz shows it).

    Raises:
        DatasetError: ``execute``, ``diff``, ``force`` or ``review`` is not a boolean.
        RejectedRowsError: On ``save`` with ``execute``, too many rows were rejected.
        CheckRefusedError: On ``save`` with ``execute``, a business check refused the plan.
        LoadFailedError: On ``save``, the warehouse refused the plan; nothing was loaded.
        RejectsWorkbookError: On ``save``, a marked rejects workbook of the domain cannot be
            written; with ``execute``, nothing was loaded.
    """

    def __init__(
        self,
        *,
        filepath: str,
        execute: bool = False,
        diff: bool = False,
        review: bool = True,
        rejects_filepath: str | None = None,
        force: bool | None = None,
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
        self._force = None if force is None else strict_bool(force, "force")
        self._review = strict_bool(review, "review")
        self._rejects_filepath = rejects_filepath
        self._client = WarehouseClient(
            credentials, connect_timeout=connect_timeout, statement_timeout_ms=statement_timeout_ms
        )
        self.metadata = metadata
        self.last_result: LoadResult | None = None
        # The review written beside the last plan (diff=true), for the run report.
        self.last_review: ReviewFiles | None = None
        self._diff_rows_path: Path | None = None

    def write_diff_rows_to(self, path: Path | None) -> None:
        """Where the next save's diff writes every row it names (None: only the first rows,
        in the summary)."""
        self._diff_rows_path = path

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
        try:
            self._save_plan(data)
        except BaseException:
            _marks_written_or_logged(data.domain)
            raise
        # Whatever the save did (plan only, nothing to load), the domain's marked rejects
        # workbooks are whole when it returns, or their failure is raised.
        background_writes.wait(data.domain)

    # Not ``_save``: Kedro would take that for the dataset's own save.
    def _save_plan(self, data: LoadPlan) -> None:
        if data.no_delivery:
            self.last_result = None
            self._skip_save()
            return
        self._wrote()
        path = Path(self._get_save_path())
        summary = data.summary
        too_many_rejects = bool(data.rows_rejected) and data.reject_ratio > data.max_reject_ratio
        if summary is not None:
            summary = summary.with_rejects_file(self._rejects_file(summary))
            if self._diff and not data.nothing_to_load and data.diff_query is not None:
                summary = self._read_warehouse(data, summary)
        if not self._execute or data.nothing_to_load or too_many_rejects:
            self._write_plan(data, path, summary)
            if data.nothing_to_load:
                logger.info(
                    "%s: nothing to load, every selected file is already loaded", data.domain
                )
            elif self._execute:
                raise RejectedRowsError(
                    f"{data.domain}: {data.rows_rejected} of {data.rows_read} rows were rejected "
                    f"({data.reject_ratio:.2%}, above max_reject_ratio "
                    f"{data.max_reject_ratio:.2%}); nothing was loaded. See the rejects file and "
                    f"the plan {path}.",
                    domain=data.domain,
                    rows_read=data.rows_read,
                    rows_rejected=data.rows_rejected,
                    max_reject_ratio=data.max_reject_ratio,
                    file=str(path),
                )
            return
        checked: PlanSummary | None = None
        # An undo plan comes read and checked already (pipelines/undo); it has no diff query.
        if not self._diff and data.diff_query is not None and summary is not None:
            # The checks read the warehouse, read-only, before anything is applied; whatever
            # stops them (the server cannot be reached), the plan is written for review.
            try:
                checked = self._read_warehouse(data, summary)
            except Exception:
                self._write_plan(data, path, summary)
                raise
            log_check_results(data.domain, [c for c in checked.checks if c.reads_warehouse])
        verdict = checked or summary
        if verdict is not None and verdict.refusing_checks:
            shown = self._write_plan(data, path, summary)
            assert self.last_result is not None
            self.last_result = replace(
                self.last_result, summary=self._reported(shown, checked).as_dict()
            )
            raise CheckRefusedError(data.domain, verdict.refusing_checks, str(path))
        # Staleness guards a person's review; this plan was made moments ago by this very run,
        # and a load that committed while it waited for the table's lock is not a review
        # overtaken (two runs at once still both finish, in turn).
        # An undo's plan is also made moments ago, but its own staleness (a later load replaced
        # rows of the load it undoes) is lifted only by the run's force=true.
        force = True if self._force is None else self._force
        # One pass: the plan is written and applied together; the file gets its name once it
        # is whole and verified, before COMMIT (see WarehouseClient.execute_plan).
        reported: list[PlanSummary] = []
        pending = PendingFile(path)
        try:
            with pending as file:

                def publish() -> None:
                    file.publish()
                    reported.append(self._reported(self._wrote_plan(data, path), checked))
                    assert self.last_result is not None
                    self.last_result = replace(self.last_result, summary=reported[0].as_dict())

                applied = self._client.execute_plan(
                    data,
                    file.handle,
                    path,
                    publish=publish,
                    before_commit=partial(_marks_written_before_commit, data.domain),
                    summary=summary,
                    force=force,
                )
        except BaseException:
            if not pending.published:
                _drop_rows_file(summary)
            raise
        # The summary the checks were read for, with the verdicts only the transaction gave
        # (its ledger row's checks).
        judged = judged_in_transaction(reported[0].checks, applied.recorded_checks)
        log_check_results(
            data.domain, [check for check in judged if check not in reported[0].checks]
        )
        self.last_result = replace(applied, summary=reported[0].with_checks(judged).as_dict())

    def _write_plan(self, data: LoadPlan, path: Path, summary: PlanSummary | None) -> PlanSummary:
        """Write the plan only (it is not applied); no file is left when that fails midway."""
        try:
            with PendingFile(path) as file:
                write_plan(data, file.handle, summary)
                file.publish()
        except BaseException:
            _drop_rows_file(summary)
            raise
        return self._wrote_plan(data, path)

    def _wrote_plan(self, data: LoadPlan, path: Path) -> PlanSummary:
        """Log the plan just written, write its review (diff=true), and record it as the
        ``last_result`` of a plan not applied (yet); its summary, as the file shows it."""
        shown = read_plan_summary(path)
        log_check_results(data.domain, shown.checks)
        shown_data = shown.as_dict()
        # diff=true read the rows the plan changes: a reviewer reads them beside the plan.
        reviewed = self._review and shown.diff is not None
        self.last_review = write_review(path, shown_data) if reviewed else None
        self.last_result = LoadResult(
            plan_path=str(path),
            executed=False,
            plan_sha256=shown.plan_sha256,
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
        return shown

    @staticmethod
    def _reported(shown: PlanSummary, checked: PlanSummary | None) -> PlanSummary:
        """What the run report shows: the summary the checks were read for (their verdicts),
        sealed with the file's checksum; else the file's own."""
        if checked is None:
            return shown
        return replace(checked, plan_sha256=shown.plan_sha256)

    def _rejects_file(self, summary: PlanSummary) -> str | None:
        """Where this run's rejects file is (the rejects dataset shares the run's version)."""
        if not summary.rows_rejected or not self._rejects_filepath:
            return None
        rejects = PurePosixPath(self._rejects_filepath)
        version = self.resolve_save_version()
        return str(rejects / version / rejects.name) if version else str(rejects)

    def _read_warehouse(self, plan: LoadPlan, summary: PlanSummary) -> PlanSummary:
        """The plan's checks (and, with ``diff``, what it would change), read in one READ ONLY
        transaction; never writes. The checks' verdict replaces what the plan knew without it."""
        if self._diff:
            every_row = self._diff_rows_path if self._review else None
            with diff_rows_file(every_row) as target:
                diff, found, shape = self._client.diff(plan, rows=self._review, every_row=target)
            if every_row is not None and diff.rows_compared:
                diff = diff.with_rows_file(str(every_row))
            elif every_row is not None:
                every_row.unlink(missing_ok=True)  # the table is not there yet: nothing to name
            summary = summary.with_diff(diff)
            logger.info(
                "%s diff against %s: %s rows to delete, %s to insert",
                plan.domain,
                plan.table,
                diff.rows_to_delete,
                diff.rows_to_insert,
                extra={"event": "diff", "domain": plan.domain, "diff": vars(diff)},
            )
        else:
            read = self._client.plan_checks(plan)
            if read is None:
                logger.info(
                    "%s: table %s is locked by another session; its checks run inside the "
                    "load's transaction once the lock is free",
                    plan.domain,
                    plan.table,
                )
                return summary
            found, shape = read
        for result in found:
            if result.check.name not in CHECK_KINDS:  # a business check is logged with the rest
                logger.warning(
                    "%s: %s",
                    plan.domain,
                    result.text,
                    extra={"event": "check", "check": result.check.name},
                )
        summary = self._with_table_changes(plan, summary, shape)
        selects = plan.check_subject.business if plan.check_subject else ()
        delivered = [check for check in summary.checks if not check.reads_warehouse]
        return summary.with_checks(
            with_accepted(
                final_results(
                    delivered,
                    selects,
                    # A diff stages the plan's rows (load.row_diff), so every SELECT ran.
                    verdicts(selects, found, rows_staged=self._diff),
                ),
                summary.accepted_checks,
            )
        )

    def _with_table_changes(
        self, plan: LoadPlan, summary: PlanSummary, shape: TableShape | None
    ) -> PlanSummary:
        """The summary listing the columns the plan adds (read-only; with ``diff`` also "none").

        What the plan would refuse (a retyped or undeclared column) is a WARNING now.
        """
        if shape is None:
            return summary
        for change in shape.additions:
            logger.info("%s: table change: %s", plan.domain, change.sql)
        for refusal, fix in zip(shape.refusals, shape.fixes, strict=True):
            logger.warning(
                "%s: table %s does not match data_sources.yml: %s; the load will be refused. "
                "As the table's owner run: %s",
                plan.domain,
                plan.table,
                refusal,
                fix,
                extra={"event": "table_refused", "domain": plan.domain},
            )
        if shape.additions or self._diff:
            return summary.with_table_changes(shape.additions)
        return summary

    def apply_plan_file(
        self, path: Path, *, force: bool = False, accepted: Sequence[str] = ()
    ) -> LoadResult:
        """Apply the plan file at ``path`` exactly (see :meth:`WarehouseClient.apply_plan_file`).

        Args:
            path: The plan file.
            force: Lift the staleness check.

        Raises:
            PlanFileError: The file is not a plan, or it was modified after it was made.
            LoadFailedError: The warehouse cannot be reached or refused a statement; nothing
                was loaded.
        """
        return self._client.apply_plan_file(path, force=force, accepted=accepted)


def _marks_written_before_commit(domain: str) -> None:
    """Wait for the domain's marked rejects workbooks: the load commits only beside them.

    Raises:
        RejectsWorkbookError: One cannot be written (the load rolls back).
    """
    try:
        background_writes.wait(domain)
    except RejectsWorkbookError as exc:
        raise exc.nothing_loaded() from exc


def _marks_written_or_logged(domain: str) -> None:
    """Wait for the domain's marked rejects workbooks after its save failed: the save's
    failure is the one raised, theirs is logged."""
    try:
        background_writes.wait(domain)
    except Exception as exc:
        logger.error(
            "%s: %s", domain, exc, extra={"event": "rejects_workbooks_failed", "domain": domain}
        )


def _drop_rows_file(summary: PlanSummary | None) -> None:
    """A diff's rows file belongs to its plan: no plan, no rows file."""
    if summary is not None and summary.diff is not None and summary.diff.rows_file:
        Path(summary.diff.rows_file).unlink(missing_ok=True)
