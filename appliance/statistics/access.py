"""Access events uploaded through the API, counted by source and by project over time (for the
analyst and the insider manager): one table per dimension, a row per source (or project), a
column per month of the period (per day when the period is one month).

Rows are found by the events' keyed blind indexes (``source_lookup``, ``project_lookup``), so
counting opens nothing; only each row's label is opened, from one event of that row, for display
to the roles that may see it (the batch key's unwrap is in the logbook, the label never is).
Events stored before migration 0023 have no source index until their tenant's next upload fills
it in: they are counted in a row of their own, labelled as not indexed yet.

Suppression (appliance/statistics/suppression.py), per column: every column of a table is a
breakdown of that month's events, and its total is taken as known (the analyst's page shows it as
the events of that month, and the other table adds up to it too). So a column with a small cell
withholds its first shown cell as well, whatever the sizes. Row totals (a source's events over the
whole period) are not published at all: a row has no total to subtract from. A column whose cells
are all small while the month has five events or more (``pinned_by_total``) would give its cells
away through the month's total, and the other table adds up to that total too: then that column
is withheld whole in both tables ("x", small cells included), and so are the month totals (the
``events`` breakdown beside), every one of them.
"""

from __future__ import annotations

import calendar
import datetime as dt
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace

import sqlalchemy as sa
from sqlalchemy.orm import Session

from appliance.actors import Actor
from appliance.events.models import AccessEvent
from appliance.events.service import AccessEvents
from appliance.statistics.export import shown
from appliance.statistics.figures import Breakdown, Figures, Row
from appliance.statistics.period import Period
from appliance.statistics.suppression import Cell, Withheld, pinned_by_total, protect

BY_MONTH, BY_DAY = "month", "day"
SOURCE, PROJECT = "source", "project"
NOT_INDEXED = ""  # the row key of events without a source index yet
WITHHELD = Cell(None, Withheld.SECONDARY)


@dataclass(frozen=True)
class AccessRow:
    key: str  # opaque: tenant and blind index, never shown (NOT_INDEXED for events without one)
    label: str | None  # the source or project as uploaded, opened for display; None: not indexed yet
    tenant_id: uuid.UUID
    cells: tuple[Cell, ...]  # one per column


@dataclass(frozen=True)
class AccessTable:
    name: str  # SOURCE or PROJECT
    columns: tuple[str, ...]  # YYYY-MM, or YYYY-MM-DD by day
    rows: tuple[AccessRow, ...]


@dataclass(frozen=True)
class AccessCounts:
    period: Period
    by: str  # BY_MONTH or BY_DAY
    tables: dict[str, AccessTable]
    month_totals_withheld: bool  # a column pinned by its total: the events by month must not be shown


def buckets(period: Period) -> tuple[str, tuple[str, ...]]:
    """By day when the period is one month (a short period), else by month."""
    if period.first == period.last:
        days = calendar.monthrange(period.first.year, period.first.month)[1]
        return BY_DAY, tuple(f"{period.first.label}-{day:02d}" for day in range(1, days + 1))
    return BY_MONTH, tuple(m.label for m in period.months())


def bucket_of(moment: dt.datetime, by: str) -> str:
    return f"{moment.year:04d}-{moment.month:02d}" + (f"-{moment.day:02d}" if by == BY_DAY else "")


RowKey = tuple[str, uuid.UUID, str]  # (SOURCE or PROJECT, tenant, blind index as hex or NOT_INDEXED)


