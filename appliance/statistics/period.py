"""The months a statistic covers: ``from`` and ``to`` as ``YYYY-MM``, both included (UTC)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from appliance.errors import InvalidInput

MAX_MONTHS = 120  # ten years: a longer span is a typo, and would make a very long page
DEFAULT_MONTHS = 12
_MONTH = re.compile(r"\A(\d{4})-(\d{2})\Z")


@dataclass(frozen=True, order=True)
class Month:
    year: int
    month: int

    @property
    def label(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    def start(self) -> dt.datetime:
        return dt.datetime(self.year, self.month, 1, tzinfo=dt.UTC)

    def plus(self, months: int) -> Month:
        index = self.year * 12 + self.month - 1 + months
        return Month(index // 12, index % 12 + 1)

    def index(self) -> int:
        return self.year * 12 + self.month - 1

    @classmethod
    def of(cls, moment: dt.datetime) -> Month:
        moment = moment.astimezone(dt.UTC)
        return cls(moment.year, moment.month)


def parse_month(field: str, value: str) -> Month:
    """InvalidInput naming ``field`` (never echoing the value) unless ``value`` is YYYY-MM."""
    found = _MONTH.match(value.strip()) if len(value) <= 7 else None
    if found is None or not 1 <= int(found.group(2)) <= 12 or int(found.group(1)) < 1970:
        raise InvalidInput(field, "must be a month as YYYY-MM")
    return Month(int(found.group(1)), int(found.group(2)))


@dataclass(frozen=True)
class Period:
    first: Month
    last: Month

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise InvalidInput("to", "must not be before from")
        if self.last.index() - self.first.index() >= MAX_MONTHS:
            raise InvalidInput("to", f"spans at most {MAX_MONTHS} months")

    @property
    def start(self) -> dt.datetime:
        return self.first.start()

    @property
    def end(self) -> dt.datetime:
        """The first moment after the period."""
        return self.last.plus(1).start()

    def months(self) -> list[Month]:
        return [self.first.plus(i) for i in range(self.last.index() - self.first.index() + 1)]

    @classmethod
    def parse(cls, first: str | None, last: str | None, now: dt.datetime) -> Period:
        """The period a form or query string names; either end left out defaults to the twelve
        months up to this one."""
        end = parse_month("to", last) if last else Month.of(now)
        start = parse_month("from", first) if first else end.plus(1 - DEFAULT_MONTHS)
        return cls(start, end)
