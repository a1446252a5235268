"""Deadline reminders to handlers: which case is due, by when, and a link. Never any content.

Each open case's acknowledgement and feedback deadlines (appliance.cases.deadlines) get one
"due soon" mail and one "overdue" mail, to the assignee or, when nobody is assigned, to
every handler of the tenant.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from appliance.cases.deadlines import deadlines_for
from appliance.cases.models import Case
from appliance.clock import Clock
from appliance.notify.mailer import Mail, Mailer
from appliance.notify.models import ReminderSent
from appliance.users.service import UserService

SOON = {"acknowledge": dt.timedelta(days=2), "feedback": dt.timedelta(days=14)}


@dataclass(frozen=True)
class Due:
    case_id: uuid.UUID
    reference: str
    deadline: str
    stage: str
    due_at: dt.datetime


class ReminderService:
    """Finds deadlines due soon or passed and mails each handler once per deadline and stage."""

    def __init__(self, session: Session, users: UserService, mailer: Mailer, clock: Clock, base_url: str) -> None:
        self._session = session
        self._users = users
        self._mailer = mailer
        self._clock = clock
        self._base_url = base_url.rstrip("/")

    def due(self) -> list[tuple[Due, uuid.UUID, uuid.UUID | None]]:
        """(what is due, tenant, assignee) for every reminder not sent yet."""
        now = self._clock()
        sent = {(r.case_id, r.deadline, r.stage) for r in self._session.scalars(sa.select(ReminderSent))}
        rows = self._session.execute(sa.select(
            Case.id, Case.tenant_id, Case.reference, Case.assignee_id, Case.received_at, Case.acknowledged_at,
            Case.feedback_at).where(Case.status != "closed")).all()
        found = []
        for row in rows:
            deadlines = deadlines_for(row.received_at, row.acknowledged_at, row.feedback_at, False, now)
            pending = []
            if row.acknowledged_at is None:
                pending.append(("acknowledge", deadlines.acknowledge_by))
            if row.feedback_at is None:
                pending.append(("feedback", deadlines.feedback_by))
            for deadline, due_at in pending:
                stage = "overdue" if now > due_at else "soon" if now > due_at - SOON[deadline] else None
                if stage and (row.id, deadline, stage) not in sent:
                    found.append((Due(row.id, row.reference, deadline, stage, due_at), row.tenant_id, row.assignee_id))
        return found

    def send(self) -> int:
        """Mail what is due; returns the number of mails. Records each reminder as sent."""
        by_recipient: dict[str, list[Due]] = defaultdict(list)
        for due, tenant_id, assignee_id in self.due():
            handlers = self._users.handlers_of(tenant_id)
            recipients = [h for h in handlers if h.id == assignee_id] or handlers
            for handler in recipients:
                by_recipient[handler.email].append(due)
            self._session.add(ReminderSent(case_id=due.case_id, deadline=due.deadline, stage=due.stage,
                                           sent_at=self._clock()))
        mails = [self._mail(address, items) for address, items in sorted(by_recipient.items())]
        self._mailer.send(mails)
        self._session.flush()
        return len(mails)

    def _mail(self, address: str, items: list[Due]) -> Mail:
        lines = ["Whistleblowing deadlines need your attention (EU Directive 2019/1937 Art. 9):", ""]
        for due in sorted(items, key=lambda d: d.due_at):
            what = "acknowledge receipt" if due.deadline == "acknowledge" else "give feedback"
            state = "OVERDUE since" if due.stage == "overdue" else "due by"
            lines.append(f"- case {due.reference}: {what}, {state} {due.due_at:%Y-%m-%d %H:%M} UTC")
            lines.append(f"  {self._base_url}/staff/cases/{due.case_id}")
        lines += ["", "Sign in to read the case. This mail deliberately contains nothing from the report."]
        overdue = sum(1 for d in items if d.stage == "overdue")
        subject = f"{len(items)} case deadline(s)" + (f", {overdue} overdue" if overdue else "") + " — action needed"
        return Mail(address, subject, "\n".join(lines) + "\n")
