"""``SavedPlanDataset``: a plan file of ``kedro run --pipelines apply_plan --params plan=PATH``.

Example catalog entry::

    apply_plan.saved_plan:
      type: work_data_hub.datasets.saved_plan_dataset.SavedPlanDataset
      filepath: ${runtime_params:plan, null}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError

from work_data_hub.load.plan_file import PlanFileError, SavedPlan, read_saved_plan

__all__ = ["SavedPlan", "SavedPlanDataset"]

_HOW = "kedro run --pipelines apply_plan --params plan=<plan file>[,execute=true][,force=true]"


class SavedPlanDataset(AbstractDataset[None, SavedPlan]):
    """A plan file read back: summary, steps, and whether its checksum holds (read-only).


    Args:
        filepath: The plan file (``--params plan=PATH``); None when none was passed (the
            catalog's default is null, not "": Kedro would turn an empty filepath into the
            project folder).
        metadata: Kedro's free-form metadata (Kedro-Viz shows it).

    Raises:
        PlanFileError: On ``load``, no plan was passed, it is not a file, or not a plan.
    """

    def __init__(self, *, filepath: str | None = None, metadata: dict[str, Any] | None = None):
        self._filepath = (filepath or "").strip()
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"filepath": self._filepath}

    def load(self) -> SavedPlan:
        if not self._filepath:
            raise PlanFileError(
                f"param 'plan' is missing: apply_plan checks a saved plan: {_HOW}", file=None
            )
        path = Path(self._filepath)
        if not path.is_file():
            raise PlanFileError(
                f"param 'plan': {self._filepath} is not a file; pass a plan written by kedro run "
                f"(under data/08_reporting/plans/): {_HOW}",
                file=self._filepath,
            )
        return read_saved_plan(path)

    def save(self, data: None) -> None:
        raise DatasetError("SavedPlanDataset is read-only: plans are written by kedro run")
