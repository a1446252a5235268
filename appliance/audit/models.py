"""The logbook: append-only, hash-chained events. Never content or personal data."""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from appliance.db import GUID, Base, Digest, UTCDateTime


class AuditEvent(Base):
    __tablename__ = "audit_events"
    # The auditor's room (appliance/audit/search.py): every search is one tenant's, newest
    # first by seq, so each index leads with the tenant and ends with seq (migration 0013).
    __table_args__ = (
        sa.Index("ix_audit_events_tenant_seq", "tenant_id", "seq"),
        sa.Index("ix_audit_events_tenant_action_seq", "tenant_id", "action", "seq"),
        sa.Index("ix_audit_events_tenant_actor_seq", "tenant_id", "actor_id", "seq"),
        sa.Index("ix_audit_events_tenant_object_seq", "tenant_id", "object_id", "seq"),
        # A time range becomes a seq range by one seek at each end (migration 0017).
        sa.Index("ix_audit_events_tenant_at_seq", "tenant_id", "occurred_at", "seq"),
    )

    seq: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(GUID, index=True)
    actor_type: Mapped[str] = mapped_column(sa.String(12))
    actor_id: Mapped[str | None] = mapped_column(sa.String(64))
    action: Mapped[str] = mapped_column(sa.String(64))
    object_type: Mapped[str | None] = mapped_column(sa.String(32))
    object_id: Mapped[str | None] = mapped_column(sa.String(64))
    detail: Mapped[str | None] = mapped_column(sa.String(200))
    prev_hash: Mapped[bytes] = mapped_column(Digest)
    hash: Mapped[bytes] = mapped_column(Digest)


class AuditHead(Base):
    """One row: the chain head. Updating it first serialises appends on every backend."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(sa.BigInteger)
    hash: Mapped[bytes] = mapped_column(Digest)


class AuditCheckpoint(Base):
    """Written at each prune, signed (HMAC-SHA256) with a key derived from the master key.

    ``seq``/``hash`` are the anchor: the last pruned event, which the first kept event's
    ``prev_hash`` must name. ``head_seq``/``head_hash`` are the chain head right after the
    prune (its own ``audit.pruned`` event), which the verifier must walk through exactly, so
    rewriting kept events and re-hashing the rest of the chain is still found. `audit
    verify` starts from the newest checkpoint; the older ones stay, and their signatures
    are checked too.
    """

    __tablename__ = "audit_checkpoints"

    seq: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(Digest)
    head_seq: Mapped[int] = mapped_column(sa.BigInteger)
    head_hash: Mapped[bytes] = mapped_column(Digest)
    pruned_before: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    events_pruned: Mapped[int] = mapped_column(sa.BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    signature: Mapped[bytes] = mapped_column(Digest)
