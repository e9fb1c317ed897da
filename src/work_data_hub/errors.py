"""The one base class of WorkDataHub's own errors.

A :class:`WorkDataHubError` is a mistake a person can fix (a parameter, the configuration, the
inbox, a workbook, the warehouse settings, too many rejects): its message says what to fix.
Any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations


class WorkDataHubError(Exception):
    """A user-fixable problem; the message names the file, row, column or setting at fault."""
