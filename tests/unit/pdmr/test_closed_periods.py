"""Closed periods (MAR Art. 19(11)): the 30 calendar days before the announcement."""

from __future__ import annotations

import datetime as dt

from appliance.pdmr.closed_periods import CLOSED_DAYS, closed_period


def test_the_thirty_calendar_days_before_the_announcement_are_closed_and_no_other() -> None:
    period = closed_period(dt.date(2027, 3, 1))  # across the end of February (28 days)
    assert (period.first_day, period.last_day) == (dt.date(2027, 1, 30), dt.date(2027, 2, 28))
    closed = [period.first_day + dt.timedelta(days=n) for n in range(CLOSED_DAYS)]
    assert all(period.covers(day) for day in closed) and len(closed) == 30
    assert not period.covers(dt.date(2027, 1, 29))  # the day before the first
    assert not period.covers(dt.date(2027, 3, 1))  # the announcement day is shown apart ("until published")


def test_a_leap_year_and_a_year_boundary_count_calendar_days() -> None:
    assert closed_period(dt.date(2028, 3, 1)).first_day == dt.date(2028, 1, 31)
    assert closed_period(dt.date(2027, 1, 15)).first_day == dt.date(2026, 12, 16)


def test_the_notice_is_due_a_week_before_the_first_day_until_the_announcement() -> None:
    period = closed_period(dt.date(2027, 3, 1))
    assert not period.notice_due(dt.date(2027, 1, 22))
    assert period.notice_due(dt.date(2027, 1, 23))
    assert period.notice_due(dt.date(2027, 2, 28))
    assert not period.notice_due(dt.date(2027, 3, 1))
