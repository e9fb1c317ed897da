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

    Args:
        message: What is wrong and what to do, for people.
        **fields: What the message names (file, sheet, row, column, setting, domain, ...), for
            orchestrators; a subclass's constructor names the ones it has.
    """

    def __init__(self, message: str, **fields: Any) -> None:
        super().__init__(message)
        self._fields = fields

    @property
    def fields(self) -> dict[str, Any]:
        """The error's structured facts, by name (what its message names)."""
        return dict(self._fields)


def error_record(error: BaseException) -> dict[str, Any]:
    """What a run report keeps of the error a run or a domain ended with.

    ``type`` and ``fields`` are for orchestrators; ``message`` is for people. A WorkDataHub
    error wrapped by another library (Kedro wraps a dataset's failure) is found through its
    cause, so its fields are never lost to the wrapper.
    """
    found: BaseException | None = error
    while found is not None and not isinstance(found, WorkDataHubError):
        found = found.__cause__
    own = found if isinstance(found, WorkDataHubError) else None
    return {
        "type": type(own or error).__name__,
        "message": str(error),
        "fields": own.fields if own is not None else {},
    }
