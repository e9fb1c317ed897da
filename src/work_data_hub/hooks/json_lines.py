"""Log records as JSON lines: one object per line, with the ``extra`` fields a record carries.

``work_data_hub.run`` logs each run-report event with ``extra={"event": ..., ...}`` (run start
and end, files, per-domain counts); those fields become keys of the line, so the file can be
read with ``jq`` or ``pandas.read_json(path, lines=True)``.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import os
from typing import Any

from work_data_hub.datasets.owner_only import open_owner_only

# Attributes every LogRecord has, plus the markup hints Kedro's RichHandler reads: not "extra".
_RECORD_ATTRIBUTES = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys()
    | {"message", "asctime", "taskName", "markup", "rich_format", "highlighter"}
)


class JsonLinesFormatter(logging.Formatter):
    """Formats a record as one JSON object: time, level, logger, message, then its extras.

    ``fields`` are added to every line (the run id, for example).
    """

    def __init__(self, fields: dict[str, Any] | None = None) -> None:
        super().__init__()
        self._fields = dict(fields or {})

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **self._fields,
        }
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRIBUTES and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class JsonLinesFileHandler(logging.FileHandler):
    """Appends JSON lines to ``filename`` (created owner-readable only, like the run reports)."""

    def __init__(self, filename: str | os.PathLike[str], fields: dict[str, Any] | None = None):
        super().__init__(filename, mode="a", encoding="utf-8", delay=True)
        self.setFormatter(JsonLinesFormatter(fields))

    def _open(self) -> io.TextIOWrapper:
        return open(open_owner_only(self.baseFilename, append=True), "a", encoding="utf-8")
