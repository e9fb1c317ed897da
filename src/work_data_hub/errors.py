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


def user_error(exc: BaseException) -> WorkDataHubError | None:
    """The project's own error behind ``exc`` (itself, or what it was raised from), if any.

    Kedro wraps some exceptions (a dataset's save error becomes a ``DatasetError``, an unknown
    pipeline's ``KeyError`` a ``ValueError``); the cause chain still holds ours.

    Args:
        exc: The exception a command or a run ended with.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, WorkDataHubError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def error_record(error: BaseException) -> dict[str, Any]:
    """What a run report keeps of the error a run or a domain ended with.

    ``type`` and ``fields`` are for orchestrators (those of our error behind a wrapper, see
    :func:`user_error`; a bug has no fields); ``message`` is the error's own text, for people.

    Args:
        error: The exception the run or the domain ended with.
    """
    own = user_error(error)
    return {
        "type": type(own or error).__name__,
        "message": str(error),
        "fields": own.fields if own is not None else {},
    }
