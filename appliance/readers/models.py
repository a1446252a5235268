"""Tables of the reader lists: the signed entries, the changes waiting for a reader's
confirmation, and the notices every reader is mailed about them."""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from appliance.db import GUID, Base, Blob, Digest, UTCDateTime, new_id


class ReaderListEntry(Base):
    """One signed entry of a tenant's reader list (``appliance.readers.ledger``)."""

    __tablename__ = "reader_list_entries"

    tenant_id: Mapped[uuid.UUID] = mapped_column(GUID, sa.ForeignKey("tenants.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=False)
    body: Mapped[bytes] = mapped_column(Blob)
    signer_kind: Mapped[str] = mapped_column(sa.String(10))  # user | escrow
    signer_id: Mapped[uuid.UUID] = mapped_column(GUID)
    signature: Mapped[bytes] = mapped_column(Blob)
    mac: Mapped[bytes] = mapped_column(Digest)
    # The first entry: the staff user who compared the first reader's fingerprint.
    witness_user_id: Mapped[uuid.UUID | None] = mapped_column(GUID, sa.ForeignKey("users.id"))
    change_id: Mapped[uuid.UUID | None] = mapped_column(GUID)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class ReaderChange(Base):
    """A proposed change to a reader list. It changes nothing until a reader confirms it, and
    what they confirm is the keys recorded here when it was proposed."""

    __tablename__ = "reader_changes"
    __table_args__ = (sa.Index("ix_reader_changes_tenant_state", "tenant_id", "state"),)

    id: Mapped[uuid.UUID] = mapped_column(GUID, primary_key=True, default=new_id)
    tenant_id: Mapped[uuid.UUID] = mapped_column(GUID, sa.ForeignKey("tenants.id"))
    kind: Mapped[str] = mapped_column(sa.String(10))  # start | add | remove | receives | rekey | escrow | channel
    user_id: Mapped[uuid.UUID | None] = mapped_column(GUID, sa.ForeignKey("users.id"))
    escrow_key_id: Mapped[uuid.UUID | None] = mapped_column(GUID, sa.ForeignKey("escrow_keys.id"))
    receives: Mapped[bool | None] = mapped_column(sa.Boolean)
    box_key: Mapped[bytes | None] = mapped_column(Blob)
    sign_key: Mapped[bytes | None] = mapped_column(Blob)
    key_signature: Mapped[bytes | None] = mapped_column(Blob)
    # channel: the reporting channel whose readers it sets, and those readers' user ids (JSON list).
    channel_id: Mapped[uuid.UUID | None] = mapped_column(GUID)
    members: Mapped[str | None] = mapped_column(sa.Unicode(4000))
    # start: the entry the first reader signed when asking to start the list.
    start_body: Mapped[bytes | None] = mapped_column(Blob)
    start_signature: Mapped[bytes | None] = mapped_column(Blob)
    proposed_by: Mapped[uuid.UUID | None] = mapped_column(GUID, sa.ForeignKey("users.id"))  # NULL: CLI or system
    proposed_via: Mapped[str] = mapped_column(sa.String(10))  # web | cli | system
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    state: Mapped[str] = mapped_column(sa.String(10))  # pending | confirmed | rejected | withdrawn | superseded
    decided_by: Mapped[uuid.UUID | None] = mapped_column(GUID, sa.ForeignKey("users.id"))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    seq: Mapped[int | None] = mapped_column(sa.Integer)


class ReaderNotice(Base):
    """A mail owed to every reader (and the person concerned) about a change; the
    ``reader-notices`` job sends it. Holds ids only: addresses are looked up when sending."""

    __tablename__ = "reader_notices"

    id: Mapped[uuid.UUID] = mapped_column(GUID, primary_key=True, default=new_id)
    tenant_id: Mapped[uuid.UUID] = mapped_column(GUID, sa.ForeignKey("tenants.id"), index=True)
    change_id: Mapped[uuid.UUID] = mapped_column(GUID, sa.ForeignKey("reader_changes.id"))
    event: Mapped[str] = mapped_column(sa.String(12))  # proposed | confirmed | rejected | withdrawn
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
