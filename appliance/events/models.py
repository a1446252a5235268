"""The ``access_event_batches`` and ``access_events`` tables.

Nothing an event says is stored in clear but its time: the actor's e-mail address is sealed
under the actor's person key (erasure shreds it), source, id, action, object and project under
the data key of the batch it came in (wrapped under the tenant's key-encryption key, rotated
with it). Look-ups go through keyed hashes: ``dedupe`` over (source, id), ``project_lookup``
over the project code and ``source_lookup`` over the source, all scoped to the tenant.
``source_lookup`` came with migration 0023: events stored before it have none until the next
upload of their tenant fills it in (``AccessEvents.index_sources``).
"""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from appliance.crypto.fields import EncryptedBytes, Sealed
from appliance.db import GUID, Base, Blob, Digest, UTCDateTime, new_id


class EventBatch(Base):
    """One accepted upload: the data key its events' fields are sealed under."""

    __tablename__ = "access_event_batches"

    id: Mapped[uuid.UUID] = mapped_column(GUID, primary_key=True, default=new_id)
    tenant_id: Mapped[uuid.UUID] = mapped_column(GUID, sa.ForeignKey("tenants.id"), index=True)
    key_version: Mapped[int] = mapped_column(sa.Integer)
    wrapped_key: Mapped[bytes] = mapped_column(Blob)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class AccessEvent(Base):
    __tablename__ = "access_events"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "dedupe"),
        sa.Index("ix_access_events_project", "tenant_id", "project_lookup", "occurred_at", "id"),
        sa.Index("ix_access_events_occurred_at", "occurred_at"),
        sa.Index("ix_access_events_source", "tenant_id", "source_lookup", "occurred_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(GUID, primary_key=True, default=new_id)
    tenant_id: Mapped[uuid.UUID] = mapped_column(GUID, sa.ForeignKey("tenants.id"))
    batch_id: Mapped[uuid.UUID] = mapped_column(GUID, sa.ForeignKey("access_event_batches.id"), index=True)
    person_id: Mapped[uuid.UUID] = mapped_column(GUID, sa.ForeignKey("persons.id"), index=True)
    dedupe: Mapped[bytes] = mapped_column(Digest)  # HMAC over tenant, source and id
    project_lookup: Mapped[bytes] = mapped_column(Digest)  # HMAC over tenant and project code
    source_lookup: Mapped[bytes | None] = mapped_column(Digest, nullable=True)  # HMAC over tenant and source
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    actor_sealed: Mapped[Sealed] = mapped_column(EncryptedBytes)  # under the person's key
    content_sealed: Mapped[Sealed] = mapped_column(EncryptedBytes)  # under the batch's key: JSON
