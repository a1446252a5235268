"""Mails about acknowledgements: the code to the person (when first handed over and in up to
three daily reminders, each with a new code), and a word to the tenant's insider managers when
a link expired unconfirmed. No name and no content of any register is in a mail; the person's
address is opened from the person chain for the sending only."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy.orm import Session

from appliance.acknowledgements.notices import INSIDER_DETAILS
from appliance.acknowledgements.service import AcknowledgementLinks, LinkView
from appliance.actors import SYSTEM, Role
from appliance.clock import Clock
from appliance.notify.mailer import Mail, Mailer
from appliance.persons.service import EMAIL, PersonService
from appliance.tenants.models import Tenant
from appliance.users.service import UserService

MAX_REMINDERS = 3
REMIND_EVERY = dt.timedelta(days=1)

_TEXT = {
    "en": {
        "subject": "Please confirm that you have read a notice of your obligations",
        "subject_reminder": "Reminder: please confirm that you have read a notice of your obligations",
        "body": ("{org} asks you to read a notice of your legal obligations under the Market Abuse Regulation "
                 "and the sanctions for breaching them, and to confirm that you have read it.\n\n"
                 "Open {url}\nand enter this code: {code}\n\n"
                 "The code works once, until {until:%Y-%m-%d %H:%M} UTC. Any code sent to you before no longer works.\n"),
    },
    "sv": {
        "subject": "Bekräfta att du har läst en underrättelse om dina skyldigheter",
        "subject_reminder": "Påminnelse: bekräfta att du har läst en underrättelse om dina skyldigheter",
        "body": ("{org} ber dig läsa en underrättelse om dina rättsliga skyldigheter enligt "
                 "marknadsmissbruksförordningen och sanktionerna vid överträdelse, och bekräfta att du har läst den.\n\n"
                 "Öppna {url}\noch ange den här koden: {code}\n\n"
                 "Koden fungerar en gång, till {until:%Y-%m-%d %H:%M} UTC. Koder som skickats till dig tidigare "
                 "fungerar inte längre.\n"),
    },
}

# A code that opens the insider's own-details form (/r/<slug>/my-details) instead of a notice.
_DETAILS_TEXT = {
    "en": {
        "subject": "Please complete your details for an insider list",
        "subject_reminder": "Reminder: please complete your details for an insider list",
        "body": ("{org} keeps a list of persons with access to inside information (Article 18 of the Market Abuse "
                 "Regulation) and asks you to fill in your own personal details for it.\n\n"
                 "Open {url}\nand enter this code: {code}\n\n"
                 "The code works once, until {until:%Y-%m-%d %H:%M} UTC. Any code sent to you before no longer works.\n"),
    },
    "sv": {
        "subject": "Fyll i dina uppgifter till en insiderförteckning",
        "subject_reminder": "Påminnelse: fyll i dina uppgifter till en insiderförteckning",
        "body": ("{org} för en förteckning över personer med tillgång till insiderinformation (artikel 18 i "
                 "marknadsmissbruksförordningen) och ber dig fylla i dina egna personuppgifter till den.\n\n"
                 "Öppna {url}\noch ange den här koden: {code}\n\n"
                 "Koden fungerar en gång, till {until:%Y-%m-%d %H:%M} UTC. Koder som skickats till dig tidigare "
                 "fungerar inte längre.\n"),
    },
}
_PAGES = {INSIDER_DETAILS: "my-details"}


@dataclass(frozen=True)
class MailRun:
    delivered: int
    reminded: int
    managers_told: int


class AcknowledgementMails:
    def __init__(self, session: Session, links: AcknowledgementLinks, persons: PersonService, users: UserService,
                 mailer: Mailer, clock: Clock, base_url: str) -> None:
        self._session = session
        self._links = links
        self._persons = persons
        self._users = users
        self._mailer = mailer
        self._clock = clock
        self._base_url = base_url.rstrip("/")

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
        texts = _DETAILS_TEXT if link.purpose == INSIDER_DETAILS else _TEXT
        text = texts.get(link.language, texts["en"])
        tenant = self._tenant(link.tenant_id)
        page = _PAGES.get(link.purpose, "acknowledge")
        body = text["body"].format(org=tenant.name, url=f"{self._base_url}/r/{tenant.slug}/{page}", code=code,
                                   until=link.expires_at)
        return Mail(address, text["subject_reminder" if reminder else "subject"], body)

    def _manager_mails(self, link: LinkView) -> list[Mail]:
        tenant = self._tenant(link.tenant_id)
        managers = [u for u in self._users.users_in(frozenset({tenant.id}))
                    if not u.disabled and (tenant.id, Role.INSIDER_MANAGER.value) in u.roles]
        body = (f"A request to confirm a notice of obligations ({link.purpose}) expired on "
                f"{link.expires_at:%Y-%m-%d %H:%M} UTC without being confirmed, after {link.reminders_sent} "
                f"reminder(s).\n\nSee {self._base_url}/insiders/t/{tenant.slug}/ to follow it up "
                "(this mail names nobody on purpose).\n")
        return [Mail(m.email, "An acknowledgement was never confirmed", body) for m in managers]
