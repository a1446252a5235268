"""Delayed-disclosure records and their versions.

Nothing of the decision is in clear, not even its dates (they would tell when the issuer held
inside information): each version is one JSON document sealed under the record's data key, which
is wrapped under the tenant's key-encryption key. The persons responsible are on the person
chain; a version names them by id only.
"""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from appliance.crypto.fields import EncryptedBytes, Sealed
from appliance.db import GUID, Base, Blob, UTCDateTime, new_id


class DelayedDisclosure(Base):
    __tablename__ = "delayed_disclosures"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "number"),)

    id: Mapped[uuid.UUID] = mapped_column(GUID, primary_key=True, default=new_id)
    tenant_id: Mapped[uuid.UUID] = mapped_column(GUID, sa.ForeignKey("tenants.id"), index=True)
    number: Mapped[int] = mapped_column(sa.Integer)  # per tenant: "DD-<number>" on pages and exports
    key_version: Mapped[int] = mapped_column(sa.Integer)
    wrapped_key: Mapped[bytes] = mapped_column(Blob)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(sa.String(64))
    current_version: Mapped[int] = mapped_column(sa.Integer)


class DisclosureVersion(Base):
    """Append-only: a change is a new row; rows are never updated or deleted."""

    __tablename__ = "delayed_disclosure_versions"
    __table_args__ = (sa.UniqueConstraint("disclosure_id", "version"),)

    id: Mapped[uuid.UUID] = mapped_column(GUID, primary_key=True, default=new_id)
    disclosure_id: Mapped[uuid.UUID] = mapped_column(GUID, sa.ForeignKey("delayed_disclosures.id"), index=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(GUID, sa.ForeignKey("tenants.id"))
    version: Mapped[int] = mapped_column(sa.Integer)
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    recorded_by: Mapped[str] = mapped_column(sa.String(64))
    content_sealed: Mapped[Sealed] = mapped_column(EncryptedBytes)
