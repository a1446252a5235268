"""The person chain: one record per named person, found by keyed blind index.

Every identifying value (name, e-mail, national ID) is sealed under the person's own data
key, which is wrapped under the tenant's key-encryption key (or the installation's, for
staff who span tenants). Destroying the wrapped key (erasure) makes every copy of those
values unreadable, in the live database and in every backup taken before.
"""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from appliance.crypto.fields import EncryptedBytes, Sealed
from appliance.db import GUID, Base, Blob, Digest, UTCDateTime, new_id


class Person(Base):
    __tablename__ = "persons"

    id: Mapped[uuid.UUID] = mapped_column(GUID, primary_key=True, default=new_id)
    # NULL: installation scope (staff users); else the tenant whose key wraps this person's key.
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(GUID, sa.ForeignKey("tenants.id"), index=True)
    # Version of the key-encryption key that wraps ``wrapped_key`` (rotation moves it).
    key_version: Mapped[int] = mapped_column(sa.Integer)
    wrapped_key: Mapped[bytes] = mapped_column(Blob)
    name_sealed: Mapped[Sealed | None] = mapped_column(EncryptedBytes)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class PersonIdentifier(Base):
    """An indexed identifier (normalised e-mail, national ID): the blind index finds the
    person, the sealed value (under the person's key) is what export shows."""

    __tablename__ = "person_identifiers"

    id: Mapped[uuid.UUID] = mapped_column(GUID, primary_key=True, default=new_id)
    person_id: Mapped[uuid.UUID] = mapped_column(GUID, sa.ForeignKey("persons.id"), index=True)
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(GUID, sa.ForeignKey("tenants.id"))
    kind: Mapped[str] = mapped_column(sa.String(16))  # email | national_id
    lookup: Mapped[bytes] = mapped_column(Digest, unique=True)  # HMAC over kind, scope and value
    value_sealed: Mapped[Sealed] = mapped_column(EncryptedBytes)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class PersonLink(Base):
    """One record elsewhere that is about the person: a staff account, a person named in a
    case, later an insider-list entry. ``retain_until`` is a legal retention period (e.g.
    insider lists, 5 years) during which erasure is refused."""

    __tablename__ = "person_links"
    __table_args__ = (sa.Index("ix_person_links_object", "object_type", "object_id"),)

    id: Mapped[uuid.UUID] = mapped_column(GUID, primary_key=True, default=new_id)
    person_id: Mapped[uuid.UUID] = mapped_column(GUID, sa.ForeignKey("persons.id"), index=True)
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(GUID, sa.ForeignKey("tenants.id"))
    kind: Mapped[str] = mapped_column(sa.String(20))  # staff_user | case_subject | insider
    object_type: Mapped[str] = mapped_column(sa.String(20))  # user | case | ...
    object_id: Mapped[str] = mapped_column(sa.String(64))
    # What the link says about the person (e.g. their role in a case), sealed by the owner of
    # the linked record: case subjects under the case's content key, others under the person's.
    detail_sealed: Mapped[Sealed | None] = mapped_column(EncryptedBytes)
    retain_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
