"""The analyst's figures over cases received in a period (ISO 37002 §9.1.2 indicators and the
Directive's annual figures), computed from metadata only: dates, status, outcome, channel and
category. Nothing sealed is read, no key is unwrapped, and the logbook is not needed: the times
of acknowledgement and of first feedback are columns of ``cases``.

Every count goes out as a ``Cell`` (appliance/statistics/suppression.py): what could single out
fewer than five cases is withheld, in every output (page, CSV, XLSX, API) alike, because they all
render these cells.

One breakdown can give its cells away through the total alone (all of them small, and the total
bounding each from below: ``pinned_by_total``). The reports' total is not only that breakdown's footer: it is the
summary's first figure and the sum of every fully shown breakdown, and the other counts bound it.
So then every figure of the period's cases is withheld, not just the one footer. (Access events
have their own total, shown only under their breakdown: that footer alone is withheld.)
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

import sqlalchemy as sa
from sqlalchemy.orm import Session

from appliance.cases.deadlines import ACK_WITHIN, add_months, deadlines_for
from appliance.cases.models import Case
from appliance.cases.reporting import OTHER_CHANNELS
from appliance.cases.workflow import TRIAGE_OUTCOMES, Outcome, Status
from appliance.clock import Clock
from appliance.events.models import AccessEvent
from appliance.statistics.period import Period
from appliance.statistics.suppression import THRESHOLD, Cell, Withheld, pinned_by_total, protect, single
from appliance.tenants.models import Category

PORTAL = "portal"
CHANNELS = (PORTAL, *OTHER_CHANNELS)
UNCATEGORISED = ""
BREAKDOWNS = ("month", "category", "channel", "status", "state", "outcome", "events")
DAY = 86400.0


@dataclass(frozen=True)
class Row:
    key: str  # month YYYY-MM, category label, channel, status, open/closed, outcome
    cell: Cell


@dataclass(frozen=True)
class Breakdown:
    name: str
    rows: tuple[Row, ...]
    total: Cell  # what the rows add up to: the reports (closed cases for ``outcome``)

    def cell(self, key: str) -> Cell:
        return next(r.cell for r in self.rows if r.key == key)


@dataclass(frozen=True)
class Duration:
    """Days from receipt, over the cases that reached the step (``cases``)."""

    cases: Cell
    median_days: float | None
    p90_days: float | None


@dataclass(frozen=True)
class Share:
    """Of the cases whose deadline has passed or were answered (``due``), how many in time."""

    due: Cell
    in_time: Cell
    percent: float | None


@dataclass(frozen=True)
class Figures:
    period: Period
    tenant_ids: frozenset[uuid.UUID]
    reports: Cell
    breakdowns: dict[str, Breakdown]
    to_acknowledge: Duration
    to_feedback: Duration
    acknowledged_in_time: Share
    fed_back_in_time: Share
    open: Cell
    overdue: Cell


@dataclass(frozen=True)
class _CaseRow:
    received_at: dt.datetime
    acknowledged_at: dt.datetime | None
    feedback_at: dt.datetime | None
    status: str
    outcome: str | None
    channel: str | None
    category: str | None


class CaseStatistics:
    """Figures for a set of tenants: the caller decides which (web: the analyst's tenants; API: the
    token's one), and every query filters by exactly those."""

    def __init__(self, session: Session, clock: Clock) -> None:
        self._session = session
        self._clock = clock

    def figures(self, tenant_ids: Iterable[uuid.UUID], period: Period) -> Figures:
        tenants = frozenset(tenant_ids)
        rows = self._rows(tenants, period) if tenants else []
        figures = compute(rows, period, tenants, self._clock())
        figures.breakdowns["events"] = self._events(tenants, period)
        return figures

    def _events(self, tenants: frozenset[uuid.UUID], period: Period) -> Breakdown:
        """Access events uploaded through the API, by the month they happened: their times only.
        Source and project are sealed; counting by them would mean unsealing every event, which the
        analyst's figures never do."""
        times = self._session.execute(sa.select(AccessEvent.occurred_at).where(
            AccessEvent.tenant_id.in_(tenants), AccessEvent.occurred_at >= period.start,
            AccessEvent.occurred_at < period.end)).scalars().all() if tenants else []
        months = Counter(f"{t.year:04d}-{t.month:02d}" for t in times)
        return _breakdown("events", {m.label: months[m.label] for m in period.months()}, len(times),
                          len(times) >= THRESHOLD)

    def _rows(self, tenants: frozenset[uuid.UUID], period: Period) -> list[_CaseRow]:
        query = (sa.select(Case.received_at, Case.acknowledged_at, Case.feedback_at, Case.status, Case.outcome,
                           Case.channel, Category.label)
                 .outerjoin(Category, sa.and_(Category.id == Case.category_id, Category.tenant_id == Case.tenant_id))
                 .where(Case.tenant_id.in_(tenants), Case.received_at >= period.start, Case.received_at < period.end))
        return [_CaseRow(*row) for row in self._session.execute(query)]


def compute(rows: Sequence[_CaseRow], period: Period, tenants: frozenset[uuid.UUID], now: dt.datetime) -> Figures:
    total = len(rows)
    known = total >= THRESHOLD  # the reports' total is shown: breakdowns need secondary suppression
    closed = [r for r in rows if r.status == Status.CLOSED]
    months = Counter(f"{r.received_at.year:04d}-{r.received_at.month:02d}" for r in rows)
    categories = Counter(r.category or UNCATEGORISED for r in rows)
    channels = Counter(r.channel or PORTAL for r in rows)
    statuses = Counter(r.status for r in rows)
    breakdowns = {
        "month": _breakdown("month", {m.label: months[m.label] for m in period.months()}, total, known),
        "category": _breakdown("category", dict(sorted(categories.items())), total, known),
        "channel": _breakdown("channel", {c: channels[c] for c in CHANNELS}, total, known),
        "status": _breakdown("status", {s.value: statuses[s.value] for s in Status}, total, known),
        "state": _breakdown("state", {"open": total - len(closed), "closed": len(closed)}, total, known),
    }
    # The closed cases' total is the "closed" cell above: known only when that cell is shown.
    outcomes = Counter(r.outcome or "" for r in closed)
    closed_known = breakdowns["state"].cell("closed").shown
    outcome_keys = [o.value for o in Outcome] + ([""] if outcomes[""] else [])
    breakdowns["outcome"] = _breakdown("outcome", {o: outcomes[o] for o in outcome_keys}, len(closed), closed_known)
    acknowledged = [r for r in rows if r.acknowledged_at is not None]
    fed_back = [r for r in rows if r.feedback_at is not None]
    # A case closed at triage (spam, a duplicate) was never a report to acknowledge or answer: it is
    # counted as closed with its outcome, and in no deadline's share.
    followed_up = [r for r in rows if r.outcome not in TRIAGE_OUTCOMES]
    ack_due = [r for r in followed_up if r.acknowledged_at is not None or now > r.received_at + ACK_WITHIN]
    fb_due = [r for r in followed_up if r.feedback_at is not None or now > _feedback_by(r)]
    overdue = sum(1 for r in rows if deadlines_for(r.received_at, r.acknowledged_at, r.feedback_at,
                                                   r.status == Status.CLOSED, now).overdue)
    figures = Figures(
        period=period, tenant_ids=tenants, reports=single(total), breakdowns=breakdowns,
        to_acknowledge=_duration([_days(r.received_at, r.acknowledged_at) for r in acknowledged]),
        to_feedback=_duration([_days(r.received_at, r.feedback_at) for r in fed_back]),
        acknowledged_in_time=_share(len(ack_due), sum(
            1 for r in ack_due if r.acknowledged_at is not None and r.acknowledged_at <= r.received_at + ACK_WITHIN)),
        fed_back_in_time=_share(len(fb_due), sum(
            1 for r in fb_due if r.feedback_at is not None and r.feedback_at <= _feedback_by(r))),
        open=breakdowns["state"].cell("open"),
        overdue=single(overdue),
    )
    if any(_total_withheld(b) for b in breakdowns.values()):
        return _withheld_everywhere(figures)
    return figures


def _breakdown(name: str, counts: dict[str, int], total: int, total_known: bool) -> Breakdown:
    """The rows, small cells withheld; the total is withheld (``x``) when it would pin them."""
    cells = protect(counts, total_known)
    if not total_known:
        total_cell = Cell(None, Withheld.SMALL)
    elif pinned_by_total(counts):
        total_cell = Cell(None, Withheld.SECONDARY)
    else:
        total_cell = single(total)
    return Breakdown(name, tuple(Row(k, c) for k, c in cells.items()), total_cell)


def _total_withheld(breakdown: Breakdown) -> bool:
    return breakdown.total.withheld is Withheld.SECONDARY


def _withheld_everywhere(figures: Figures) -> Figures:
    """Every count of the period's cases withheld (small ones stay "<5", the rest become "x") and
    no median, percentile or share: nothing left to work the reports' total out from."""
    def hide(cell: Cell) -> Cell:
        return Cell(None, Withheld.SECONDARY) if cell.shown else cell

    def hide_share(share: Share) -> Share:
        return Share(hide(share.due), hide(share.in_time), None)

    breakdowns = {name: Breakdown(name, tuple(Row(r.key, hide(r.cell)) for r in b.rows), hide(b.total))
                  for name, b in figures.breakdowns.items()}
    return replace(figures, reports=hide(figures.reports), breakdowns=breakdowns, open=hide(figures.open),
                   overdue=hide(figures.overdue),
                   to_acknowledge=Duration(hide(figures.to_acknowledge.cases), None, None),
                   to_feedback=Duration(hide(figures.to_feedback.cases), None, None),
                   acknowledged_in_time=hide_share(figures.acknowledged_in_time),
                   fed_back_in_time=hide_share(figures.fed_back_in_time))


def _feedback_by(row: _CaseRow) -> dt.datetime:
    return add_months(row.acknowledged_at or row.received_at + ACK_WITHIN, 3)


def _days(start: dt.datetime, end: dt.datetime | None) -> float:
    assert end is not None
    return max(0.0, (end - start).total_seconds() / DAY)


def _duration(days: list[float]) -> Duration:
    """Median and 90th percentile by nearest rank; withheld over fewer than five cases."""
    if len(days) < THRESHOLD:
        return Duration(single(len(days)), None, None)
    ordered = sorted(days)
    return Duration(Cell(len(ordered)), round(_nearest_rank(ordered, 0.5), 1), round(_nearest_rank(ordered, 0.9), 1))


def _nearest_rank(ordered: list[float], q: float) -> float:
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def _share(due: int, in_time: int) -> Share:
    """The share is shown only when neither those in time nor those late are a small number
    (zero apart: it names nobody): a percentage of a few, or with a few late, would single them out."""
    late = due - in_time
    if due < THRESHOLD or 0 < in_time < THRESHOLD or 0 < late < THRESHOLD:
        hidden = single(in_time) if in_time < THRESHOLD else Cell(None, Withheld.SECONDARY)
        return Share(single(due), hidden, None)
    return Share(Cell(due), single(in_time), round(100.0 * in_time / due, 1))
