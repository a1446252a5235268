"""Telling a reporter, by e-mail, that a new message is waiting: never what it says.

A reporter may leave an address when filing a report or later on the follow-up page. It is
sealed under a data key of its own, wrapped under the tenant's KEK (rotated with the others,
``operations/wrapped_keys.py``), not under the case key: the mail job must read it without the
reporter's key. So the appliance itself (the master key) can read it; a DBA with SQL alone
cannot, and no page shows it, to staff or to the reporter. Nothing says whether a case has an
address: the follow-up page answers a change the same way whatever was stored, handlers see
nothing, and the logbook names the address row's own id, never the case's.

The mail holds only a sentence and the portal's follow-up sign-in page: no reference, no case
key, no content, no handler name. One click on it shows the sign-in form; the case key is still
needed. A case gets at most one mail per ``COALESCE`` window, however many messages arrive.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Session

from appliance.actors import SYSTEM, Actor
from appliance.cases.models import Case, Message, ReporterNotifyAddress
from appliance.clock import Clock
from appliance.crypto.fields import FieldCipher, Place
from appliance.errors import InvalidInput
from appliance.keys.keyring import DataKeys
from appliance.notify.mailer import Mail, Mailer
from appliance.tenants.models import Tenant

# A plain address: the local part in RFC 5322 atom characters, a host name of letters, digits and
# hyphens. Nothing that could break a header or look like markup reaches the mailer.
ADDRESS = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
                     r"[A-Za-z]{2,63}\Z")
MAX_ADDRESS = 254
COALESCE = dt.timedelta(hours=6)  # at most one mail per case in this window
FIELD_VERSION = 1
KEY_TYPE = "reporter_notify_key"  # what the logbook and the unwrap counter call one of these keys
ANNOUNCED = ("handler", "system")  # the authors whose messages the reporter is told about
SUBJECT = "A new message is waiting for you"
BODY = (
    "There is a new message for you in the reporting channel.\n\n"
    "To read it, open this page and enter your case key:\n{url}\n\n"
    "This mail deliberately contains nothing from the conversation. You asked for these notices; "
    "to stop them, sign in with your case key and remove your address.\n"
)


def notify_key_owner(row_id: uuid.UUID) -> str:
    """The owner a notification address's data key is wrapped for (``DataKeys.wrap``)."""
    return f"reporter-notify/{row_id}"


def check_address(address: str) -> str:
    """The address trimmed, or InvalidInput("notify") when it is not one ('' stays '')."""
    address = address.strip()
    if address and (len(address) > MAX_ADDRESS or not ADDRESS.match(address)):
        raise InvalidInput("notify", "is not a valid e-mail address")
    return address


class ReporterAddresses:
    """Setting, replacing and removing a case's notification address (never reading it back)."""

    def __init__(self, session: Session, data_keys: DataKeys, clock: Clock) -> None:
        self._session = session
        self._keys = data_keys
        self._clock = clock

    def replace(self, tenant_id: uuid.UUID, case_id: uuid.UUID, address: str, actor: Actor) -> None:
        """Store ``address`` for the case (replacing any); an empty one removes it. Messages already
        in the thread are not announced again."""
        address = check_address(address)
        self.remove(tenant_id, case_id)
        if not address:
            return
        row_id = uuid.uuid4()
        key = secrets.token_bytes(32)
        wrapped, version = self._keys.wrap(tenant_id, notify_key_owner(row_id), key, actor)
        now = self._clock()
        self._session.add(ReporterNotifyAddress(
            id=row_id, case_id=case_id, tenant_id=tenant_id, key_version=version, wrapped_key=wrapped,
            address_sealed=FieldCipher(key, FIELD_VERSION).seal(address, _place(row_id)), set_at=now,
            announced_up_to=_newest_message(self._session, case_id)))
        self._session.flush()

    def remove(self, tenant_id: uuid.UUID, case_id: uuid.UUID) -> None:
        self._session.execute(sa.delete(ReporterNotifyAddress).where(
            ReporterNotifyAddress.case_id == case_id, ReporterNotifyAddress.tenant_id == tenant_id))


class ReporterNotices:
    """The mail job: one "new message" mail per case with an address and an unannounced message."""

    def __init__(self, session: Session, data_keys: DataKeys, mailer: Mailer, clock: Clock, base_url: str,
                 every: dt.timedelta = COALESCE) -> None:
        self._session = session
        self._keys = data_keys
        self._mailer = mailer
        self._clock = clock
        self._base_url = base_url.rstrip("/")
        self._every = every

    def send(self) -> int:
        """Mail every reporter with news; returns the number of mails."""
        now = self._clock()
        newest = (sa.select(Message.case_id, sa.func.max(Message.created_at).label("at"))
                  .where(Message.author.in_(ANNOUNCED)).group_by(Message.case_id).subquery())
        rows = self._session.execute(
            sa.select(ReporterNotifyAddress, Tenant.slug, newest.c.at)
            .join(Case, sa.and_(Case.id == ReporterNotifyAddress.case_id, Case.tenant_id == ReporterNotifyAddress.tenant_id))
            .join(Tenant, Tenant.id == ReporterNotifyAddress.tenant_id)
            .join(newest, newest.c.case_id == ReporterNotifyAddress.case_id)
            .order_by(ReporterNotifyAddress.set_at)
        ).all()
        mails = []
        for row, slug, at in rows:
            if row.announced_up_to is not None and at <= row.announced_up_to:
                continue
            if row.notified_at is not None and now - row.notified_at < self._every:
                continue  # coalesced: the next run after the window announces what came meanwhile
            mails.append(Mail(self._address(row), SUBJECT, BODY.format(url=f"{self._base_url}/r/{slug}/follow-up")))
            row.announced_up_to, row.notified_at = at, now
        self._mailer.send(mails)
        self._session.flush()
        return len(mails)

    def _address(self, row: ReporterNotifyAddress) -> str:
        key = self._keys.unwrap(row.tenant_id, notify_key_owner(row.id), row.key_version, row.wrapped_key, SYSTEM,
                                KEY_TYPE, row.id)
        return FieldCipher(key, FIELD_VERSION).open(row.address_sealed, _place(row.id))


def _place(row_id: uuid.UUID) -> Place:
    return Place("reporter_notify_addresses", "address", row_id)


def _newest_message(session: Session, case_id: uuid.UUID) -> dt.datetime | None:
    return session.execute(sa.select(sa.func.max(Message.created_at)).where(
        Message.case_id == case_id, Message.author.in_(ANNOUNCED))).scalar_one()
