"""Acknowledgement links and the tenants' notice texts.

A link row never holds its code: only HMAC-SHA256 of it under a preserved secret. Nothing about
the person but the id of their record on the person chain (their address is sealed there).
"""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from appliance.db import GUID, Base, Digest, LongText, UTCDateTime, new_id


class AcknowledgementLink(Base):
    """One request to one person to confirm one notice. ``hash`` is NULL until the code is first
    issued (the mail job issues it: the code exists only in the mail); each reminder issues a new
    code, and the previous one stops working."""

    __tablename__ = "acknowledgement_links"

    id: Mapped[uuid.UUID] = mapped_column(GUID, primary_key=True, default=new_id)
    tenant_id: Mapped[uuid.UUID] = mapped_column(GUID, sa.ForeignKey("tenants.id"), index=True)
    purpose: Mapped[str] = mapped_column(sa.String(32))  # pdmr-obligations | insider-obligations | ...
    subject_type: Mapped[str] = mapped_column(sa.String(20))  # the record asking: pdmr, insider, ...
    subject_id: Mapped[uuid.UUID] = mapped_column(GUID)
    person_id: Mapped[uuid.UUID] = mapped_column(GUID, sa.ForeignKey("persons.id"), index=True)
    language: Mapped[str] = mapped_column(sa.String(5))
    hash: Mapped[bytes | None] = mapped_column(Digest)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(sa.String(64))
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    issued_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # last code issued (mailed or shown)
    reminders_sent: Mapped[int] = mapped_column(sa.Integer, default=0)
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    manager_told_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    withdrawn_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class AcknowledgementNotice(Base):
    """A tenant's own wording of one notice in one language (the default text applies without it).
    Not personal data: the legal team's text of the duties and sanctions."""

    __tablename__ = "acknowledgement_notices"

    tenant_id: Mapped[uuid.UUID] = mapped_column(GUID, sa.ForeignKey("tenants.id"), primary_key=True)
    purpose: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    language: Mapped[str] = mapped_column(sa.String(5), primary_key=True)
    body: Mapped[str] = mapped_column(LongText)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_by: Mapped[str] = mapped_column(sa.String(64))
