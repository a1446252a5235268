"""Mail each PDMR before a closed period starts (MAR Art. 19(11)): once per PDMR and period,
however often the job runs. The mail names the period's days and the report's label, nothing else."""

from __future__ import annotations

from sqlalchemy.orm import Session

from appliance.actors import SYSTEM
from appliance.clock import Clock
from appliance.notify.mailer import Mail, Mailer
from appliance.pdmr.calendar import Announcement, FinancialCalendar
from appliance.pdmr.models import ClosedPeriodNotice
from appliance.pdmr.register import PdmrRegister
from appliance.tenants.models import Tenant


class ClosedPeriodNotices:
    def __init__(self, session: Session, calendar: FinancialCalendar, register: PdmrRegister, mailer: Mailer,
                 clock: Clock) -> None:
        self._session = session
        self._calendar = calendar
        self._register = register
        self._mailer = mailer
        self._clock = clock

    def send(self) -> int:
        """Mail the notices due; returns how many went. Each is recorded, so none goes twice."""
        mails = []
        for announcement in self._calendar.notices_due():
            tenant = self._session.get(Tenant, announcement.tenant_id)
            assert tenant is not None
            for entry in self._register.active_pdmrs(announcement.tenant_id):
                if self._session.get(ClosedPeriodNotice, (announcement.id, entry.id)) is not None:
                    continue
                address = self._register.address_of(entry, SYSTEM)
                if address is None:
                    continue
                mails.append(_mail(address, tenant.name, announcement))
                self._session.add(ClosedPeriodNotice(report_id=announcement.id, entry_id=entry.id,
                                                     tenant_id=announcement.tenant_id, sent_at=self._clock()))
        self._session.flush()
        self._mailer.send(mails)
        return len(mails)


def _mail(address: str, organisation: str, announcement: Announcement) -> Mail:
    period = announcement.closed_period
    body = (f"{organisation} will announce its {announcement.kind} report ({announcement.label}) on "
            f"{announcement.announce_on:%Y-%m-%d}.\n\n"
            f"Closed period (MAR Art. 19(11)): from {period.first_day:%Y-%m-%d} to {period.last_day:%Y-%m-%d}, "
            "and on the day of the announcement until the report is published.\n"
            "During it you must not conduct any transaction on your own account or for a third party relating to "
            "the issuer's shares or debt instruments or to derivatives or other financial instruments linked to "
            "them, unless the issuer permits it under Art. 19(12).\n\n"
            f"{organisation} har en stängd period från {period.first_day:%Y-%m-%d} till {period.last_day:%Y-%m-%d} "
            "(artikel 19.11 MAR): inga transaktioner för egen eller annans räkning i emittentens finansiella "
            "instrument.\n")
    return Mail(address, f"Closed period from {period.first_day:%Y-%m-%d} / Stängd period", body)
