"""The insider-list tables. Append-only: a change is a new row of ``insider_versions``.

``insider_sections`` and ``insider_entries`` hold only what never changes (which tenant, which
kind, which section, which person); everything that may change is in a version carrying the
time of the change that triggered it (``valid_from``, MAR Art. 18(4)), sealed where it says
anything. Each tenant's versions form one chain (``seq``, ``mac``): a MAC under a preserved
secret over the row and the previous row's MAC, so a row edited, inserted or removed with SQL
breaks the chain (``appliance.insiders.chain``). Retention later drops ``personal_sealed`` and
``content_sealed`` of an entry's versions; the MAC covers their digests, which stay.
"""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from appliance.crypto.fields import EncryptedBytes, Sealed
from appliance.db import GUID, Base, Blob, Digest, UTCDateTime, new_id


class InsiderSection(Base):
    """One section: a piece of inside information (event) or the tenant's permanent insiders."""

    __tablename__ = "insider_sections"

    id: Mapped[uuid.UUID] = mapped_column(GUID, primary_key=True, default=new_id)
    tenant_id: Mapped[uuid.UUID] = mapped_column(GUID, sa.ForeignKey("tenants.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(10))  # event | permanent
    # The section's data key (its content and its entries' content are sealed under it), wrapped
    # under the tenant's key-encryption key of ``key_version`` (rotation moves it).
    key_version: Mapped[int] = mapped_column(sa.Integer)
    wrapped_key: Mapped[bytes] = mapped_column(Blob)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class InsiderEntry(Base):
    """One person on one section (for a third-party service provider: its contact person).
    ``provider_lookup``: keyed blind index of the provider's name, so a second contact of the same
    provider on the section is refused without reading any name. ``person_id`` goes (NULL) when
    retention deletes the person's data."""

    __tablename__ = "insider_entries"

    id: Mapped[uuid.UUID] = mapped_column(GUID, primary_key=True, default=new_id)
    tenant_id: Mapped[uuid.UUID] = mapped_column(GUID, sa.ForeignKey("tenants.id"), index=True)
    section_id: Mapped[uuid.UUID] = mapped_column(GUID, sa.ForeignKey("insider_sections.id"), index=True)
    person_id: Mapped[uuid.UUID | None] = mapped_column(GUID, sa.ForeignKey("persons.id"), index=True)
    provider_lookup: Mapped[bytes | None] = mapped_column(Digest)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class InsiderVersion(Base):
    """One version of a section (``entry_id`` NULL) or of an entry. Never updated, except that
    retention sets ``personal_sealed`` and ``content_sealed`` of an entry's versions to NULL
    (``personal_digest`` and ``content_digest`` stay: the MAC signs the digests, not the ciphertexts)."""

    __tablename__ = "insider_versions"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "seq"),
                      sa.Index("ix_insider_versions_object", "section_id", "entry_id", "valid_from"))

    id: Mapped[uuid.UUID] = mapped_column(GUID, primary_key=True, default=new_id)
    tenant_id: Mapped[uuid.UUID] = mapped_column(GUID, sa.ForeignKey("tenants.id"))
    seq: Mapped[int] = mapped_column(sa.Integer)  # the tenant's chain position, from 1
    section_id: Mapped[uuid.UUID] = mapped_column(GUID, sa.ForeignKey("insider_sections.id"))
    entry_id: Mapped[uuid.UUID | None] = mapped_column(GUID, sa.ForeignKey("insider_entries.id"))
    # The date and time of the change that triggered this version (UTC minute).
    valid_from: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    change: Mapped[str] = mapped_column(sa.String(20))  # created | changed | ceased | closed
    # Sections: when the inside information was identified, and closed. Entries: obtained, ceased.
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # Sections: code and description; entries: company, function and reason, provider name (NULL
    # once retention deleted it; ``content_digest`` then keeps its SHA-256, which the MAC signs).
    content_sealed: Mapped[Sealed | None] = mapped_column(EncryptedBytes)
    content_digest: Mapped[bytes | None] = mapped_column(Digest)
    # Entries: every personal field, under the person's key (NULL for sections, and once deleted).
    personal_sealed: Mapped[Sealed | None] = mapped_column(EncryptedBytes)
    personal_digest: Mapped[bytes | None] = mapped_column(Digest)
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    recorded_by: Mapped[str] = mapped_column(sa.String(64))  # "cli", "system" or a staff user's id
    mac: Mapped[bytes] = mapped_column(Digest)


class InsiderTransmission(Base):
    """An export handed to the competent authority: which section (NULL: the whole list), as at
    when, in which format, and on which date it was transmitted."""

    __tablename__ = "insider_transmissions"

    id: Mapped[uuid.UUID] = mapped_column(GUID, primary_key=True, default=new_id)
    tenant_id: Mapped[uuid.UUID] = mapped_column(GUID, sa.ForeignKey("tenants.id"), index=True)
    section_id: Mapped[uuid.UUID | None] = mapped_column(GUID, sa.ForeignKey("insider_sections.id"))
    as_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    export_format: Mapped[str] = mapped_column(sa.String(8))
    transmitted_on: Mapped[dt.date] = mapped_column(sa.Date)
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    recorded_by: Mapped[str] = mapped_column(sa.String(64))


class InsiderProposalDecision(Base):
    """A manager's answer to a proposal (a person whose access events name an event section's
    project): ``accepted`` (``entry_id``: the insider it made) or ``dismissed`` with a reason, sealed
    under the section's data key. ``person_id`` has no foreign key: erasing the person deletes
    these rows (appliance/privacy/erasure.py) after the person row is gone from every other table."""

    __tablename__ = "insider_proposal_decisions"
    __table_args__ = (sa.Index("ix_insider_proposal_decisions_person", "tenant_id", "section_id", "person_id"),)

    id: Mapped[uuid.UUID] = mapped_column(GUID, primary_key=True, default=new_id)
    tenant_id: Mapped[uuid.UUID] = mapped_column(GUID, sa.ForeignKey("tenants.id"))
    section_id: Mapped[uuid.UUID] = mapped_column(GUID, sa.ForeignKey("insider_sections.id"))
    person_id: Mapped[uuid.UUID] = mapped_column(GUID)
    decision: Mapped[str] = mapped_column(sa.String(10))  # accepted | dismissed
    access_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)  # the first access the proposal showed
    reason_sealed: Mapped[Sealed | None] = mapped_column(EncryptedBytes)
    entry_id: Mapped[uuid.UUID | None] = mapped_column(GUID, sa.ForeignKey("insider_entries.id"))
    decided_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    decided_by: Mapped[str] = mapped_column(sa.String(64))