class AccessStatistics:
    """Counts of a set of tenants' access events (the caller decides which: every query filters by
    exactly those)."""

    def __init__(self, session: Session, events: AccessEvents) -> None:
        self._session = session
        self._events = events

    def counts(self, tenant_ids: Iterable[uuid.UUID], period: Period, actor: Actor | None) -> AccessCounts:
        """The tables; ``actor`` None opens no label (rows then carry none, and are in the order of
        their blind indexes): enough to know whether the month totals must be withheld."""
        tenants = frozenset(tenant_ids)
        by, columns = buckets(period)
        rows = self._session.execute(sa.select(
            AccessEvent.id, AccessEvent.tenant_id, AccessEvent.source_lookup, AccessEvent.project_lookup,
            AccessEvent.occurred_at).where(AccessEvent.tenant_id.in_(tenants), AccessEvent.occurred_at >= period.start,
                                           AccessEvent.occurred_at < period.end)).all() if tenants else []
        counted: Counter[tuple[RowKey, str]] = Counter()
        example: dict[RowKey, uuid.UUID] = {}  # one event of each row: its label is opened from it
        for row_id, tenant_id, source, project, occurred_at in rows:
            bucket = bucket_of(occurred_at, by)
            for key in ((SOURCE, tenant_id, bytes(source).hex() if source is not None else NOT_INDEXED),
                        (PROJECT, tenant_id, bytes(project).hex())):
                counted[(key, bucket)] += 1
                if key[2] != NOT_INDEXED:
                    example.setdefault(key, row_id)
        labels = self._labels(example, actor) if actor is not None else {}
        keys = {key for key, _ in counted}
        ordered = {name: sorted((k for k in keys if k[0] == name), key=lambda k: (
            labels.get(k) is None, labels.get(k) or "", str(k[1]), k[2])) for name in (SOURCE, PROJECT)}
        grids = {name: {column: {_opaque(k): counted[(k, column)] for k in ordered[name]} for column in columns}
                 for name in (SOURCE, PROJECT)}
        # A column pinned in either table is withheld whole, in both: the other table adds up to
        # the same month, and would say what the pinned one's total is.
        pinned = {column for column in columns if any(pinned_by_total(grids[name][column]) for name in grids)}
        tables: dict[str, AccessTable] = {}
        for name in (SOURCE, PROJECT):
            cells = {column: ({key: WITHHELD for key in grids[name][column]} if column in pinned
                              else protect(grids[name][column])) for column in columns}
            tables[name] = AccessTable(name, columns, tuple(
                AccessRow(_opaque(k), labels.get(k), k[1], tuple(cells[column][_opaque(k)] for column in columns))
                for k in ordered[name]))
        return AccessCounts(period, by, tables, bool(pinned))

    def _labels(self, example: dict[RowKey, uuid.UUID], actor: Actor) -> dict[RowKey, str]:
        """Each row's source or project, opened from one of its events (the unwraps are logged)."""
        by_tenant: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
        for (_, tenant_id, _), row_id in example.items():
            by_tenant[tenant_id].append(row_id)
        opened: dict[uuid.UUID, tuple[str, str]] = {}
        for tenant_id, row_ids in by_tenant.items():
            opened.update(self._events.labels(tenant_id, sorted(set(row_ids)), actor))
        return {key: opened[row_id][0 if key[0] == SOURCE else 1] for key, row_id in example.items()}


def _opaque(key: RowKey) -> str:
    return f"{key[1].hex}:{key[2]}"


def access_lines(counts: AccessCounts) -> list[tuple[str, str, str]]:
    """(section, item, value) for the exports: ``events_by_source`` / ``events_by_project``, the
    item being the column and the row's label ("not indexed yet" for events without a source index)."""
    return [(f"events_by_{table.name}", f"{column} {row.label if row.label is not None else 'not indexed yet'}",
             shown(cell))
            for table in counts.tables.values() for row in table.rows
            for column, cell in zip(table.columns, row.cells, strict=True)]


def with_events_withheld(figures: Figures) -> Figures:
    """The figures with every count of the events by month withheld (``month_totals_withheld``)."""
    events = figures.breakdowns["events"]

    def hide(cell: Cell) -> Cell:
        return Cell(None, Withheld.SECONDARY) if cell.shown else cell

    hidden = Breakdown(events.name, tuple(Row(r.key, hide(r.cell)) for r in events.rows), hide(events.total))
    return replace(figures, breakdowns={**figures.breakdowns, "events": hidden})
