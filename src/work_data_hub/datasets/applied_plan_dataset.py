"""``AppliedPlanDataset``: apply_plan's verdict saved is the plan applied (with execute=true).

Example catalog entry::

    apply_plan.load_plan:
      type: work_data_hub.datasets.applied_plan_dataset.AppliedPlanDataset
      execute: ${runtime_params:execute, ${globals:execute}}
      credentials: warehouse

Only ``execute=true`` writes, through :meth:`WarehouseClient.apply_plan_file` (the path
``execute=true`` runs take too). Every checked plan gets its review beside it
(:mod:`work_data_hub.datasets.review_files`), from the summary the plan carries.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError

from work_data_hub.datasets.flags import strict_bool
from work_data_hub.datasets.review_files import ReviewFiles, write_review
from work_data_hub.errors import WorkDataHubError
from work_data_hub.load.checks import PlanVerdict
from work_data_hub.warehouse.client import WarehouseClient
from work_data_hub.warehouse.results import LoadResult

__all__ = ["AppliedPlanDataset", "PlanRefusedError"]

logger = logging.getLogger(__name__)


class PlanRefusedError(WorkDataHubError, DatasetError):
    """A saved plan is modified, already applied or stale (without force); nothing was written.

    Args:
        message: The verdict, as people read it.
        file: The plan file.
        domain: Its domain.
        table: Its target table.
        checks: The names of the checks that refused it.
    """

    def __init__(
        self, message: str, *, file: str, domain: str, table: str, checks: list[str]
    ) -> None:
        super().__init__(message, file=file, domain=domain, table=table, checks=list(checks))


class AppliedPlanDataset(AbstractDataset[PlanVerdict, None]):
    """Saving a :class:`PlanVerdict` applies its plan when ``execute`` is true and it passed.

    A refused verdict raises :class:`PlanRefusedError` whether or not ``execute`` is set, so a
    check-only run exits non-zero for a plan that would be refused.

    Args:
        execute: Whether to apply a plan that passed its checks; ``true`` or ``false`` only.
        credentials: The ``warehouse`` credentials entry (``con``), if any.
        connect_timeout: Seconds to wait for the server when connecting.
        metadata: Kedro's free-form metadata (Kedro-Viz shows it).

    Raises:
        DatasetError: ``execute`` is not a boolean.
        PlanRefusedError: On ``save``, a check refused the plan (with or without ``execute``).
        LoadFailedError: On ``save``, the warehouse refused the plan; nothing was loaded.
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
        self._client = WarehouseClient(credentials, connect_timeout=connect_timeout)
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
        # What the plan does, for the person deciding to apply it (refused or not).
        self.last_review = write_review(Path(data.plan_path), summary)
        if data.refusals:
            raise PlanRefusedError(
                f"{data.text} Nothing was written. ({data.plan_path})",
                file=data.plan_path,
                domain=data.summary.domain,
                table=data.summary.table,
                checks=[result.check.name for result in data.results if result.refuses],
            )
        if not self._execute:
            logger.info(
                "Checked %s; nothing was written. To apply it: %s",
                data.plan_path,
                f"kedro run --pipelines apply_plan --params plan={data.plan_path},execute=true"
                + (",force=true" if data.forced else ""),
            )
            return
        self.last_result = self._client.apply_plan_file(
            Path(data.plan_path), force=data.forced, accepted=data.accepted
        )
