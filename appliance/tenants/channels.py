"""A tenant's reporting channels (one per subsidiary, language or topic) and the text the portal
shows on reporting externally (Directive Art. 9(1)(g)).

A channel here is what reporters see: its name, intro text and categories, and whether it is
open. Whom its reports reach is not kept here: that is the channel's entry on the tenant's
signed reader list (``appliance.readers``), which an existing reader confirms. Every tenant has
exactly one default channel; it cannot be disabled.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session

from appliance.actors import Actor
from appliance.audit.service import Logbook
from appliance.clock import Clock
from appliance.errors import Conflict, InvalidInput, NotFound
from appliance.tenants.models import Category, ReportingChannel, ReportingChannelCategory, Tenant

MAX_NAME = 200
MAX_INTRO = 4000
MAX_EXTERNAL_INFO = 8000


def check_channel_text(field: str, value: str, limit: int, required: bool = False) -> str:
    value = value.strip()
    if required and not value:
        raise InvalidInput(field, "is required")
    if len(value) > limit:
        raise InvalidInput(field, f"must be at most {limit} characters")
    if "\x00" in value:
        raise InvalidInput(field, "contains a character that is not allowed")
    return value


class ChannelService:
    """Creates, renames, opens and closes a tenant's reporting channels. Never commits."""

    def __init__(self, session: Session, logbook: Logbook, clock: Clock) -> None:
        self._session = session
        self._logbook = logbook
        self._clock = clock

    # --- reading ------------------------------------------------------------------------
    def channels(self, tenant_id: uuid.UUID, include_inactive: bool = False) -> list[ReportingChannel]:
        """The tenant's channels, the default one first (made now if the tenant has none yet)."""
        self.default(tenant_id)
        query = sa.select(ReportingChannel).where(ReportingChannel.tenant_id == tenant_id)
        if not include_inactive:
            query = query.where(ReportingChannel.active.is_(True))
        return list(self._session.execute(query.order_by(
            ReportingChannel.is_default.desc(), ReportingChannel.position, ReportingChannel.name)).scalars())

    def channel(self, tenant_id: uuid.UUID, channel_id: uuid.UUID) -> ReportingChannel:
        """One of this tenant's channels (NotFound for another tenant's, as for none)."""
        row = self._session.execute(sa.select(ReportingChannel).where(
            ReportingChannel.tenant_id == tenant_id, ReportingChannel.id == channel_id)).scalar_one_or_none()
        if row is None:
            raise NotFound("channel", channel_id)
        return row

    def open_channel(self, tenant_id: uuid.UUID, channel_id: uuid.UUID | None) -> ReportingChannel:
        """The channel a report is filed through: the one named (active, of this tenant) or the
        default one when none is named."""
        if channel_id is None:
            return self.default(tenant_id)
        row = self.channel(tenant_id, channel_id)
        if not row.active:
            raise NotFound("channel", channel_id)
        return row

    def default(self, tenant_id: uuid.UUID) -> ReportingChannel:
        row = self._session.execute(sa.select(ReportingChannel).where(
            ReportingChannel.tenant_id == tenant_id, ReportingChannel.is_default.is_(True))).scalars().first()
        if row is not None:
            return row
        tenant = self._session.get(Tenant, tenant_id)
        if tenant is None:
            raise NotFound("tenant", tenant_id)
        row = ReportingChannel(id=uuid.uuid4(), tenant_id=tenant_id, name=tenant.name, is_default=True, active=True,
                               position=0, created_at=self._clock())
        self._session.add(row)
        self._session.flush()
        return row

    def category_ids(self, channel: ReportingChannel) -> set[uuid.UUID]:
        """The categories chosen for a channel (empty: all the tenant's active ones)."""
        return set(self._session.execute(sa.select(ReportingChannelCategory.category_id).where(
            ReportingChannelCategory.channel_id == channel.id)).scalars())

    def categories(self, channel: ReportingChannel) -> list[Category]:
        """The active categories a reporter may choose on this channel."""
        query = sa.select(Category).where(Category.tenant_id == channel.tenant_id, Category.active.is_(True))
        chosen = self.category_ids(channel)
        if chosen:
            query = query.where(Category.id.in_(chosen))
        return list(self._session.execute(query.order_by(Category.position, Category.label)).scalars())

    # --- changing -----------------------------------------------------------------------
    def create(self, tenant_id: uuid.UUID, name: str, intro: str, category_ids: Sequence[uuid.UUID],
               actor: Actor) -> ReportingChannel:
        self.default(tenant_id)
        name = self._free_name(tenant_id, check_channel_text("name", name, MAX_NAME, required=True), None)
        position = self._session.execute(sa.select(sa.func.coalesce(sa.func.max(ReportingChannel.position), 0))
                                         .where(ReportingChannel.tenant_id == tenant_id)).scalar_one() + 1
        row = ReportingChannel(id=uuid.uuid4(), tenant_id=tenant_id, name=name,
                               intro=check_channel_text("intro", intro, MAX_INTRO) or None, is_default=False,
                               active=True, position=position, created_at=self._clock())
        self._session.add(row)
        self._session.flush()
        self._set_categories(row, category_ids)
        self._logbook.record("channel.created", actor, tenant_id=tenant_id, object_type="channel", object_id=row.id)
        return row

    def update(self, tenant_id: uuid.UUID, channel_id: uuid.UUID, name: str, intro: str,
               category_ids: Sequence[uuid.UUID], actor: Actor) -> ReportingChannel:
        """Rename a channel, change its intro text and its categories."""
        row = self.channel(tenant_id, channel_id)
        row.name = self._free_name(tenant_id, check_channel_text("name", name, MAX_NAME, required=True), row.id)
        row.intro = check_channel_text("intro", intro, MAX_INTRO) or None
        self._set_categories(row, category_ids)
        self._logbook.record("channel.changed", actor, tenant_id=tenant_id, object_type="channel", object_id=row.id)
        return row

    def set_active(self, tenant_id: uuid.UUID, channel_id: uuid.UUID, active: bool, actor: Actor) -> None:
        """Open or close a channel to new reports (its reports stay where they are)."""
        row = self.channel(tenant_id, channel_id)
        if row.is_default and not active:
            raise Conflict("the default channel stays open")
        row.active = active
        self._logbook.record("channel.enabled" if active else "channel.disabled", actor, tenant_id=tenant_id,
                             object_type="channel", object_id=row.id)

    def set_external_info(self, tenant_id: uuid.UUID, text: str, actor: Actor) -> None:
        """The portal's text on reporting to the competent authorities (empty: the default template)."""
        tenant = self._session.get(Tenant, tenant_id)
        if tenant is None:
            raise NotFound("tenant", tenant_id)
        tenant.external_reporting_info = check_channel_text("text", text, MAX_EXTERNAL_INFO) or None
        self._logbook.record("tenant.external_info_changed", actor, tenant_id=tenant_id, object_type="tenant",
                             object_id=tenant_id)

    def _set_categories(self, row: ReportingChannel, category_ids: Sequence[uuid.UUID]) -> None:
        wanted = set(category_ids)
        if wanted:
            known = set(self._session.execute(sa.select(Category.id).where(
                Category.tenant_id == row.tenant_id, Category.id.in_(wanted))).scalars())
            if known != wanted:
                raise InvalidInput("categories", "names a category of another organisation")
        self._session.execute(sa.delete(ReportingChannelCategory).where(ReportingChannelCategory.channel_id == row.id))
        for category_id in sorted(wanted, key=str):
            self._session.add(ReportingChannelCategory(channel_id=row.id, category_id=category_id))
        self._session.flush()

    def _free_name(self, tenant_id: uuid.UUID, name: str, own: uuid.UUID | None) -> str:
        clash = self._session.execute(sa.select(ReportingChannel.id).where(
            ReportingChannel.tenant_id == tenant_id, ReportingChannel.name == name)).scalars().first()
        if clash is not None and clash != own:
            raise Conflict("a channel with this name already exists")
        return name
