"""Tenants (legal entities), their report categories and their key-encryption keys."""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from appliance.db import GUID, Base, Blob, Digest, LongText, UTCDateTime, new_id


class Tenant(Base):
    __tablename__ = "tenants"

    id: Mapped[uuid.UUID] = mapped_column(GUID, primary_key=True, default=new_id)
    slug: Mapped[str] = mapped_column(sa.String(63), unique=True)
    name: Mapped[str] = mapped_column(sa.Unicode(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # Directive Art. 9(1)(g): what the portal says about reporting externally to the competent
    # authorities and about the reporter's protection. NULL: the appliance's own template.
    # Public text, shown to anyone who opens the portal: not sealed.
    external_reporting_info: Mapped[str | None] = mapped_column(LongText)


class TenantBranding(Base):
    """What the organisation's portal shows of its own: a logo, an intro text, a privacy notice
    and a link to its reporting policy (``appliance.tenants.branding``). Public, so not sealed,
    but MACed under the master key's key binding: a DBA who edits a row (a phishing link, "enter
    your name" in the intro, another logo) cannot make the tag verify, and the portal then shows
    the appliance's own texts and no logo. ``version`` counts the changes; the logbook announces
    each (``v=N``), so an older row put back is noticed too while its event is kept."""

    __tablename__ = "tenant_branding"

    tenant_id: Mapped[uuid.UUID] = mapped_column(GUID, sa.ForeignKey("tenants.id"), primary_key=True)
    version: Mapped[int] = mapped_column(sa.Integer)
    intro: Mapped[str | None] = mapped_column(LongText)
    privacy_notice: Mapped[str | None] = mapped_column(LongText)
    policy_url: Mapped[str | None] = mapped_column(sa.Unicode(500))
    # The logo as the appliance re-encoded it (PNG or JPEG, no metadata); loaded only to serve it.
    logo: Mapped[bytes | None] = mapped_column(Blob, deferred=True)
    logo_type: Mapped[str | None] = mapped_column(sa.String(20))
    logo_width: Mapped[int | None] = mapped_column(sa.Integer)
    logo_height: Mapped[int | None] = mapped_column(sa.Integer)
    logo_digest: Mapped[bytes | None] = mapped_column(Digest)  # SHA-256 of ``logo``: what the MAC covers
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    mac: Mapped[bytes] = mapped_column(Digest)


class Category(Base):
    __tablename__ = "categories"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "label"),)

    id: Mapped[uuid.UUID] = mapped_column(GUID, primary_key=True, default=new_id)
    tenant_id: Mapped[uuid.UUID] = mapped_column(GUID, sa.ForeignKey("tenants.id"), index=True)
    label: Mapped[str] = mapped_column(sa.Unicode(200))
    position: Mapped[int] = mapped_column(sa.Integer, default=0)
    active: Mapped[bool] = mapped_column(sa.Boolean, default=True)


class ReportingChannel(Base):
    """One of a tenant's reporting channels (a subsidiary, a language, a topic): its name and
    intro text on the portal, its categories, and whom its reports reach. Who reads a channel's
    reports is never this row: it is the channel's entry on the tenant's signed reader list
    (``appliance.readers``); a channel without one reaches the whole list. Every tenant has one
    default channel (its portal before channels existed)."""

    __tablename__ = "reporting_channels"

    id: Mapped[uuid.UUID] = mapped_column(GUID, primary_key=True, default=new_id)
    tenant_id: Mapped[uuid.UUID] = mapped_column(GUID, sa.ForeignKey("tenants.id"), index=True)
    name: Mapped[str] = mapped_column(sa.Unicode(200))
    intro: Mapped[str | None] = mapped_column(LongText)
    is_default: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    active: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    position: Mapped[int] = mapped_column(sa.Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class ReportingChannelCategory(Base):
    """A category offered on a channel. A channel with none offers all the tenant's active categories."""

    __tablename__ = "reporting_channel_categories"

    channel_id: Mapped[uuid.UUID] = mapped_column(GUID, sa.ForeignKey("reporting_channels.id"), primary_key=True)
    category_id: Mapped[uuid.UUID] = mapped_column(GUID, sa.ForeignKey("categories.id"), primary_key=True)


class QuestionnaireVersion(Base):
    """One version of a channel's questionnaire (``appliance.tenants.questionnaire``). Append-only:
    every change is a new version, and a report keeps the id of the version it was asked, so an
    old report is shown with its own questions. The questions are the organisation's public text."""

    __tablename__ = "questionnaire_versions"
    __table_args__ = (sa.UniqueConstraint("channel_id", "number"),)

    id: Mapped[uuid.UUID] = mapped_column(GUID, primary_key=True, default=new_id)
    tenant_id: Mapped[uuid.UUID] = mapped_column(GUID, sa.ForeignKey("tenants.id"), index=True)
    channel_id: Mapped[uuid.UUID] = mapped_column(GUID, sa.ForeignKey("reporting_channels.id"))
    number: Mapped[int] = mapped_column(sa.Integer)
    questions: Mapped[str] = mapped_column(LongText)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class EscrowKey(Base):
    """The public half of a tenant's escrow key pair. The private half lives only in a
    passphrase-protected file that the compliance lead keeps offline; it was made there
    (``origin`` offline) or, before 0.3, on the server (``server``: never sealed to again).
    New reports are sealed to it only once a reader confirmed it onto the reader list."""

    __tablename__ = "escrow_keys"

    id: Mapped[uuid.UUID] = mapped_column(GUID, primary_key=True, default=new_id)
    tenant_id: Mapped[uuid.UUID] = mapped_column(GUID, sa.ForeignKey("tenants.id"), index=True)
    public_key: Mapped[bytes] = mapped_column(Blob)
    fingerprint: Mapped[bytes] = mapped_column(Digest, unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    retired_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # offline | server. A row written outside the appliance counts as made on the server: never sealed to.
    origin: Mapped[str] = mapped_column(sa.String(10), default="offline", server_default="server")
    sign_key: Mapped[bytes | None] = mapped_column(Blob)
    self_signature: Mapped[bytes | None] = mapped_column(Blob)
    mac: Mapped[bytes | None] = mapped_column(Digest)


class ChannelRecipient(Base):
    """Before 0.3: a handler chosen to receive every new report. Kept only so an upgraded
    installation can propose the same handlers for its reader list (``appliance.readers``);
    nothing is sealed because of this table."""

    __tablename__ = "channel_recipients"

    tenant_id: Mapped[uuid.UUID] = mapped_column(GUID, sa.ForeignKey("tenants.id"), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(GUID, sa.ForeignKey("users.id"), primary_key=True)
    added_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
