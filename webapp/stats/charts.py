"""Bar charts drawn on the server: geometry for inline SVG (no script, no style attribute, so
the strict CSP holds), one chart per breakdown, each with its labels in the reader's language.

A withheld cell gets no bar, only its mark ("<5" or "x"): the chart never shows more than the
table beside it.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

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
