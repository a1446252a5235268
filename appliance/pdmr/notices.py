"""Mail each PDMR before a closed period starts (MAR Art. 19(11)): once per PDMR and period,
however often the job runs. The mail names the period's days and the report's label, nothing else.
It is in the language the PDMR's notification of obligations was sent in, else the installation's."""

from __future__ import annotations

from sqlalchemy.orm import Session

from appliance.actors import SYSTEM
from appliance.clock import Clock
from appliance.notify.language import N_, translate
from appliance.notify.mailer import Mail, Mailer
from appliance.pdmr.calendar import Announcement, FinancialCalendar
from appliance.pdmr.models import ClosedPeriodNotice
from appliance.pdmr.register import PdmrRegister
from appliance.tenants.models import Tenant


class ClosedPeriodNotices:
    def __init__(self, session: Session, calendar: FinancialCalendar, register: PdmrRegister, mailer: Mailer,
                 clock: Clock, language: str = "en") -> None:
        self._session = session
        self._calendar = calendar
        self._register = register
        self._mailer = mailer
        self._clock = clock
        self._language = language

    def send(self) -> int:
        """Mail the notices due; returns how many went. Each is recorded, so none goes twice."""
        mails = []
        for announcement in self._calendar.notices_due():
            tenant = self._session.get(Tenant, announcement.tenant_id)
            assert tenant is not None
            pdmrs = self._register.active_pdmrs(announcement.tenant_id)
            languages = self._register.languages_of(announcement.tenant_id, pdmrs)
            for entry in pdmrs:
                if self._session.get(ClosedPeriodNotice, (announcement.id, entry.id)) is not None:
                    continue
                address = self._register.address_of(entry, SYSTEM)
                if address is None:
                    continue
                mails.append(_mail(address, tenant.name, announcement, languages.get(entry.id, self._language)))
                self._session.add(ClosedPeriodNotice(report_id=announcement.id, entry_id=entry.id,
                                                     tenant_id=announcement.tenant_id, sent_at=self._clock()))
        self._session.flush()
        self._mailer.send(mails)
        return len(mails)


_SUBJECT = N_("Closed period from %(first)s")
_BODY = N_("%(org)s will announce a report on %(announce)s: %(report)s, %(label)s.\n\n"
           "Closed period (MAR Art. 19(11)): from %(first)s to %(last)s, and on the day of the announcement until the "
           "report is published.\n"
           "During it you must not conduct any transaction on your own account or for a third party relating to the "
           "issuer's shares or debt instruments or to derivatives or other financial instruments linked to them, "
           "unless the issuer permits it under Art. 19(12).\n")
_REPORTS = {"interim": N_("Interim report"), "year-end": N_("Year-end report")}


def _mail(address: str, organisation: str, announcement: Announcement, language: str) -> Mail:
    period = announcement.closed_period
    first, last = f"{period.first_day:%Y-%m-%d}", f"{period.last_day:%Y-%m-%d}"
    report = translate(_REPORTS.get(announcement.kind, announcement.kind), language)
    body = translate(_BODY, language, org=organisation, report=report, label=announcement.label,
                     announce=f"{announcement.announce_on:%Y-%m-%d}", first=first, last=last)
    return Mail(address, translate(_SUBJECT, language, first=first), body)
