"""A domain's delivery calendar (``calendar:`` in data_sources.yml): which months are expected.

Example::

    calendar: {frequency: monthly, first: 2024-09, due_day: 10}

``first`` is the first month a delivery is expected for; a month's delivery is due by
``due_day`` of the following month (the 10th of October for September), after which a missing
one is ``late``. The status pipeline and Dagster's monthly partitions read it.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from work_data_hub.months import Month, months_between

# Months a file's period may lie after the current month before it counts as `future`.
DEFAULT_FUTURE_TOLERANCE = 1


class DeliveryCalendar(BaseModel):
    """When a domain's deliveries are expected: monthly from ``first``, due by ``due_day``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    frequency: Literal["monthly"] = "monthly"
    first: str = Field(description="the first expected month, YYYY-MM")
    due_day: Annotated[int, Field(ge=1, le=28)] = Field(
        default=10, description="day of the following month by which a month's delivery is due"
    )

    @field_validator("first", mode="before")
    @classmethod
    def _month(cls, value: object) -> object:
        if not isinstance(value, str):
            raise ValueError(f"must be a month written YYYY-MM in quotes or plain (got {value!r})")
        return str(Month.parse(value))

    @property
    def first_month(self) -> Month:
        return Month.parse(self.first)

    def expected(self, until: Month) -> list[Month]:
        """The months expected from ``first`` up to ``until``, both included."""
        return months_between(self.first_month, until)

    def due_date(self, period: Month) -> dt.date:
        """The day by which ``period``'s delivery is due: ``due_day`` of the following month."""
        following = period.plus(1)
        return dt.date(following.year, following.month, self.due_day)
