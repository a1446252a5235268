"""Directive (EU) 2019/1937 deadlines: 7 days to acknowledge, 3 months to give feedback."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from appliance.cases.deadlines import NO_DEADLINE, add_months, deadlines_for, next_due_at

UTC = dt.UTC


def at(year: int, month: int, day: int, hour: int = 9, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=UTC)


RECEIVED = at(2026, 3, 2)


def test_acknowledgement_due_seven_days_after_receipt() -> None:
    deadlines = deadlines_for(RECEIVED, None, None, closed=False, now=RECEIVED)
    assert deadlines.acknowledge_by == at(2026, 3, 9)


def test_feedback_due_three_months_after_acknowledgement() -> None:
    deadlines = deadlines_for(RECEIVED, at(2026, 3, 4, 15, 30), None, closed=False, now=RECEIVED)
    assert deadlines.feedback_by == at(2026, 6, 4, 15, 30)


def test_feedback_due_three_months_after_day_seven_without_acknowledgement() -> None:
    deadlines = deadlines_for(RECEIVED, None, None, closed=False, now=RECEIVED)
    assert deadlines.feedback_by == at(2026, 6, 9)


def test_late_acknowledgement_moves_the_feedback_deadline() -> None:
    deadlines = deadlines_for(RECEIVED, at(2026, 3, 20), None, closed=False, now=RECEIVED)
    assert deadlines.feedback_by == at(2026, 6, 20)


def test_feedback_deadline_is_calendar_months_across_a_year_end() -> None:
    deadlines = deadlines_for(at(2026, 11, 20), at(2026, 11, 25), None, closed=False, now=at(2026, 11, 25))
    assert deadlines.feedback_by == at(2027, 2, 25)


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (at(2026, 1, 31), 1, at(2026, 2, 28)),
        (at(2028, 1, 31), 1, at(2028, 2, 29)),   # leap year
        (at(2026, 11, 30), 3, at(2027, 2, 28)),
        (at(2027, 11, 30), 3, at(2028, 2, 29)),
        (at(2026, 5, 31), 1, at(2026, 6, 30)),
        (at(2026, 12, 31), 3, at(2027, 3, 31)),
        (at(2026, 10, 15), 3, at(2027, 1, 15)),
        (at(2026, 1, 15), 12, at(2027, 1, 15)),
        (at(2026, 1, 15), 0, at(2026, 1, 15)),
    ],
)
def test_add_months_clamps_to_month_end(start: dt.datetime, months: int, expected: dt.datetime) -> None:
    assert add_months(start, months) == expected


def test_feedback_deadline_clamps_at_month_end() -> None:
    deadlines = deadlines_for(at(2026, 11, 28), at(2026, 11, 30), None, closed=False, now=at(2026, 11, 30))
    assert deadlines.feedback_by == at(2027, 2, 28)


def test_add_months_keeps_time_and_zone() -> None:
    moment = dt.datetime(2026, 1, 31, 23, 59, 59, 999999, tzinfo=UTC)
    assert add_months(moment, 1) == dt.datetime(2026, 2, 28, 23, 59, 59, 999999, tzinfo=UTC)
    assert add_months(moment, 1).tzinfo is UTC


# overdue ---------------------------------------------------------------------------------

def test_nothing_overdue_right_after_receipt() -> None:
    deadlines = deadlines_for(RECEIVED, None, None, closed=False, now=RECEIVED)
    assert not deadlines.acknowledge_overdue
    assert not deadlines.feedback_overdue
    assert not deadlines.overdue


def test_acknowledgement_overdue_only_after_the_deadline() -> None:
    exactly = deadlines_for(RECEIVED, None, None, closed=False, now=at(2026, 3, 9))
    assert not exactly.acknowledge_overdue
    late = deadlines_for(RECEIVED, None, None, closed=False, now=at(2026, 3, 9) + dt.timedelta(seconds=1))
    assert late.acknowledge_overdue
    assert late.overdue
    assert not late.feedback_overdue


def test_acknowledged_case_is_not_acknowledge_overdue() -> None:
    deadlines = deadlines_for(RECEIVED, at(2026, 3, 12), None, closed=False, now=at(2026, 4, 1))
    assert not deadlines.acknowledge_overdue
    assert not deadlines.overdue


def test_feedback_overdue_after_three_months() -> None:
    before = deadlines_for(RECEIVED, at(2026, 3, 4), None, closed=False, now=at(2026, 6, 4))
    assert not before.feedback_overdue
    after = deadlines_for(RECEIVED, at(2026, 3, 4), None, closed=False, now=at(2026, 6, 4, 9, 1))
    assert after.feedback_overdue
    assert after.overdue


def test_never_acknowledged_case_is_overdue_on_both_counts() -> None:
    deadlines = deadlines_for(RECEIVED, None, None, closed=False, now=at(2026, 7, 1))
    assert deadlines.acknowledge_overdue
    assert deadlines.feedback_overdue


def test_feedback_given_clears_the_feedback_deadline() -> None:
    deadlines = deadlines_for(RECEIVED, at(2026, 3, 4), at(2026, 5, 1), closed=False, now=at(2026, 9, 1))
    assert not deadlines.feedback_overdue
    assert not deadlines.overdue


def test_closed_cases_are_never_overdue() -> None:
    for acknowledged in (None, at(2026, 3, 4)):
        deadlines = deadlines_for(RECEIVED, acknowledged, None, closed=True, now=at(2030, 1, 1))
        assert not deadlines.acknowledge_overdue
        assert not deadlines.feedback_overdue
        assert not deadlines.overdue


def test_next_due_at_says_overdue_exactly_when_deadlines_for_does() -> None:
    """The queue's SQL asks ``next_due_at < now``; for any case and any moment that is the
    Python deadlines' answer (random cases around month ends, leap days and exact deadlines)."""
    rng = random.Random(17)
    start = dt.datetime(2027, 11, 20, tzinfo=dt.UTC)
    for _ in range(5000):
        received = start + dt.timedelta(days=rng.randrange(200), microseconds=rng.choice((0, 1, 999_999)))
        acknowledged = rng.choice((None, received + dt.timedelta(days=rng.randrange(10), seconds=rng.randrange(3))))
        feedback = rng.choice((None, received + dt.timedelta(days=rng.randrange(120))))
        closed = rng.random() < 0.2
        due = next_due_at(received, acknowledged, feedback, closed)
        candidates = [due - dt.timedelta(microseconds=1), due, due + dt.timedelta(microseconds=1),
                      start + dt.timedelta(days=rng.randrange(400))] if due != NO_DEADLINE else [
                      start + dt.timedelta(days=rng.randrange(2000))]
        for now in candidates:
            assert (now > due) == deadlines_for(received, acknowledged, feedback, closed, now).overdue
