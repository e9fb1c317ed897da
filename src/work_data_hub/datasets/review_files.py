"""The review of a plan written beside it: ``<name>.review.html`` and ``<name>.review.xlsx``;
and every row its diff names, written where the run says (beside its run report).

Owner-only like the plan: the review lists rows' values. Rendered by
:mod:`work_data_hub.reports.review` from the plan's summary as data, so any plan that has a
summary (ingest with ``diff=true``, ``apply_plan``, undo) gets the same review.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from work_data_hub.datasets.owner_only import open_owner_only
from work_data_hub.reports.review import render_review_page, write_review_workbook


@dataclass(frozen=True)
class ReviewFiles:
    """Where a plan's review was written."""

    page: str
    workbook: str


def write_review(plan_path: Path, summary: Mapping[str, Any]) -> ReviewFiles:
    """The review of the plan at ``plan_path`` (``x.sql`` -> ``x.review.html``, ``.xlsx``)."""
    page = plan_path.with_suffix(".review.html")
    workbook = plan_path.with_suffix(".review.xlsx")
    with os.fdopen(open_owner_only(page), "w", encoding="utf-8") as handle:
        handle.write(render_review_page(summary))
    with os.fdopen(open_owner_only(workbook), "wb") as target:
        write_review_workbook(target, summary)
    return ReviewFiles(str(page), str(workbook))


# The rows arrive one line at a time: written a mebibyte at a time.
_ROWS_BUFFER = 1 << 20


@contextmanager
def diff_rows_file(path: Path | None) -> Iterator[IO[bytes] | None]:
    """The file every row of a diff is written to as it arrives (``load.row_diff``), created
    owner-only; None when there is none to write. A diff that fails leaves no file."""
    if path is None:
        yield None
        return
    try:
        with os.fdopen(open_owner_only(path), "wb", buffering=_ROWS_BUFFER) as handle:
            yield handle
    except BaseException:
        path.unlink(missing_ok=True)
        raise
