"""Directive (EU) 2019/1937 Art. 9(1)(b) and (f) deadlines.

Acknowledge receipt within 7 days. Give feedback within a reasonable time not exceeding
3 months from the acknowledgement or, when none was sent, from the end of the 7-day
period after the report was made.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass

ACK_WITHIN = dt.timedelta(days=7)
FEEDBACK_MONTHS = 3


def add_months(moment: dt.datetime, months: int) -> dt.datetime:
    """Calendar months; the day is clamped (31 Jan + 1 month = 28/29 Feb)."""
    month_index = moment.month - 1 + months
    year = moment.year + month_index // 12
    month = month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


@dataclass(frozen=True)
class Deadlines:
    acknowledge_by: dt.datetime
    feedback_by: dt.datetime
    acknowledge_overdue: bool
    feedback_overdue: bool

    @property
    def overdue(self) -> bool:
        return self.acknowledge_overdue or self.feedback_overdue


def deadlines_for(received_at: dt.datetime, acknowledged_at: dt.datetime | None,
                  feedback_at: dt.datetime | None, closed: bool, now: dt.datetime) -> Deadlines:
    acknowledge_by = received_at + ACK_WITHIN
    feedback_by = add_months(acknowledged_at or acknowledge_by, FEEDBACK_MONTHS)
    return Deadlines(
        acknowledge_by=acknowledge_by,
        feedback_by=feedback_by,
        acknowledge_overdue=acknowledged_at is None and not closed and now > acknowledge_by,
        feedback_overdue=feedback_at is None and not closed and now > feedback_by,
    )
