"""Exports for the competent authority: a section, or the whole list, as at a moment, in the
columns, header texts and formats of the template that applied then (CSV, XLSX, PDF).

Every export is written to the logbook (who, which section, which format, as at when; never
what it holds); a transmission to the authority is recorded with its date, and the section's
heading shows it. Cells that a spreadsheet would run as a formula (=, +, -, @ first) are kept
as text: CSV gets a leading apostrophe on free text, XLSX cells are typed as strings.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from collections.abc import Sequence

from sqlalchemy.orm import Session

from appliance.actors import Actor
from appliance.audit.service import Logbook
from appliance.clock import Clock
from appliance.documents.pdf import Document, Fields, Section, Table, render_pdf
from appliance.errors import InvalidInput
from appliance.insiders import formats
from appliance.insiders.history import InsiderHistory
from appliance.insiders.models import InsiderTransmission
from appliance.insiders.records import ERASED, InsiderView, ListAsAt, SectionAsAt
from appliance.insiders.templates import DATETIME_MINUTE_T, PERMANENT, TEXT, TIME_FIELDS, Template, template_for

FORMATS = ("csv", "xlsx", "pdf")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
SHEET_TITLE_LIMIT = 31
PDF_TABLE_SIZE = 6  # points: a template has up to 17 columns on a landscape page


class RenderedSection:
    """One section in its template: heading lines, header texts, rows of strings."""

    def __init__(self, part: SectionAsAt, as_at: dt.datetime) -> None:
        self.template: Template = template_for(part.section.kind, as_at)
        self.section = part.section
        values: dict[str, str | dt.datetime | dt.date | None] = {
            "code": part.section.code or "", "identified_at": part.section.identified_at,
            "updated_at": part.section.updated_at, "transmitted_on": part.transmitted_on}
        self.heading = [(c.header, formats.render(values.get(c.field), c.format)) for c in self.template.heading]
        self.header = list(self.template.headers)
        insiders = [i for i in part.insiders if not (part.section.kind == PERMANENT and _ceased_by(i, as_at))]
        self.rows = [[_cell(i, c.field, c.format) for c in self.template.columns] for i in insiders]
        self.text_columns = [c.format == TEXT for c in self.template.columns]

    @property
    def title(self) -> str:
        kind = "permanent insiders" if self.section.kind == PERMANENT else (self.section.code or str(self.section.id))
        return f"Insider list ({self.template.regulation}, {self.template.template_id}): {kind}"


class InsiderExports:
    def __init__(self, session: Session, history: InsiderHistory, logbook: Logbook, clock: Clock) -> None:
        self._session = session
        self._history = history
        self._logbook = logbook
        self._clock = clock

    def export(self, tenant_id: uuid.UUID, section_id: uuid.UUID | None, export_format: str, as_at: dt.datetime | None,
               actor: Actor) -> bytes:
        """A section (``section_id``) or the whole list (None) as at ``as_at`` (default: now)."""
        if export_format not in FORMATS:
            raise InvalidInput("format", "one of " + ", ".join(FORMATS))
        moment = formats.past_minute("as_at", as_at or self._clock(), self._clock())
        view = self._history.as_at(tenant_id, moment, actor, section_id)
        data = render(view, export_format, self._clock())
        self._logbook.record("insider.exported", actor, tenant_id=tenant_id, object_type="insider_section",
                             object_id=section_id or "all",
                             detail=f"format={export_format} as_at={moment.isoformat()} sections={len(view.sections)}")
        return data

    def record_transmission(self, tenant_id: uuid.UUID, section_id: uuid.UUID | None, export_format: str,
                            as_at: dt.datetime, transmitted_on: dt.date, actor: Actor) -> uuid.UUID:
        """Record that an export was transmitted to the competent authority on ``transmitted_on``."""
        if export_format not in FORMATS:
            raise InvalidInput("format", "one of " + ", ".join(FORMATS))
        moment = formats.past_minute("as_at", as_at, self._clock())
        if transmitted_on > self._clock().date() or transmitted_on < moment.date():
            raise InvalidInput("transmitted_on", "between the as-at date and today")
        self._history.as_at(tenant_id, moment, actor, section_id)  # the section is the tenant's, the chain holds
        row = InsiderTransmission(id=uuid.uuid4(), tenant_id=tenant_id, section_id=section_id, as_at=moment,
                                  export_format=export_format, transmitted_on=transmitted_on,
                                  recorded_at=self._clock(), recorded_by=actor.audit_id or actor.kind)
        self._session.add(row)
        self._session.flush()
        self._logbook.record("insider.transmitted", actor, tenant_id=tenant_id, object_type="insider_section",
                             object_id=section_id or "all", detail=f"format={export_format} on={transmitted_on}")
        return row.id


def render(view: ListAsAt, export_format: str, created_at: dt.datetime) -> bytes:
    parts = [RenderedSection(part, view.as_at) for part in view.sections]
    if export_format == "csv":
        return _csv(parts)
    if export_format == "xlsx":
        return _xlsx(parts)
    return _pdf(parts, view.as_at, created_at)


def _pdf(parts: Sequence[RenderedSection], as_at: dt.datetime, created_at: dt.datetime) -> bytes:
    """Landscape A4 (the template's many columns), each section on a page of its own."""
    sections = [Section(part.title, new_page=number > 0,
                        blocks=[Fields(part.heading), Table(part.header, part.rows, size=PDF_TABLE_SIZE)])
                for number, part in enumerate(parts)]
    return render_pdf(Document(title="Insider list", subtitle=f"As at {formats.render(as_at, DATETIME_MINUTE_T)}",
                               sections=sections, footer="Insider list", orientation="landscape", empty=""),
                      created_at)


def _csv(parts: Sequence[RenderedSection]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for number, part in enumerate(parts):
        if number:
            writer.writerow([])
        writer.writerow([part.title])
        writer.writerows([label, _safe(value)] for label, value in part.heading)
        writer.writerow([])
        writer.writerow(part.header)
        for row in part.rows:
            writer.writerow([_safe(v) if text else v for v, text in zip(row, part.text_columns, strict=True)])
    return out.getvalue().encode("utf-8-sig")  # the BOM tells spreadsheets it is UTF-8


def _xlsx(parts: Sequence[RenderedSection]) -> bytes:
    from openpyxl import Workbook  # loaded at the first export: the CLI and the app start without it

    book = Workbook()
    if book.active is not None:
        book.remove(book.active)
    for number, part in enumerate(parts, 1):
        sheet = book.create_sheet(f"{number} {part.section.code or part.section.kind}"[:SHEET_TITLE_LIMIT]
                                  .translate(str.maketrans("[]:*?/\\", "_______")))
        lines: list[list[str]] = [[part.title], *([label, value] for label, value in part.heading), [], part.header,
                                  *part.rows]
        for r, values in enumerate(lines, 1):
            for c, value in enumerate(values, 1):
                cell = sheet.cell(row=r, column=c, value=value)
                cell.data_type = "s"  # never a formula, whatever the text starts with
    if not parts:
        book.create_sheet("empty")
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _cell(insider: InsiderView, field: str, fmt: str) -> str:
    """A field as the template shows it; every field but the times of an erased insider says so."""
    if insider.erased and field not in TIME_FIELDS:
        return ERASED
    return formats.render(insider.value(field), fmt)


def _safe(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value


def _ceased_by(insider: InsiderView, as_at: dt.datetime) -> bool:
    return insider.ceased is not None and insider.ceased <= as_at
