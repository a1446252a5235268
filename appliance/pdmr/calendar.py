"""The financial calendar: the days interim and year-end reports are announced, and the closed
periods before them."""

from __future__ import annotations

import datetime as dt
import unicodedata
import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from appliance.actors import Actor
from appliance.audit.service import Logbook
from appliance.clock import Clock
from appliance.errors import Conflict, InvalidInput, NotFound
from appliance.pdmr.closed_periods import ClosedPeriod, closed_period
from appliance.pdmr.models import FinancialReport

KINDS = ("interim", "year-end")
MAX_LABEL = 80


@dataclass(frozen=True)
class Announcement:
    id: uuid.UUID
    tenant_id: uuid.UUID
    kind: str
    label: str
    announce_on: dt.date
    cancelled_at: dt.datetime | None

    @property
    def closed_period(self) -> ClosedPeriod:
        return closed_period(self.announce_on)


class FinancialCalendar:
    def __init__(self, session: Session, logbook: Logbook, clock: Clock) -> None:
        self._session = session
        self._logbook = logbook
        self._clock = clock

    def add(self, tenant_id: uuid.UUID, kind: str, announce_on: dt.date, label: str, actor: Actor) -> Announcement:
        if kind not in KINDS:
            raise InvalidInput("kind", f"one of {', '.join(KINDS)}")
        label = unicodedata.normalize("NFC", (label or "").strip())
        if not label or len(label) > MAX_LABEL or any(unicodedata.category(c) == "Cc" for c in label):
            raise InvalidInput("label", f"1 to {MAX_LABEL} characters")
        if announce_on < self._clock().date():
            raise InvalidInput("announce_on", "is in the past")
        row = FinancialReport(id=uuid.uuid4(), tenant_id=tenant_id, kind=kind, announce_on=announce_on, label=label,
                              added_at=self._clock(), added_by=actor.audit_id or actor.kind)
        self._session.add(row)
        self._session.flush()
        self._logbook.record("calendar.added", actor, tenant_id=tenant_id, object_type="financial_report",
                             object_id=row.id, detail=f"kind={kind}")
        return _view(row)

    def cancel(self, tenant_id: uuid.UUID, report_id: uuid.UUID, actor: Actor) -> None:
        row = self._session.execute(sa.select(FinancialReport).where(
            FinancialReport.id == report_id, FinancialReport.tenant_id == tenant_id)).scalar_one_or_none()
        if row is None:
            raise NotFound("financial report", report_id)
        if row.cancelled_at is not None:
            raise Conflict("cancelled already")
        row.cancelled_at = self._clock()
        self._session.flush()
        self._logbook.record("calendar.cancelled", actor, tenant_id=tenant_id, object_type="financial_report",
                             object_id=row.id)

    def announcements(self, tenant_id: uuid.UUID) -> list[Announcement]:
        rows = self._session.execute(sa.select(FinancialReport).where(
            FinancialReport.tenant_id == tenant_id).order_by(FinancialReport.announce_on, FinancialReport.id)).scalars()
        return [_view(r) for r in rows]

    def current_closed_periods(self, tenant_id: uuid.UUID) -> list[Announcement]:
        """Announcements whose closed period covers today."""
        today = self._clock().date()
        return [a for a in self.announcements(tenant_id) if a.cancelled_at is None and a.closed_period.covers(today)]

    def notices_due(self) -> list[Announcement]:
        """Announcements (every tenant) whose closed-period notice is due today."""
        today = self._clock().date()
        rows = self._session.execute(sa.select(FinancialReport).where(
            FinancialReport.cancelled_at.is_(None), FinancialReport.announce_on > today)).scalars()
        return [a for a in map(_view, rows) if a.closed_period.notice_due(today)]


def _view(row: FinancialReport) -> Announcement:
    return Announcement(row.id, row.tenant_id, row.kind, row.label, row.announce_on, row.cancelled_at)
