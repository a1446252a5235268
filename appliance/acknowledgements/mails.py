"""Mails about acknowledgements: the code to the person (when first handed over and in up to
three daily reminders, each with a new code), and a word to the tenant's insider managers when
a link expired unconfirmed. No name and no content of any register is in a mail; the person's
address is opened from the person chain for the sending only. Each mail is in its recipient's
language: the link's for the person, the installation's for the managers."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy.orm import Session

from appliance.acknowledgements.notices import INSIDER_DETAILS
from appliance.acknowledgements.service import AcknowledgementLinks, LinkView
from appliance.actors import SYSTEM, Role
from appliance.clock import Clock
from appliance.notify.language import N_, translate
from appliance.notify.mailer import Mail, Mailer
from appliance.persons.service import EMAIL, PersonService
from appliance.tenants.models import Tenant
from appliance.users.service import UserService

MAX_REMINDERS = 3
REMIND_EVERY = dt.timedelta(days=1)

# Each text is translated into the link's language (webapp/translations; appliance.notify.language).
_TEXT = {
    "subject": N_("Please confirm that you have read a notice of your obligations"),
    "subject_reminder": N_("Reminder: please confirm that you have read a notice of your obligations"),
    "body": N_("%(org)s asks you to read a notice of your legal obligations under the Market Abuse Regulation "
               "and the sanctions for breaching them, and to confirm that you have read it.\n\n"
               "Open %(url)s\nand enter this code: %(code)s\n\n"
               "The code works once, until %(until)s UTC. Any code sent to you before no longer works.\n"),
}

# A code that opens the insider's own-details form (/r/<slug>/my-details) instead of a notice.
_DETAILS_TEXT = {
    "subject": N_("Please complete your details for an insider list"),
    "subject_reminder": N_("Reminder: please complete your details for an insider list"),
    "body": N_("%(org)s keeps a list of persons with access to inside information (Article 18 of the Market Abuse "
               "Regulation) and asks you to fill in your own personal details for it.\n\n"
               "Open %(url)s\nand enter this code: %(code)s\n\n"
               "The code works once, until %(until)s UTC. Any code sent to you before no longer works.\n"),
}
_NEVER_CONFIRMED = {
    "subject": N_("An acknowledgement was never confirmed"),
    "body": N_("A request to confirm a notice of obligations (%(purpose)s) expired on %(expired)s UTC without "
               "being confirmed, after %(reminders)s reminder(s).\n\n"
               "See %(url)s to follow it up (this mail names nobody on purpose).\n"),
}
_PAGES = {INSIDER_DETAILS: "my-details"}


@dataclass(frozen=True)
class MailRun:
    delivered: int
    reminded: int
    managers_told: int


class AcknowledgementMails:
    def __init__(self, session: Session, links: AcknowledgementLinks, persons: PersonService, users: UserService,
                 mailer: Mailer, clock: Clock, base_url: str, language: str = "en") -> None:
        self._session = session
        self._links = links
        self._persons = persons
        self._users = users
        self._mailer = mailer
        self._clock = clock
        self._base_url = base_url.rstrip("/")
        self._language = language  # the installation's default language: for the managers' mails

    def deliver(self) -> int:
        """Mail the first code of every link not handed over yet (links of persons without an
        address wait for the manager to hand a code over in person)."""
        mails = []
        for link in self._links.undelivered():
            address = self._address(link)
            if address is not None:
                mails.append(self._code_mail(link, address, self._links.hand_over(link, reminder=False), False))
        self._mailer.send(mails)
        return len(mails)

    def remind(self) -> MailRun:
        """Daily: a reminder with a new code to each person who has not confirmed (at most three per
        link), and one mail to the tenant's insider managers for each link that expired unconfirmed."""
        reminders = []
        for link in self._links.due_reminders(MAX_REMINDERS, REMIND_EVERY):
            address = self._address(link)
            if address is not None:
                reminders.append(self._code_mail(link, address, self._links.hand_over(link, reminder=True), True))
        told = []
        for link in self._links.never_confirmed():
            told.extend(self._manager_mails(link))
            self._links.manager_told(link)
        self._mailer.send(reminders + told)
        return MailRun(0, len(reminders), len(told))

    def _address(self, link: LinkView) -> str | None:
        person = self._persons.get(link.person_id)
        return self._persons.identifiers_of(person, SYSTEM).get(EMAIL)

    def _tenant(self, tenant_id: uuid.UUID) -> Tenant:
        tenant = self._session.get(Tenant, tenant_id)
        assert tenant is not None
        return tenant

    def _code_mail(self, link: LinkView, address: str, code: str, reminder: bool) -> Mail:
        text = _DETAILS_TEXT if link.purpose == INSIDER_DETAILS else _TEXT
        tenant = self._tenant(link.tenant_id)
        page = _PAGES.get(link.purpose, "acknowledge")
        body = translate(text["body"], link.language, org=tenant.name, url=f"{self._base_url}/r/{tenant.slug}/{page}",
                         code=code, until=f"{link.expires_at:%Y-%m-%d %H:%M}")
        return Mail(address, translate(text["subject_reminder" if reminder else "subject"], link.language), body)

    def _manager_mails(self, link: LinkView) -> list[Mail]:
        """In the installation's language (a staff account has no language of its own)."""
        tenant = self._tenant(link.tenant_id)
        managers = [u for u in self._users.users_in(frozenset({tenant.id}))
                    if not u.disabled and (tenant.id, Role.INSIDER_MANAGER.value) in u.roles]
        body = translate(_NEVER_CONFIRMED["body"], self._language, purpose=link.purpose,
                         expired=f"{link.expires_at:%Y-%m-%d %H:%M}", reminders=link.reminders_sent,
                         url=f"{self._base_url}/insiders/t/{tenant.slug}/")
        subject = translate(_NEVER_CONFIRMED["subject"], self._language)
        return [Mail(m.email, subject, body) for m in managers]
