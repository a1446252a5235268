"""Bar charts drawn on the server: geometry for inline SVG (no script, no style attribute, so
the strict CSP holds), one chart per breakdown, each with its labels in the reader's language.

A withheld cell gets no bar, only its mark ("<5" or "x"): the chart never shows more than the
table beside it.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from appliance.statistics.access import AccessCounts, AccessRow, AccessTable
from appliance.statistics.export import shown
from appliance.statistics.figures import Breakdown, Figures
from webapp.templating import OUTCOME_LABELS, STATUS_LABELS, category_label

LABEL_WIDTH = 230
BAR_WIDTH = 330
ROW_HEIGHT = 26
BAR_HEIGHT = 18
WIDTH = LABEL_WIDTH + BAR_WIDTH + 60

TITLES = {"month": _l("Reports by month received"), "category": _l("Reports by category"),
          "channel": _l("Reports by channel"), "status": _l("Reports by status"),
          "state": _l("Open and closed reports"), "outcome": _l("Outcome of closed reports"),
          "events": _l("Access events uploaded through the API, by month")}
CHANNEL_LABELS = {"portal": _l("Web portal"), "phone": _l("Phone"), "letter": _l("Letter"),
                  "meeting": _l("Meeting"), "email": _l("E-mail"), "other": _l("Other")}
STATE_LABELS = {"open": _l("Open"), "closed": _l("Closed")}


@dataclass(frozen=True)
class Bar:
    label: str
    value: str  # the count, or "<5" / "x" when withheld
    y: int
    width: int  # 0 for a withheld cell


@dataclass(frozen=True)
class Chart:
    name: str
    title: str
    description: str
    bars: list[Bar]
    height: int
    width: int = WIDTH
    label_width: int = LABEL_WIDTH


def label_of(breakdown: str, key: str) -> str:
    if breakdown == "category":
        return category_label(key) if key else _("No category")
    if breakdown == "channel":
        return str(CHANNEL_LABELS.get(key, key))
    if breakdown == "status":
        return str(STATUS_LABELS.get(key, key))
    if breakdown == "state":
        return str(STATE_LABELS.get(key, key))
    if breakdown == "outcome":
        return str(OUTCOME_LABELS.get(key, key)) if key else _("Not recorded")
    return key


def chart_of(breakdown: Breakdown) -> Chart:
    peak = max((r.cell.value or 0 for r in breakdown.rows), default=0) or 1
    bars = [Bar(label_of(breakdown.name, row.key), shown(row.cell), i * ROW_HEIGHT,
                round(BAR_WIDTH * (row.cell.value or 0) / peak)) for i, row in enumerate(breakdown.rows)]
    title = str(TITLES[breakdown.name])
    visible = [f"{b.label}: {b.value}" for b in bars]
    description = _("Horizontal bar chart. %(values)s. The table after the chart holds the same figures.",
                    values="; ".join(visible))
    return Chart(breakdown.name, title, description, bars, max(1, len(bars)) * ROW_HEIGHT)


def charts_of(figures: Figures) -> dict[str, Chart]:
    return {name: chart_of(b) for name, b in figures.breakdowns.items()}


# --- access events by source and by project: a row of bars per source (project), one per column ---
GRID_ROW = 34
GRID_BAR = 26
ACCESS_TITLES = {"source": _l("Access events by source"), "project": _l("Access events by project")}


@dataclass(frozen=True)
class GridBar:
    x: int
    height: int  # 0 for a withheld cell (its mark is in the table only)


@dataclass(frozen=True)
class GridRow:
    label: str
    y: int
    bars: list[GridBar]


@dataclass(frozen=True)
class GridChart:
    name: str
    title: str
    description: str
    rows: list[GridRow]
    bar_width: int
    height: int
    width: int = WIDTH
    label_width: int = LABEL_WIDTH


def row_label(row: AccessRow) -> str:
    return row.label if row.label is not None else _("Not indexed yet")


def grid_chart_of(table: AccessTable) -> GridChart:
    """Bars as high as the shown counts (the largest one full height); withheld cells get none."""
    step = max(2, (WIDTH - LABEL_WIDTH - 10) // max(1, len(table.columns)))
    peak = max((c.value or 0 for r in table.rows for c in r.cells), default=0) or 1
    rows = [GridRow(row_label(row), i * GRID_ROW,
                    [GridBar(LABEL_WIDTH + j * step, round(GRID_BAR * (c.value or 0) / peak)) for j, c in enumerate(row.cells)])
            for i, row in enumerate(table.rows)]
    title = str(ACCESS_TITLES[table.name])
    first, last = (table.columns[0], table.columns[-1]) if table.columns else ("", "")
    description = _("Bar chart: for each row, one bar per period from %(first)s to %(last)s, as high as the count; "
                    "withheld counts have no bar. The table after the chart holds the same figures.",
                    first=first, last=last)
    return GridChart(table.name, title, description, rows, max(1, step - 2), max(1, len(rows)) * GRID_ROW)


def grid_charts_of(counts: AccessCounts) -> dict[str, GridChart]:
    return {name: grid_chart_of(table) for name, table in counts.tables.items()}
