"""The figures as a spreadsheet: CSV (UTF-8 with a byte order mark) and XLSX (openpyxl).

Both are made from ``lines()``, the same withheld cells the page shows: a withheld count is
written "<5" (small) or "x" (withheld so that a small one cannot be worked out), never its
value. Category labels, and the sources and projects of access events (their uploader names them),
are the free text: every text cell that a spreadsheet would run as a formula is neutralised.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from appliance.statistics.figures import Duration, Figures, Share
from appliance.statistics.suppression import Cell, Withheld

HEADER = ("section", "item", "value")
SMALL = "<5"
SECONDARY = "x"


def shown(cell: Cell) -> str:
    if cell.withheld is Withheld.SMALL:
        return SMALL
    if cell.withheld is Withheld.SECONDARY:
        return SECONDARY
    return str(cell.value)


def lines(figures: Figures) -> list[tuple[str, str, str]]:
    """(section, item, value) for every figure, in the page's order."""
    out = [("period", "from", figures.period.first.label), ("period", "to", figures.period.last.label),
           ("reports", "total", shown(figures.reports)), ("reports", "open", shown(figures.open)),
           ("reports", "overdue", shown(figures.overdue))]
    for breakdown in figures.breakdowns.values():
        out += [(breakdown.name, row.key or "none", shown(row.cell)) for row in breakdown.rows]
    out += _duration("days_to_acknowledge", figures.to_acknowledge)
    out += _duration("days_to_first_feedback", figures.to_feedback)
    out += _share("acknowledged_within_7_days", figures.acknowledged_in_time)
    out += _share("feedback_within_3_months", figures.fed_back_in_time)
    return out


def _duration(section: str, duration: Duration) -> list[tuple[str, str, str]]:
    return [(section, "cases", shown(duration.cases)), (section, "median", _number(duration.median_days)),
            (section, "p90", _number(duration.p90_days))]


def _share(section: str, share: Share) -> list[tuple[str, str, str]]:
    return [(section, "due", shown(share.due)), (section, "in_time", shown(share.in_time)),
            (section, "percent", _number(share.percent))]


def _number(value: float | None) -> str:
    return SMALL if value is None else f"{value:.1f}"


def neutralised(value: str) -> str:
    # A cell starting with = + - @ (or a tab/CR) would run as a formula in a spreadsheet. "<5"
    # starts with "<", which spreadsheets read as text.
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def figures_csv(figures: Figures, more: Sequence[tuple[str, str, str]] = ()) -> bytes:
    """``lines(figures)`` and then ``more`` (the access events by source and project)."""
    return rows_csv([*lines(figures), *more])


def figures_xlsx(figures: Figures, more: Sequence[tuple[str, str, str]] = ()) -> bytes:
    return rows_xlsx([*lines(figures), *more])


def rows_csv(rows: Sequence[tuple[str, str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    for line in rows:
        writer.writerow([neutralised(value) for value in line])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def rows_xlsx(rows: Sequence[tuple[str, str, str]]) -> bytes:
    from openpyxl import Workbook  # loaded at the first export: the CLI and the app start without it

    book = Workbook()
    if book.active is not None:
        book.remove(book.active)
    sheet = book.create_sheet("statistics")
    sheet.append(list(HEADER))
    for section, item, value in rows:
        # Counts go in as numbers; "<5", "x" and every text as a string cell, never a formula.
        number = value.isdigit()
        sheet.append([neutralised(section), neutralised(item), int(value) if number else neutralised(value)])
        for cell in sheet[sheet.max_row]:
            if isinstance(cell.value, str):
                cell.data_type = "s"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
