"""The one base class of WorkDataHub's own errors.

A :class:`WorkDataHubError` is a mistake a person can fix (a parameter, the configuration, the
inbox, a workbook, the warehouse settings, too many rejects): its message says what to fix.
Any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

from typing import Any


class WorkDataHubError(Exception):
    """A user-fixable problem; the message names the file, row, column or setting at fault.

    Subclasses keep what the message names as fields too, so the run report and orchestrators
    read them (:attr:`fields`) instead of parsing the text.
    """

    @property
    def fields(self) -> dict[str, Any]:
        """The error's structured facts (empty for an error that only has its message)."""
        return {}
