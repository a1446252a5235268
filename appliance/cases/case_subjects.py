"""Persons a handler names in a case (the person concerned, witnesses), sealed to the case.

Each person named is a row of ``case_subjects`` beside the case with two sealed values:

- the entry, under the case's content key: which person records it refers to, the role in the
  case and when it was added. Only the case's readers learn who is named in it;
- the identity typed in this case (name, e-mail, national ID), under a key derived from the
  case's content key *and* the data keys of those person records. Reading it needs access to
  the case and the person not erased; a handler sees what was typed in this case, never what
  another case recorded about the same person.

The person chain keeps what erasure and access requests need and nothing else: the keyed
blind indexes that find a person and the person's shredding key. It holds no name, no value
and no reference to a case, so the server (master key, database and vault together) can
neither read who is named nor tell in which case a person is. Erasing the person destroys the
vault share of that key: the identity in every case, in every earlier backup too, is then
unreadable even with the case's key, and the case page shows the entry as erased.

Nothing in the logbook ties a person to a case either: entries are logged on the case
(``case.subject_added``, ``case.subject_removed``), and the persons' keys a case needs are one
``key.unwrapped`` event of kind ``case_subject_key`` naming the case and the count.

Persons named before this design are ``person_links`` rows of kind ``case_subject`` with the
identity sealed under the person's key alone. The first reader of the case converts them
(``convert_legacy``); `appliance person reconcile` does it for every case with the escrow key.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy.orm import Session

from appliance.actors import Actor, StaffPrincipal
from appliance.audit.service import Logbook
from appliance.cases.models import Case
from appliance.cases.service import CaseService
from appliance.clock import Clock
from appliance.crypto.case_cipher import CaseCipher
from appliance.crypto.fields import FieldCipher, Place
from appliance.errors import AlreadyNamed, DecryptionFailed, InvalidInput, NotFound
from appliance.persons.models import CaseSubjectEntry, Person, PersonLink
from appliance.persons.service import CASE_SUBJECT_LINK, EMAIL, NATIONAL_ID, PersonDetails, PersonService
from appliance.tenants.models import Tenant

ROLES = ("concerned", "witness", "other")
TABLE = "case_subjects"
IDENTITY_FIELD_VERSION = 1
ENTRY_FORMAT = 1
# Sealed values are padded to a multiple of this, so their length tells neither the role (an
# entry) nor much about the name (an identity).
PADDING = 256

PersonKeys = dict[uuid.UUID, bytes | None]


@dataclass(frozen=True)
class CaseSubject:
    """A person named in a case, as its readers see it: only what was typed in this case."""

    entry_id: uuid.UUID
    role: str
    added_at: dt.datetime
    name: str | None = None
    identifiers: dict[str, str] = field(default_factory=dict)
    erased: bool = False  # a person it refers to was erased: the identity is gone for good


@dataclass(frozen=True)
class _Entry:
    """What the case's key opens of one row: the person records, role and time."""

    row: CaseSubjectEntry
    person_ids: tuple[uuid.UUID, ...]
    role: str
    added_at: dt.datetime


# Aliases: inside CaseSubjects, ``list`` is the method.
Subjects = list[CaseSubject]
Entries = list[_Entry]
PersonIds = list[uuid.UUID]
KeyList = list[bytes]


