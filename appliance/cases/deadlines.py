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
# A case with no deadline pending (closed, or acknowledged and answered) sorts after every real
# one. A value rather than NULL: NULLs sort first on SQLite and last on PostgreSQL, and a keyset
# page must compare the same way on every backend.
NO_DEADLINE = dt.datetime(9999, 12, 31, tzinfo=dt.UTC)


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


def next_due_at(received_at: dt.datetime, acknowledged_at: dt.datetime | None, feedback_at: dt.datetime | None,
                closed: bool) -> dt.datetime:
    """The earliest deadline still pending, NO_DEADLINE when none is.

    A case is overdue exactly when ``now > next_due_at(...)`` (deadlines_for's ``overdue`` for any
    ``now``): the queue stores this value so that "overdue" and "by deadline" are one indexed
    range in SQL (``Case.next_due_at``, kept by the model on every write)."""
    if closed:
        return NO_DEADLINE
    acknowledge_by = received_at + ACK_WITHIN
    pending = []
    if acknowledged_at is None:
        pending.append(acknowledge_by)
    if feedback_at is None:
        pending.append(add_months(acknowledged_at or acknowledge_by, FEEDBACK_MONTHS))
    return min(pending, default=NO_DEADLINE)
