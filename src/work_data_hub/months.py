"""Months as the deliveries name them (``YYYY-MM``): parsing, ranges, and the current month.

Pure, importing nothing of the project: config (the ``periods`` param, a domain's calendar),
discovery (future files) and the status pipeline share it.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Iterable
from typing import NamedTuple

# Run as if today were this date (ISO, 2024-11-15): what a status or a run would show then.
TODAY_VARIABLE = "WDH_TODAY"

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
PERIODS_FORMS = "YYYY-MM, a range YYYY-MM..YYYY-MM or a list [YYYY-MM,YYYY-MM]"


class Month(NamedTuple):
    """A calendar month; orders and subtracts like one."""

    year: int
    month: int

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def ordinal(self) -> int:
        return self.year * 12 + self.month - 1

    def plus(self, months: int) -> Month:
        index = self.ordinal + months
        return Month(index // 12, index % 12 + 1)

    @classmethod
    def of(cls, day: dt.date) -> Month:
        return cls(day.year, day.month)

    @classmethod
    def parse(cls, text: str) -> Month:
        """``YYYY-MM`` (month 01-12); anything else raises ValueError naming the form."""
        match = _MONTH.match(text.strip())
        if not match:
            raise ValueError(f"{text!r} is not a month written YYYY-MM (as in 2024-10)")
        return cls(int(match.group(1)), int(match.group(2)))


def months_between(first: Month, last: Month) -> list[Month]:
    """Every month from ``first`` to ``last``, both included (empty when last < first)."""
    return [first.plus(step) for step in range(last.ordinal - first.ordinal + 1)]


def parse_periods(value: object) -> tuple[str, ...]:
    """The months a ``periods`` value names, sorted, each once.

    ``2024-10``, ``2024-09..2024-11``, ``[2024-09, 2024-11]`` (a list from YAML, ``--config``
    or Dagster's run config, or the text of one), and lists mixing single months and ranges.
    Raises ValueError naming the accepted forms.
    """
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("[") and text.endswith("]"):
            items: Iterable[object] = [part for part in text[1:-1].split(",") if part.strip()]
        else:
            items = [text]
    elif isinstance(value, list | tuple):
        items = value
    else:
        raise ValueError(f"must be {PERIODS_FORMS}")
    months: set[Month] = set()
    for item in items:
        if not isinstance(item, str):
            raise ValueError(f"must be {PERIODS_FORMS}; {item!r} is not text")
        first, dots, last = item.strip().partition("..")
        try:
            start = Month.parse(first)
            end = Month.parse(last) if dots else start
        except ValueError as exc:
            raise ValueError(f"must be {PERIODS_FORMS}: {exc}") from None
        if end < start:
            raise ValueError(f"must be {PERIODS_FORMS}: the range {item.strip()!r} runs backwards")
        months.update(months_between(start, end))
    if not months:
        raise ValueError(f"must be {PERIODS_FORMS}; the list is empty")
    return tuple(str(month) for month in sorted(months))


def today() -> dt.date:
    """Today, or the date in ``WDH_TODAY`` (tests, and "what would this show on that day")."""
    fixed = os.environ.get(TODAY_VARIABLE, "").strip()
    if not fixed:
        return dt.date.today()
    try:
        return dt.date.fromisoformat(fixed)
    except ValueError:
        raise ValueError(
            f"{TODAY_VARIABLE}={fixed!r} is not a date written YYYY-MM-DD (as in 2024-11-15)"
        ) from None


def current_month() -> Month:
    return Month.of(today())
