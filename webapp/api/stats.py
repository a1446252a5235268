"""The figures as the API's models (the same cells as the page and the exports)."""

from __future__ import annotations

from appliance.statistics.figures import Duration, Figures, Share
from appliance.statistics.suppression import Cell
from webapp.api.schemas import BreakdownOut, BreakdownRowOut, CountOut, DurationOut, ShareOut, StatsOut


def count_out(cell: Cell) -> CountOut:
    return CountOut(value=cell.value, withheld=cell.withheld.value if cell.withheld else None)


def _duration(d: Duration) -> DurationOut:
    return DurationOut(cases=count_out(d.cases), median_days=d.median_days, p90_days=d.p90_days)


def _share(s: Share) -> ShareOut:
    return ShareOut(due=count_out(s.due), in_time=count_out(s.in_time), percent=s.percent)


def stats_out(f: Figures) -> StatsOut:
    return StatsOut(
        period_from=f.period.first.label, period_to=f.period.last.label, reports=count_out(f.reports),
        open=count_out(f.open), overdue=count_out(f.overdue),
        breakdowns={name: BreakdownOut(rows=[BreakdownRowOut(key=r.key, count=count_out(r.cell)) for r in b.rows],
                                       total=count_out(b.total)) for name, b in f.breakdowns.items()},
        to_acknowledge=_duration(f.to_acknowledge), to_first_feedback=_duration(f.to_feedback),
        acknowledged_within_7_days=_share(f.acknowledged_in_time), feedback_within_3_months=_share(f.fed_back_in_time))
