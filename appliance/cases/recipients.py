"""The reporting channel's recipients: the handlers every new report of a tenant is sealed to.

``CaseAccess.recipients`` reads them at submission time; with none configured, every active
handler with a key pair receives new reports. The escrow key always receives a copy too.
"""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from appliance.actors import Actor, Role
from appliance.audit.service import Logbook
from appliance.clock import Clock
from appliance.errors import InvalidInput
from appliance.tenants.models import ChannelRecipient
from appliance.users.models import Membership, User


class ChannelRecipients:
    """Reads and replaces a tenant's configured report recipients."""

    def __init__(self, session: Session, logbook: Logbook, clock: Clock) -> None:
        self._session = session
        self._logbook = logbook
        self._clock = clock

    def list(self, tenant_id: uuid.UUID) -> builtins.list[uuid.UUID]:
        """The configured recipients; empty means every handler of the tenant receives new reports."""
        return list(self._session.execute(
            sa.select(ChannelRecipient.user_id).where(ChannelRecipient.tenant_id == tenant_id)
            .order_by(ChannelRecipient.added_at, ChannelRecipient.user_id)
        ).scalars())

    def set(self, tenant_id: uuid.UUID, user_ids: Iterable[uuid.UUID], actor: Actor) -> None:
        """Replace the recipients with ``user_ids``; each must be an active handler of this tenant
        (anyone else, including another tenant's staff, is refused and nothing changes).
        The logbook gets the count only: who receives reports is not for every log reader."""
        wanted = frozenset(user_ids)
        if wanted:
            handlers = frozenset(self._session.execute(
                sa.select(Membership.user_id).join(User, User.id == Membership.user_id).where(
                    Membership.tenant_id == tenant_id, Membership.role == Role.HANDLER.value,
                    Membership.user_id.in_(wanted), User.disabled_at.is_(None))
            ).scalars())
            if wanted - handlers:
                raise InvalidInput("recipients", "must all be active handlers of this organisation")
        current = frozenset(self.list(tenant_id))
        if current == wanted:
            return
        gone = current - wanted
        if gone:
            self._session.execute(sa.delete(ChannelRecipient).where(
                ChannelRecipient.tenant_id == tenant_id, ChannelRecipient.user_id.in_(gone)))
        now = self._clock()
        for user_id in sorted(wanted - current):
            self._session.add(ChannelRecipient(tenant_id=tenant_id, user_id=user_id, added_at=now))
        self._session.flush()
        self._logbook.record("channel.recipients_changed", actor, tenant_id=tenant_id, object_type="tenant",
                             object_id=tenant_id, detail=f"count={len(wanted)}")
