"""Tell handlers a new report has arrived: its reference and a link, never anything from it.

Sent by the scheduler (never on the reporter's request: a slow or failing mail server must
not hold up or break a submission), once per case, to the handlers the report is sealed to.
Only cases received (or, for a report received orally, recorded) in the last day are
considered, so an upgrade does not mail about every old case.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict

import sqlalchemy as sa
from sqlalchemy.orm import Session

from appliance.cases.access import CaseAccess
from appliance.cases.models import Case, OralRecord
from appliance.clock import Clock
from appliance.notify.mailer import Mail, Mailer
from appliance.notify.models import ReminderSent
from appliance.users.service import UserService

LOOK_BACK = dt.timedelta(days=1)
RECEIPT, NEW = "receipt", "new"  # the ReminderSent key that marks a case as announced


class NewReportNotices:
    def __init__(self, session: Session, users: UserService, access: CaseAccess, mailer: Mailer, clock: Clock,
                 base_url: str) -> None:
        self._session = session
        self._users = users
        self._access = access
        self._mailer = mailer
        self._clock = clock
        self._base_url = base_url.rstrip("/")

    def send(self) -> int:
        """Mail each holder of a new case's key once; returns the number of mails."""
        now = self._clock()
        announced = sa.select(ReminderSent.case_id).where(ReminderSent.deadline == RECEIPT, ReminderSent.stage == NEW)
        # A report received by phone is received when the call was, which may be days before the record.
        recorded = sa.select(OralRecord.case_id).where(OralRecord.recorded_at >= now - LOOK_BACK)
        cases = self._session.execute(sa.select(Case.id, Case.tenant_id, Case.reference).where(
            sa.or_(Case.received_at >= now - LOOK_BACK, Case.id.in_(recorded)), Case.id.not_in(announced),
        ).order_by(Case.received_at)).all()
        by_recipient: dict[str, list[tuple[str, uuid.UUID]]] = defaultdict(list)
        emails: dict[uuid.UUID, dict[uuid.UUID, str]] = {}
        for case_id, tenant_id, reference in cases:
            if tenant_id not in emails:
                emails[tenant_id] = {h.id: h.email for h in self._users.handlers_of(tenant_id)}
            holders = [h.user_id for h in self._access.holders(case_id) if h.current]
            for user_id in holders:
                if user_id in emails[tenant_id]:
                    by_recipient[emails[tenant_id][user_id]].append((reference, case_id))
            self._session.add(ReminderSent(case_id=case_id, deadline=RECEIPT, stage=NEW, sent_at=now))
        self._mailer.send([self._mail(address, items) for address, items in sorted(by_recipient.items())])
        self._session.flush()
        return len(by_recipient)

    def _mail(self, address: str, items: list[tuple[str, uuid.UUID]]) -> Mail:
        lines = ["A new whistleblowing report is waiting for you. Acknowledge receipt within 7 days "
                 "(EU Directive 2019/1937 Art. 9).", ""]
        for reference, case_id in items:
            lines += [f"- case {reference}", f"  {self._base_url}/staff/cases/{case_id}"]
        lines += ["", "Sign in to read it. This mail deliberately contains nothing from the report."]
        return Mail(address, f"{len(items)} new report(s) to handle", "\n".join(lines) + "\n")
