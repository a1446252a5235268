"""Closed periods (MAR Art. 19(11)): the 30 calendar days before the announcement of an interim
financial report or a year-end report. Pure date arithmetic, no database.

For an announcement on day D, the closed period is D-30 up to and including D-1: thirty calendar
days, weekends and holidays counted. On D itself a PDMR still waits until the report is
published (the period ends with the announcement); pages say so.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

CLOSED_DAYS = 30
NOTICE_DAYS = 7  # PDMRs are told this many days before a closed period starts


@dataclass(frozen=True)
class ClosedPeriod:
    announce_on: dt.date

    @property
    def first_day(self) -> dt.date:
        return self.announce_on - dt.timedelta(days=CLOSED_DAYS)

    @property
    def last_day(self) -> dt.date:
        return self.announce_on - dt.timedelta(days=1)

    def covers(self, day: dt.date) -> bool:
        return self.first_day <= day <= self.last_day

    def notice_due(self, today: dt.date) -> bool:
        """From NOTICE_DAYS before the first day until the announcement: a notice not sent yet goes."""
        return self.first_day - dt.timedelta(days=NOTICE_DAYS) <= today < self.announce_on


def closed_period(announce_on: dt.date) -> ClosedPeriod:
    return ClosedPeriod(announce_on)
