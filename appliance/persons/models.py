"""The person chain: one record per named person, found by keyed blind index, and the
persons named in cases, sealed to their case.

A person record holds a data key (the shredding key: one share wrapped under the tenant's
key-encryption key, or the installation's for staff who span tenants, and one in the person
key vault) and the blind indexes that find it. Erasure destroys the vault share, so whatever
was sealed under that key is unreadable in the live database and in every backup taken before.

Staff accounts keep their address sealed under the person's key. Persons named in a case keep
nothing on the chain but the blind indexes and the key: who they are, and in which case, is in
``case_subjects`` beside the case, readable only with the case's key (appliance/cases/case_subjects.py).
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
    person. Staff accounts also keep the value, sealed under the person's key (export shows
    it); persons named in cases do not (NULL): their values are sealed to the case."""

    __tablename__ = "person_identifiers"

    id: Mapped[uuid.UUID] = mapped_column(GUID, primary_key=True, default=new_id)
    person_id: Mapped[uuid.UUID] = mapped_column(GUID, sa.ForeignKey("persons.id"), index=True)
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(GUID, sa.ForeignKey("tenants.id"))
    kind: Mapped[str] = mapped_column(sa.String(16))  # email | national_id
    lookup: Mapped[bytes] = mapped_column(Digest, unique=True)  # HMAC over kind, scope and value
    value_sealed: Mapped[Sealed | None] = mapped_column(EncryptedBytes)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class PersonLink(Base):
    """One record elsewhere that is about the person: a staff account, later an insider-list
    entry. Persons named in a case are never linked here (the link would tie them to the case
    in clear); rows of kind ``case_subject`` are from before case-sealed entries and are
    converted when the case is next opened (or by `appliance person reconcile`).
    ``retain_until`` is a legal retention period (e.g. insider lists, 5 years) during which
    erasure is refused."""

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


class CaseSubjectEntry(Base):
    """A person named in a case. Nothing in clear but the case it belongs to:

    - ``entry_sealed``, under the case's content key: which person records the entry refers to
      (by id), the person's role in the case and when the entry was added;
    - ``identity_sealed``, under a key derived from the case's content key and the data keys of
      those person records: the name, e-mail and national ID typed in this case.

    So reading who is named needs access to the case, and the person not erased; the server
    alone (master key, database, vault) learns neither who is named nor in which case a person
    is. There is deliberately no clear timestamp and no reference to ``persons``."""

    __tablename__ = "case_subjects"

    id: Mapped[uuid.UUID] = mapped_column(GUID, primary_key=True, default=new_id)
    case_id: Mapped[uuid.UUID] = mapped_column(GUID, sa.ForeignKey("cases.id"), index=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(GUID, sa.ForeignKey("tenants.id"))
    entry_sealed: Mapped[Sealed] = mapped_column(EncryptedBytes)
    identity_sealed: Mapped[Sealed] = mapped_column(EncryptedBytes)
