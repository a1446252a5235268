"""Mail every reader and administrator of an organisation about each change to who can read
its reports: when it is proposed, and when it is confirmed, rejected or withdrawn.

Sent by the scheduler every minute (never inside the request that made the change: a slow mail
server must not hold up a confirmation). A change nobody expected is how a reader learns that
someone tried to add a reader; the mail says what to do. Addresses are looked up when
sending; the notice rows hold ids only. Nothing from any report is ever in these mails.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Session

from appliance.actors import Role
from appliance.clock import Clock
from appliance.crypto.signing import key_fingerprint, show_fingerprint
from appliance.errors import NotFound, ReaderListTampered
from appliance.notify.mailer import Mail, Mailer
from appliance.readers.ledger import CHANNEL
from appliance.readers.models import ReaderChange, ReaderNotice
from appliance.readers.service import ReaderLists, change_members
from appliance.tenants.models import Tenant
from appliance.users.models import Membership, User
from appliance.users.service import UserService

_WHAT = {
    "start": "{email} asks to be the first reader",
    "add": "add {email} as a reader",
    "remove": "remove {email} from the readers",
    "receives": "{email} {receiving} new reports",
    "rekey": "confirm a new key of {email} (after a password reset)",
    "escrow": "a new escrow key",
    "channel": "set who receives the reports of one reporting channel",
}
_EVENT = {
    "proposed": "Proposed: {what}.",
    "confirmed": "Confirmed and in effect: {what}.",
    "rejected": "Rejected by a reader: {what}.",
    "withdrawn": "Withdrawn: {what}.",
    "superseded": "No longer applies (the list or the key changed meanwhile): {what}.",
}


class ReaderNotices:
    def __init__(self, session: Session, users: UserService, readers: ReaderLists, mailer: Mailer, clock: Clock,
                 base_url: str) -> None:
        self._session = session
        self._users = users
        self._readers = readers
        self._mailer = mailer
        self._clock = clock
        self._base_url = base_url.rstrip("/")

    def send(self) -> int:
        """Send every notice not sent yet; returns the number of mails."""
        notices = self._session.execute(sa.select(ReaderNotice).where(ReaderNotice.sent_at.is_(None))
                                        .order_by(ReaderNotice.created_at, ReaderNotice.id)).scalars().all()
        mails: list[Mail] = []
        for notice in notices:
            change = self._session.get(ReaderChange, notice.change_id)
            tenant = self._session.get(Tenant, notice.tenant_id)
            if change is None or tenant is None:
                continue
            body = self._body(tenant, change, notice.event)
            subject = f"[{tenant.name}] Who can read reports: {notice.event}"
            mails += [Mail(address, subject, body) for address in self._recipients(tenant.id, change)]
        self._mailer.send(mails)
        now = self._clock()
        for notice in notices:
            notice.sent_at = now
        self._session.flush()
        return len(mails)

    def _recipients(self, tenant_id: uuid.UUID, change: ReaderChange) -> list[str]:
        """The readers on the list (every active handler, when it does not verify), the
        administrators, and the person the change is about."""
        try:
            state = self._readers.state(tenant_id)
            user_ids = {r.user_id for r in state.readers} if state else set()
        except ReaderListTampered:
            user_ids = set(self._members(tenant_id, Role.HANDLER))
        user_ids |= set(self._members(tenant_id, Role.ADMIN))
        if change.user_id is not None:
            user_ids.add(change.user_id)
        return sorted({address for address in (self._email(u) for u in user_ids) if address})

    def _members(self, tenant_id: uuid.UUID, role: Role) -> list[uuid.UUID]:
        return list(self._session.execute(sa.select(Membership.user_id).join(User, User.id == Membership.user_id)
                                          .where(Membership.tenant_id == tenant_id, Membership.role == role.value,
                                                 User.disabled_at.is_(None))).scalars())

    def _email(self, user_id: uuid.UUID | None) -> str | None:
        if user_id is None:
            return None
        try:
            address = self._users.email_of(self._users.get(user_id))
        except NotFound:
            return None
        return address if "@" in address else None

    def _body(self, tenant: Tenant, change: ReaderChange, event: str) -> str:
        what = _WHAT[change.kind].format(email=self._email(change.user_id) or "a user",
                                         receiving="receives" if change.receives else "stops receiving")
        lines = [_EVENT.get(event, "{what}").format(what=what), ""]
        if change.kind == CHANNEL and change.channel_id is not None:
            readers = ", ".join(sorted(self._email(m) or str(m) for m in change_members(change)))
            lines.append(f"Readers of that channel: {readers}")
        if change.box_key is not None and change.sign_key is not None:
            lines.append(f"Key fingerprint: {show_fingerprint(key_fingerprint(change.box_key, change.sign_key))}")
        who = self._email(change.proposed_by) or ("the command line (IT)" if change.proposed_via == "cli"
                                                  else "the appliance")
        lines += [f"Proposed by: {who}", f"Organisation: {tenant.name}", ""]
        if event == "proposed":
            lines += ["Nothing changes until a reader confirms it on the Readers page:",
                      f"  {self._base_url}/staff/readers", "",
                      "If you did not expect this, do not confirm it: reject it and tell the compliance lead.",
                      "Compare a new key's fingerprint with its owner in person or on the phone first."]
        elif event == "confirmed":
            lines += ["This is now in effect for new reports. If nobody you know confirmed it, tell the "
                      "compliance lead and the system administrator now."]
        lines += ["", "This mail deliberately contains nothing from any report."]
        return "\n".join(lines) + "\n"