def identity_key(content_key: bytes, entry_id: uuid.UUID, person_keys: Sequence[bytes]) -> bytes:
    """The key of one entry's identity: needs the case's content key and every person's data
    key (in the entry's order), so neither the server (no content key) nor a case reader after
    the person's erasure (no vault share) can derive it."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=entry_id.bytes,
                info=b"appliance/case-subject-identity/v1").derive(content_key + b"".join(person_keys))


def _entry_place(entry_id: uuid.UUID) -> Place:
    return Place(TABLE, "entry", entry_id)


def _identity_place(entry_id: uuid.UUID) -> Place:
    return Place(TABLE, "identity", entry_id)


def _legacy_role_place(link_id: uuid.UUID) -> Place:
    return Place("person_links", "detail", link_id)


def _padded_json(data: dict[str, Any]) -> bytes:
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    return text + b" " * (-len(text) % PADDING)  # JSON ignores the trailing spaces


class CaseSubjects:
    """Names persons in a case, lists and removes them, for principals who can read the case."""

    def __init__(self, session: Session, cases: CaseService, persons: PersonService, logbook: Logbook,
                 clock: Clock) -> None:
        self._session = session
        self._cases = cases
        self._persons = persons
        self._logbook = logbook
        self._clock = clock

    # --- handlers -----------------------------------------------------------------------
    def list(self, principal: StaffPrincipal, case_id: uuid.UUID) -> Subjects:
        """The persons named in a case the principal can read, oldest first (converting those
        named before case-sealed entries on the way)."""
        case, cipher = self._cases.opened(principal, case_id)
        self.convert_legacy(case, cipher, principal.actor)
        subjects, _keys = self._read(case, cipher, principal.actor)
        return subjects

    def add(self, principal: StaffPrincipal, case_id: uuid.UUID, details: PersonDetails, role: str) -> uuid.UUID:
        """Name a person in the case; returns the entry's id. An e-mail or national ID already on
        the person chain finds the same person record (so erasure reaches this entry too), but
        the entry holds only what was typed here."""
        if role not in ROLES:
            raise InvalidInput("role", "choose one of the listed roles")
        if details.name is None and not details.identifiers():
            raise InvalidInput("name", "give at least a name, an e-mail address or a national ID")
        case, cipher = self._cases.opened(principal, case_id)
        actor = principal.actor
        lock_tenant_shared(self._session, case.tenant_id)
        self.convert_legacy(case, cipher, actor)
        keys: PersonKeys = {}
        if details.identifiers() and self._session.execute(sa.select(CaseSubjectEntry.id).where(
                CaseSubjectEntry.case_id == case.id).limit(1)).first():
            # Compared with what this case recorded, never with the person chain: a refusal
            # must not tell the handler what another case knows about the person.
            current, keys = self._read(case, cipher, actor)
            for subject in current:
                for kind, value in details.identifiers():
                    if subject.identifiers.get(kind) == value:
                        raise AlreadyNamed(kind)
        persons = self._persons.record_case_subject(case.tenant_id, details, actor)
        missing = [p for p in persons if p.id not in keys]
        keys.update(self._persons.keys_for_case(case.tenant_id, missing, case.id, actor))
        person_keys = [keys[p.id] for p in persons]
        if any(key is None for key in person_keys):
            raise DecryptionFailed("person key (its vault share is missing)")
        entry_id = uuid.uuid4()
        self._write(case, cipher, entry_id, [p.id for p in persons], [k for k in person_keys if k is not None],
                    role, self._clock(), details)
        self._logbook.record("case.subject_added", actor, tenant_id=case.tenant_id, object_type="case",
                             object_id=case.id)
        return entry_id

    def remove(self, principal: StaffPrincipal, case_id: uuid.UUID, entry_id: uuid.UUID) -> None:
        """Take a person off the case. Their person record stays: whether another case names
        them is sealed to that case (`appliance person reconcile` deletes records no case names)."""
        case, _cipher = self._cases.opened(principal, case_id)
        row = self._session.execute(sa.select(CaseSubjectEntry).where(
            CaseSubjectEntry.id == entry_id, CaseSubjectEntry.case_id == case.id)).scalar_one_or_none()
        if row is None:
            raise NotFound("person in case", entry_id)
        self._session.delete(row)
        self._session.flush()
        self._logbook.record("case.subject_removed", principal.actor, tenant_id=case.tenant_id, object_type="case",
                             object_id=case.id)

    # --- with a case's key, whoever holds it (a handler, the escrow key) ----------------------
    def referenced_persons(self, case: Case, cipher: CaseCipher) -> set[uuid.UUID]:
        """The person records the case's entries refer to (opening the entries only)."""
        return {person_id for entry in self._entries(case, cipher) for person_id in entry.person_ids}

    def convert_legacy(self, case: Case, cipher: CaseCipher, actor: Actor) -> int:
        """Seal to the case the persons named in it before case-sealed entries: each link (case
        id and person id in clear, identity under the person's key alone) becomes an entry with
        the identity the case page showed, and the link is deleted. A person left with no link
        loses the values on the chain (only the blind indexes stay). Returns how many."""
        links = self._session.execute(sa.select(PersonLink).where(
            PersonLink.kind == CASE_SUBJECT_LINK, PersonLink.object_type == "case",
            PersonLink.object_id == str(case.id)).order_by(PersonLink.created_at, PersonLink.id)).scalars().all()
        if not links:
            return 0
        persons = {p.id: p for p in self._session.execute(sa.select(Person).where(
            Person.id.in_({link.person_id for link in links}), Person.tenant_id == case.tenant_id)).scalars()}
        keys = self._persons.keys_for_case(case.tenant_id, list(persons.values()), case.id, actor)
        converted = 0
        for link in links:
            person, key = persons.get(link.person_id), keys.get(link.person_id)
            if person is None or key is None:
                continue  # no vault share: nothing to read (`appliance doctor` reports the person)
            # Claimed by deleting it: a reader converting the same case at the same time finds it gone.
            claimed = self._session.execute(sa.delete(PersonLink).where(PersonLink.id == link.id))
            if claimed.rowcount != 1:  # type: ignore[attr-defined]
                continue
            role = cipher.open(link.detail_sealed, _legacy_role_place(link.id)) if link.detail_sealed else "other"
            self._write(case, cipher, uuid.uuid4(), [person.id], [key], role if role in ROLES else "other",
                        link.created_at, self._persons.legacy_details(person, key))
            converted += 1
        if converted:
            self._persons.drop_values_of_unlinked(list(persons))
            self._logbook.record("case.subjects_sealed", actor, tenant_id=case.tenant_id, object_type="case",
                                 object_id=case.id, detail=f"entries={converted}")
        return converted

    # --- reading and writing ---------------------------------------------------------------
    def _entries(self, case: Case, cipher: CaseCipher) -> Entries:
        rows = self._session.execute(sa.select(CaseSubjectEntry).where(
            CaseSubjectEntry.case_id == case.id)).scalars().all()
        entries = []
        for row in rows:
            data: dict[str, Any] = json.loads(cipher.open_bytes(row.entry_sealed, _entry_place(row.id)))
            entries.append(_Entry(row, tuple(uuid.UUID(p) for p in data["persons"]), str(data["role"]),
                                  dt.datetime.fromisoformat(data["added_at"])))
        return sorted(entries, key=lambda e: (e.added_at, str(e.row.id)))

    def _read(self, case: Case, cipher: CaseCipher, actor: Actor) -> tuple[Subjects, PersonKeys]:
        entries = self._entries(case, cipher)
        wanted = {person_id for entry in entries for person_id in entry.person_ids}
        persons = list(self._session.execute(sa.select(Person).where(Person.id.in_(wanted))).scalars()) if wanted else []
        keys = self._persons.keys_for_case(case.tenant_id, persons, case.id, actor)
        assert cipher.content_key is not None  # an opened case
        subjects = []
        for entry in entries:
            person_keys = [keys.get(person_id) for person_id in entry.person_ids]
            if any(key is None for key in person_keys):  # erased (the record or its vault share is gone)
                subjects.append(CaseSubject(entry.row.id, entry.role, entry.added_at, erased=True))
                continue
            key = identity_key(cipher.content_key, entry.row.id, [k for k in person_keys if k is not None])
            identity = json.loads(FieldCipher(key, IDENTITY_FIELD_VERSION).open_bytes(
                entry.row.identity_sealed, _identity_place(entry.row.id)))
            subjects.append(CaseSubject(
                entry.row.id, entry.role, entry.added_at, identity.get("name"),
                {kind: identity[kind] for kind in (EMAIL, NATIONAL_ID) if identity.get(kind)}))
        return subjects, keys

    def _write(self, case: Case, cipher: CaseCipher, entry_id: uuid.UUID, person_ids: PersonIds,
               person_keys: KeyList, role: str, added_at: dt.datetime, details: PersonDetails) -> None:
        assert cipher.content_key is not None  # an opened case
        entry = _padded_json({"format": ENTRY_FORMAT, "persons": [str(p) for p in person_ids], "role": role,
                              "added_at": added_at.isoformat()})
        identity = _padded_json({"name": details.name, EMAIL: details.email, NATIONAL_ID: details.national_id})
        key = identity_key(cipher.content_key, entry_id, person_keys)
        row = CaseSubjectEntry(id=entry_id, case_id=case.id, tenant_id=case.tenant_id)
        row.entry_sealed = cipher.seal(entry, _entry_place(entry_id))
        row.identity_sealed = FieldCipher(key, IDENTITY_FIELD_VERSION).seal(identity, _identity_place(entry_id))
        self._session.add(row)
        self._session.flush()


def lock_tenant_shared(session: Session, tenant_id: uuid.UUID) -> None:
    """Naming persons in a tenant's cases holds this lock until commit; deleting person records
    no case names (`person reconcile`) takes it exclusively, so it never deletes a person a case
    is naming at that moment (PostgreSQL and SQL Server; SQLite's write lock already does)."""
    session.execute(sa.select(Tenant.id).where(Tenant.id == tenant_id).with_for_update(read=True))


def unconverted_cases(session: Session) -> dict[uuid.UUID, int]:
    """Per tenant, how many cases still name persons the old way (links in clear)."""
    rows = session.execute(sa.select(PersonLink.tenant_id, sa.func.count(sa.distinct(PersonLink.object_id))).where(
        PersonLink.kind == CASE_SUBJECT_LINK, PersonLink.object_type == "case").group_by(PersonLink.tenant_id)).all()
    return {tenant_id: int(count) for tenant_id, count in rows if tenant_id is not None}
