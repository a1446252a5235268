"""The figures of a period when a breakdown's total would give its small cells away: the total is
withheld wherever it shows (page, exports and API render the same cells), and with it every figure
it could be worked out from."""

from __future__ import annotations

import datetime as dt
import uuid

from appliance.cases.workflow import Outcome, Status
from appliance.statistics.export import lines
from appliance.statistics.figures import Figures, _CaseRow, compute
from appliance.statistics.period import Period
from appliance.statistics.suppression import Cell, Withheld
from webapp.api.stats import stats_out

NOW = dt.datetime(2026, 4, 1, 12, 0, tzinfo=dt.UTC)
PERIOD = Period.parse("2026-01", "2026-03", NOW)
TENANTS = frozenset({uuid.uuid4()})


def case(day: int, closed: bool, channel: str | None = None) -> _CaseRow:
    received = dt.datetime(2026, 2, day, 9, 0, tzinfo=dt.UTC)
    return _CaseRow(received, received + dt.timedelta(days=1), received + dt.timedelta(days=20),
                    Status.CLOSED if closed else Status.INVESTIGATING, Outcome.SUBSTANTIATED if closed else None, channel,
                    None)


def figures(rows: list[_CaseRow]) -> Figures:
    return compute(rows, PERIOD, TENANTS, NOW)


def test_four_open_and_four_closed_withhold_the_total_and_everything_that_gives_it() -> None:
    result = figures([case(d, closed=d > 4, channel="phone") for d in range(1, 9)])
    assert result.reports == Cell(None, Withheld.SECONDARY)
    assert result.breakdowns["state"].total == Cell(None, Withheld.SECONDARY)
    assert all(not row.cell.shown for b in result.breakdowns.values() for row in b.rows)
    assert all(not b.total.shown for b in result.breakdowns.values())
    assert not result.open.shown and not result.overdue.shown
    assert result.to_acknowledge.median_days is None and result.acknowledged_in_time.percent is None
    exported = lines(result)
    assert not any(value.isdigit() for section, _item, value in exported if section != "period"), exported
    api = stats_out(result).model_dump()
    assert api["reports"] == {"value": None, "withheld": "secondary"}
    assert all(b["total"]["value"] is None for b in api["breakdowns"].values())


def test_a_total_that_pins_nothing_is_shown() -> None:
    result = figures([case(d, closed=d > 5, channel="phone") for d in range(1, 9)])  # 5 open, 3 closed
    assert result.reports == Cell(8)
    assert result.breakdowns["state"].total == Cell(8)
    assert result.open == Cell(None, Withheld.SECONDARY)  # the closed 3 would follow from it


def test_cases_closed_at_triage_count_as_closed_and_never_as_late() -> None:
    followed = [case(d, closed=d > 5) for d in range(1, 11)]  # acknowledged after a day each
    spam = [_CaseRow(dt.datetime(2026, 2, d, 9, 0, tzinfo=dt.UTC), None, None, Status.CLOSED,
                     Outcome.DUPLICATE if d % 2 else Outcome.NOT_A_REPORT, None, None) for d in range(11, 21)]
    result = figures(followed + spam)
    assert result.reports == Cell(20)
    assert result.breakdowns["state"].cell("closed") == Cell(15)
    assert result.breakdowns["outcome"].cell("duplicate") == Cell(5)
    assert result.breakdowns["outcome"].cell("not-a-report") == Cell(5)
    # never acknowledged, long past 7 days, yet no acknowledgement or feedback was late
    assert (result.acknowledged_in_time.due, result.acknowledged_in_time.percent) == (Cell(10), 100.0)
    assert result.fed_back_in_time.due == Cell(10)
