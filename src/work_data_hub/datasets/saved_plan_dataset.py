"""Datasets of ``kedro run --pipelines apply_plan --params plan=PATH``: the saved plan, the
ledger it is checked against, and applying it.

Example catalog entries::

    apply_plan.saved_plan:
      type: work_data_hub.datasets.saved_plan_dataset.SavedPlanDataset
      filepath: ${runtime_params:plan, ""}

    apply_plan.ledger:
      type: work_data_hub.datasets.saved_plan_dataset.PlanLedgerDataset
      credentials: warehouse

    apply_plan.load_plan:
      type: work_data_hub.datasets.saved_plan_dataset.AppliedPlanDataset
      execute: ${runtime_params:execute, ${globals:execute}}
      credentials: warehouse

Checking connects once, in a ``READ ONLY`` transaction; only ``execute=true`` writes, through
:meth:`PostgresLoadDataset.apply_plan_file` (the path ``execute=true`` runs take too).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError

from work_data_hub.datasets.postgres_load_dataset import (
    LoadFailedError,
    LoadResult,
    PostgresLoadDataset,
    strict_bool,
)
from work_data_hub.datasets.review_files import ReviewFiles
from work_data_hub.datasets.warehouse_connection import server_reason
from work_data_hub.errors import WorkDataHubError
from work_data_hub.load.guards import LedgerEntry, PlanVerdict
from work_data_hub.load.ledger import LEDGER_TABLE
from work_data_hub.load.plan_file import PlanFileError, SavedPlan, read_saved_plan

logger = logging.getLogger(__name__)

_HOW = "kedro run --pipelines apply_plan --params plan=<plan file>[,execute=true][,force=true]"


class PlanRefusedError(WorkDataHubError, DatasetError):
    """A saved plan is modified, already applied or stale (without force); nothing was written."""


class SavedPlanDataset(AbstractDataset[None, SavedPlan]):
    """A plan file read back: summary, steps, and whether its checksum holds (read-only)."""

    def __init__(self, *, filepath: str | None = None, metadata: dict[str, Any] | None = None):
        self._filepath = (filepath or "").strip()
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"filepath": self._filepath}

    def load(self) -> SavedPlan:
        if not self._filepath:
            raise PlanFileError(f"apply_plan needs the plan to check: {_HOW}")
        path = Path(self._filepath)
        if not path.is_file():
            raise PlanFileError(
                f"param 'plan': {self._filepath} is not a file; pass a plan written by kedro run "
                f"(under data/08_reporting/plans/): {_HOW}"
            )
        return read_saved_plan(path)

    def save(self, data: None) -> None:
        raise DatasetError("SavedPlanDataset is read-only: plans are written by kedro run")


class PlanLedgerDataset(AbstractDataset[None, list[LedgerEntry]]):
    """The committed loads of ``wdh_loads`` (empty when it does not exist yet), read-only."""

    def __init__(
        self,
        *,
        credentials: dict[str, Any] | None = None,
        connect_timeout: int = 10,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._warehouse = PostgresLoadDataset(
            filepath="(no plan)", credentials=credentials, connect_timeout=connect_timeout
        )
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"table": LEDGER_TABLE}

    def load(self) -> list[LedgerEntry]:
        address = self._warehouse._address("apply_plan")
        connection = self._warehouse._connection(address, "check a saved plan")
        try:
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute("BEGIN")
                cursor.execute("SET TRANSACTION READ ONLY")
                cursor.execute("SELECT to_regclass(%s) IS NOT NULL", (LEDGER_TABLE,))
                entries: list[LedgerEntry] = []
                if cursor.fetchone()[0]:
                    cursor.execute(
                        f"SELECT plan_sha256, domain, run_id, committed_at FROM {LEDGER_TABLE} "
                        "ORDER BY committed_at"
                    )
                    entries = [LedgerEntry(*row) for row in cursor.fetchall()]
                cursor.execute("ROLLBACK")
        except Exception as exc:
            raise LoadFailedError(
                f"apply_plan could not read the ledger {LEDGER_TABLE}: "
                f"{server_reason(exc, address.url)} Nothing was written."
            ) from None
        finally:
            connection.close()
        return entries

    def save(self, data: None) -> None:
        raise DatasetError("PlanLedgerDataset is read-only: loads write the ledger themselves")


class AppliedPlanDataset(AbstractDataset[PlanVerdict, None]):
    """Saving a :class:`PlanVerdict` applies its plan when ``execute`` is true and it passed.

    A refused verdict raises :class:`PlanRefusedError` whether or not ``execute`` is set, so a
    check-only run exits non-zero for a plan that would be refused.
    """

    def __init__(
        self,
        *,
        execute: bool = False,
        credentials: dict[str, Any] | None = None,
        connect_timeout: int = 10,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._execute = strict_bool(execute, "execute")
        self._credentials = credentials
        self._connect_timeout = connect_timeout
        self.metadata = metadata
        self.last_result: LoadResult | None = None
        self.last_review: ReviewFiles | None = None

    def _describe(self) -> dict[str, Any]:
        return {"execute": self._execute}

    def load(self) -> None:
        raise DatasetError("AppliedPlanDataset is write-only")

    def save(self, data: PlanVerdict) -> None:
        summary = data.summary.as_dict()
        self.last_result = LoadResult(
            data.plan_path, executed=False, plan_sha256=data.summary.plan_sha256, summary=summary
        )
        if data.refusals:
            raise PlanRefusedError(f"{data.text} Nothing was written. ({data.plan_path})")
        if not self._execute:
            logger.info(
                "Checked %s; nothing was written. To apply it: %s",
                data.plan_path,
                f"kedro run --pipelines apply_plan --params plan={data.plan_path},execute=true"
                + (",force=true" if data.forced else ""),
            )
            return
        warehouse = PostgresLoadDataset(
            filepath=data.plan_path,
            credentials=self._credentials,
            connect_timeout=self._connect_timeout,
        )
        self.last_result = warehouse.apply_plan_file(Path(data.plan_path), force=data.forced)


__all__ = [
    "AppliedPlanDataset",
    "PlanLedgerDataset",
    "PlanRefusedError",
    "SavedPlan",
    "SavedPlanDataset",
]
