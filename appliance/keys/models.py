"""Key material in the database: tenants' key-encryption keys, the installation's key and
preserved secrets (which belong to no tenant), and the state of key rotations."""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from appliance.db import GUID, Base, Blob, UTCDateTime, new_id


class TenantKey(Base):
    """A tenant's key-encryption key, wrapped under a key derived from the master key."""

    __tablename__ = "tenant_keys"

    tenant_id: Mapped[uuid.UUID] = mapped_column(GUID, sa.ForeignKey("tenants.id"), primary_key=True)
    version: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=False)
    wrapped_key: Mapped[bytes] = mapped_column(Blob)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class InstallationKey(Base):
    """The installation's key-encryption key (wraps staff persons' keys), versioned like a
    tenant key and wrapped under a key derived from the master key."""

    __tablename__ = "installation_keys"

    version: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=False)
    wrapped_key: Mapped[bytes] = mapped_column(Blob)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class PreservedSecret(Base):
    """A secret first derived from an earlier master key whose value must outlive it (blind
    index key, installation data key, backup repository passwords, ...), kept wrapped under
    the current master key so that rotating the master key touches no row that uses it."""

    __tablename__ = "preserved_secrets"

    purpose: Mapped[str] = mapped_column(sa.String(80), primary_key=True)
    wrapped: Mapped[bytes] = mapped_column(Blob)
    master_key_id: Mapped[str] = mapped_column(sa.String(16))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class KeyRotation(Base):
    """One rotation of a tenant's (or the installation's) key-encryption key. Rows move to
    ``target_version`` in committed batches; an unfinished rotation is resumed, not restarted."""

    __tablename__ = "key_rotations"

    id: Mapped[uuid.UUID] = mapped_column(GUID, primary_key=True, default=new_id)
    scope: Mapped[str] = mapped_column(sa.String(48), index=True)  # "tenant:<uuid>" | "installation"
    target_version: Mapped[int] = mapped_column(sa.Integer)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    rows_done: Mapped[int] = mapped_column(sa.BigInteger, default=0)
