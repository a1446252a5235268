"""The person chain: record a named person once, find them by blind index, open what is held
(export and erasure, GDPR Art. 15 and 17, are in appliance/privacy/).

A person's data key needs two shares, one wrapped in the main database and one in the vault;
erasure destroys the vault share, so whatever was sealed under that key, in old backups too,
stays unreadable. Staff accounts seal their address under it and are linked here. Persons named
in a case have only their blind indexes and the key on the chain: what a case records about
them is sealed to the case, under a key that needs this one too (appliance/cases/case_subjects.py).
"""

from __future__ import annotations

import datetime as dt
import secrets
import unicodedata
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import sqlalchemy as sa
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy.orm import Session

from appliance.actors import Actor
from appliance.audit.service import Logbook
from appliance.clock import Clock
from appliance.crypto.blind_index import EMAIL_ADDRESS, BlindIndex, normalise_email
from appliance.crypto.fields import FieldCipher, Place, Sealed
from appliance.errors import InvalidInput, NotFound, PersonConflict
from appliance.keys.keyring import DataKeys
from appliance.keys.vault import Vault
from appliance.persons.models import Person, PersonIdentifier, PersonLink
from appliance.tenants.models import Tenant

PERSON_FIELD_VERSION = 1
CASE_SUBJECT_LINK = "case_subject"  # person_links from before case-sealed entries
EMAIL, NATIONAL_ID = "email", "national_id"
KINDS = (EMAIL, NATIONAL_ID)
MAX_NAME = 200
MAX_EMAIL = 254
MAX_NATIONAL_ID = 32


@dataclass(frozen=True)
class PersonDetails:
    """What is known to identify a person; any part may be missing."""

    name: str | None = None
    email: str | None = None
    national_id: str | None = None

    def identifiers(self) -> list[tuple[str, str]]:
        found = [(EMAIL, self.email), (NATIONAL_ID, self.national_id)]
        return [(kind, value) for kind, value in found if value]


def clean_details(name: str | None, email: str | None, national_id: str | None) -> PersonDetails:
    """Validate and normalise what a handler or an admin typed; raise InvalidInput naming the field."""
    return PersonDetails(_clean_name(name), _clean_email(email), _clean_national_id(national_id))


def _clean_name(value: str | None) -> str | None:
    value = unicodedata.normalize("NFC", (value or "").strip())
    if not value:
        return None
    if len(value) > MAX_NAME:
        raise InvalidInput("name", f"at most {MAX_NAME} characters")
    if any(unicodedata.category(ch) == "Cc" for ch in value):
        raise InvalidInput("name", "must not contain control characters")
    return value


def _clean_email(value: str | None) -> str | None:
    value = normalise_email(value or "")
    if not value:
        return None
    if len(value) > MAX_EMAIL or not EMAIL_ADDRESS.match(value):
        raise InvalidInput("email", "not an e-mail address")
    return value


def _clean_national_id(value: str | None) -> str | None:
    value = "".join(ch for ch in (value or "") if ch not in " -.").upper()
    if not value:
        return None
    if len(value) > MAX_NATIONAL_ID or not value.isascii() or not value.isalnum():
        raise InvalidInput("national_id", f"letters and digits only, at most {MAX_NATIONAL_ID}")
    return value


@dataclass(frozen=True)
class LinkSummary:
    """One kind of record tied to a person: where it lives and which rows (ids only)."""

    kind: str
    object_type: str
    tenant: str | None
    object_ids: tuple[str, ...]
    retain_until: dt.datetime | None = None


@dataclass(frozen=True)
class PersonMatch:
    person_id: uuid.UUID
    tenant: str | None  # slug, or None for the installation (staff)
    identifiers: tuple[str, ...]  # kinds only, never values
    links: tuple[LinkSummary, ...]  # records linked in clear (staff accounts, ...), never cases
    staff_user_id: uuid.UUID | None = None

    @property
    def named_in_cases(self) -> bool:
        """A person of a tenant may be named in its cases: which ones, only the cases' readers
        can tell (the server holds no link)."""
        return self.tenant is not None


@dataclass
class ErasureReport:
    person_id: uuid.UUID
    blocked: list[str] = field(default_factory=list)
    deleted: dict[str, int] = field(default_factory=dict)
    done: bool = False
    # What cases recorded about the person is shredded too, however many they are (unknown here).
    shreds_case_entries: bool = False


class PersonService:
    """Records, finds and opens persons. Never commits; never logs an identifier.

    ``staff_account_of`` gives the staff account recorded for a person (users sit above the
    person chain, so their lookup is passed in: ``appliance.users.service.staff_account_of``)."""

    def __init__(self, session: Session, data_keys: DataKeys, vault: Vault, blind_index: BlindIndex,
                 logbook: Logbook, clock: Clock, staff_account_of: Callable[[uuid.UUID], uuid.UUID | None]) -> None:
        self._session = session
        self._staff_account_of = staff_account_of
        self._keys = data_keys
        self._vault = vault
        self._index = blind_index
        self._logbook = logbook
        self._clock = clock
        self._ciphers: dict[uuid.UUID, FieldCipher] = {}
        # Data keys of persons created in this unit of work: known without an unwrap.
        self._new_keys: dict[uuid.UUID, bytes] = {}

    # --- recording ------------------------------------------------------------------
    def record(self, tenant_id: uuid.UUID | None, details: PersonDetails, actor: Actor) -> Person:
        """The person these details identify (matched by e-mail or national ID), created if new,
        with the values sealed under the person's key (staff accounts: the installation scope).
        Identifiers they did not have yet are added; the name is set if they had none."""
        details = clean_details(details.name, details.email, details.national_id)
        person = self._match(tenant_id, details)
        if person is None:
            person = self._create(tenant_id, actor)
        cipher = self.cipher(person, actor)
        have = set(self._session.execute(
            sa.select(PersonIdentifier.kind).where(PersonIdentifier.person_id == person.id)).scalars())
        for kind, value in details.identifiers():
            if kind not in have:
                identifier = PersonIdentifier(id=uuid.uuid4(), person_id=person.id, tenant_id=tenant_id, kind=kind,
                                              lookup=self.lookup(kind, value, tenant_id), created_at=self._clock())
                identifier.value_sealed = cipher.seal(value, Place("person_identifiers", kind, identifier.id))
                self._session.add(identifier)
        if details.name and person.name_sealed is None:
            person.name_sealed = cipher.seal(details.name, Place("persons", "name", person.id))
        self._session.flush()
        return person

    def record_case_subject(self, tenant_id: uuid.UUID, details: PersonDetails, actor: Actor) -> list[Person]:
        """The person records a case entry with these details is sealed to: every person an
        e-mail or national ID already finds (two when they find two, so erasing either shreds
        the entry, and no error tells the handler that both were recorded elsewhere), or one
        new person. Identifiers not indexed yet are indexed to the first of them. Only blind
        indexes are stored, never a value; nothing at all when every identifier was known. A
        new person's record is dated by the day only and not logged, so neither its time nor
        the logbook ties it to the case entry written with it. No identifier: none."""
        wanted = [(kind, value, self.lookup(kind, value, tenant_id)) for kind, value in details.identifiers()]
        if not wanted:
            return []
        found = dict(self._session.execute(sa.select(PersonIdentifier.lookup, PersonIdentifier.person_id).where(
            PersonIdentifier.lookup.in_([lookup for _kind, _value, lookup in wanted]),
            PersonIdentifier.tenant_id == tenant_id)).all())
        persons = [self.get(person_id) for person_id in sorted(set(found.values()), key=str)]
        if not persons:
            persons = [self._create(tenant_id, actor, case_subject=True)]
        for kind, _value, lookup in wanted:
            if lookup not in found:
                self._session.add(PersonIdentifier(id=uuid.uuid4(), person_id=persons[0].id, tenant_id=tenant_id,
                                                   kind=kind, lookup=lookup, created_at=_day(self._clock())))
        self._session.flush()
        return persons

    def record_by_email(self, tenant_id: uuid.UUID, emails: set[str], actor: Actor) -> dict[str, Person]:
        """The tenant's person for each normalised, valid address (matched by blind index),
        created with the address sealed under the new person's key when none matches. In bulk:
        one query for the addresses already known (an upload of access events names many)."""
        wanted = {email: self.lookup(EMAIL, email, tenant_id) for email in emails}
        found: dict[bytes, uuid.UUID] = {}
        lookups = list(wanted.values())
        for start in range(0, len(lookups), 500):
            found.update(self._session.execute(sa.select(PersonIdentifier.lookup, PersonIdentifier.person_id).where(
                PersonIdentifier.tenant_id == tenant_id,
                PersonIdentifier.lookup.in_(lookups[start:start + 500]))).all())
        known = {p.id: p for p in self._session.execute(sa.select(Person).where(
            Person.tenant_id == tenant_id, Person.id.in_(set(found.values())))).scalars()} if found else {}
        persons: dict[str, Person] = {}
        for email, lookup in sorted(wanted.items()):
            if lookup in found and found[lookup] in known:
                persons[email] = known[found[lookup]]
                continue
            person = self._create(tenant_id, actor)
            identifier = PersonIdentifier(id=uuid.uuid4(), person_id=person.id, tenant_id=tenant_id, kind=EMAIL,
                                          lookup=lookup, created_at=self._clock())
            identifier.value_sealed = self.cipher(person, actor).seal(
                email, Place("person_identifiers", EMAIL, identifier.id))
            self._session.add(identifier)
            persons[email] = person
        self._session.flush()
        return persons

    def keys_for_case(self, tenant_id: uuid.UUID, persons: list[Person], case_id: uuid.UUID,
                      actor: Actor) -> dict[uuid.UUID, bytes | None]:
        """The data keys of persons of a tenant named in one of its cases, to open what the case
        sealed under them; None for a person whose vault share is gone (erased) or who is not
        the tenant's. Logged as one ``key.unwrapped`` event of kind ``case_subject_key`` naming
        the case and the count, never a person; a person recorded just now is counted the same,
        so the logbook does not tell whether the case named someone new."""
        return self.keys_for_use(tenant_id, persons, "case_subject_key", case_id, actor)

    def keys_for_use(self, tenant_id: uuid.UUID, persons: list[Person], object_type: str,
                     object_id: uuid.UUID | str, actor: Actor) -> dict[uuid.UUID, bytes | None]:
        """The data keys of several persons of a tenant for one use (a case, a batch of access
        events), unwrapped together and logged as one ``key.unwrapped`` event of ``object_type``
        naming ``object_id`` and the count; None for a person erased or not the tenant's."""
        keys: dict[uuid.UUID, bytes | None] = {p.id: None for p in persons if p.tenant_id != tenant_id}
        fresh = {p.id: self._new_keys[p.id] for p in persons if p.id in self._new_keys and p.id not in keys}
        wanted = [p for p in persons if p.id not in keys and p.id not in fresh]
        vault_shares = self._vault.shares(p.id for p in wanted)
        keys.update({p.id: None for p in wanted if p.id not in vault_shares})
        group = [p for p in wanted if p.id in vault_shares]
        if group or fresh:
            db_shares = self._keys.unwrap_many(
                tenant_id, [(_owner(p.id), p.key_version, p.wrapped_key) for p in group], actor, object_type,
                object_id, also_used=len(fresh))
            for person, db_share in zip(group, db_shares, strict=True):
                keys[person.id] = person_data_key(person.id, db_share, vault_shares[person.id])
        keys.update(fresh)
        return keys

    def _match(self, tenant_id: uuid.UUID | None, details: PersonDetails) -> Person | None:
        found: set[uuid.UUID] = set()
        for kind, value in details.identifiers():
            person_id = self._session.execute(sa.select(PersonIdentifier.person_id).where(
                PersonIdentifier.lookup == self.lookup(kind, value, tenant_id))).scalar_one_or_none()
            if person_id is not None:
                found.add(person_id)
        if len(found) > 1:
            raise PersonConflict()
        return self._session.get(Person, found.pop()) if found else None

    def _create(self, tenant_id: uuid.UUID | None, actor: Actor, case_subject: bool = False) -> Person:
        person_id = uuid.uuid4()
        now = _day(self._clock()) if case_subject else self._clock()
        vault_share = self._vault.new_share(person_id, now)  # committed first: the person is never without it
        db_share = secrets.token_bytes(32)
        wrapped, version = self._keys.wrap(tenant_id, _owner(person_id), db_share, actor)
        person = Person(id=person_id, tenant_id=tenant_id, key_version=version, wrapped_key=wrapped, created_at=now)
        self._session.add(person)
        self._session.flush()
        self._new_keys[person_id] = person_data_key(person_id, db_share, vault_share)
        # A person named in a case is not logged on its own: an event here, even without the id,
        # would sit next to the case's "case.subject_added" and tell which record is new (the
        # day's persons are few). The case's event stands for it.
        if not case_subject:
            self._logbook.record("person.recorded", actor, tenant_id=tenant_id, object_type="person",
                                 object_id=person.id)
        return person

    def link(self, person: Person, kind: str, object_type: str, object_id: uuid.UUID | str, actor: Actor,
             detail: Sealed | None = None, retain_until: dt.datetime | None = None,
             link_id: uuid.UUID | None = None) -> PersonLink:
        """Tie one record to the person (a staff account, later an insider-list entry). Never a
        case: persons named in a case are sealed to it (appliance/cases/case_subjects.py)."""
        row = PersonLink(id=link_id or uuid.uuid4(), person_id=person.id, tenant_id=person.tenant_id, kind=kind,
                         object_type=object_type, object_id=str(object_id), detail_sealed=detail,
                         retain_until=retain_until, created_at=self._clock())
        self._session.add(row)
        self._session.flush()
        self._logbook.record("person.linked", actor, tenant_id=person.tenant_id, object_type=object_type,
                             object_id=object_id, detail=kind)
        return row

    def cipher(self, person: Person, actor: Actor) -> FieldCipher:
        """The person's field cipher (one logged unwrap per person per unit of work). Its key
        needs both shares: the database's (under the tenant's key) and the vault's."""
        cipher = self._ciphers.get(person.id)
        if cipher is None:
            key = self._new_keys.get(person.id)
            if key is None:
                db_share = self._keys.unwrap(person.tenant_id, _owner(person.id), person.key_version,
                                             person.wrapped_key, actor, "person_key", person.id)
                key = person_data_key(person.id, db_share, self._vault.share(person.id))
            cipher = self._ciphers[person.id] = FieldCipher(key, PERSON_FIELD_VERSION)
        return cipher

    def name_of(self, person: Person, actor: Actor) -> str | None:
        if person.name_sealed is None:
            return None
        return self.cipher(person, actor).open(person.name_sealed, Place("persons", "name", person.id))

    def lookup(self, kind: str, value: str, tenant_id: uuid.UUID | None) -> bytes:
        return self._index.compute(f"person-{kind}", value, tenant_id)

    def get(self, person_id: uuid.UUID) -> Person:
        person = self._session.get(Person, person_id)
        if person is None:
            raise NotFound("person", person_id)
        return person

    # --- finding --------------------------------------------------------------------
    def find(self, details: PersonDetails) -> list[PersonMatch]:
        """Every person these identifiers match, in the installation and in every tenant (each
        scope has its own index values), with what is linked to them in clear: ids and counts
        only. Never the cases a person is named in: the server cannot tell (``named_in_cases``)."""
        details = clean_details(None, details.email, details.national_id)
        if not details.identifiers():
            raise InvalidInput("email", "give an e-mail address or a national ID")
        tenants = self._session.execute(sa.select(Tenant.id, Tenant.slug)).all()
        scopes: list[tuple[uuid.UUID | None, str | None]] = [(None, None), *[(t.id, t.slug) for t in tenants]]
        lookups = {self.lookup(kind, value, tenant_id): slug
                   for tenant_id, slug in scopes for kind, value in details.identifiers()}
        rows = self._session.execute(sa.select(PersonIdentifier.person_id, PersonIdentifier.lookup).where(
            PersonIdentifier.lookup.in_(list(lookups)))).all()
        matches = []
        for person_id in sorted({r.person_id for r in rows}, key=str):
            slug = next(lookups[r.lookup] for r in rows if r.person_id == person_id)
            matches.append(self._summary(person_id, slug))
        return matches

    def _summary(self, person_id: uuid.UUID, slug: str | None) -> PersonMatch:
        kinds = self.indexed_kinds(person_id)
        # Links of kind case_subject are from before case-sealed entries: not shown either, the
        # answer must not depend on whether the case was opened since (which converts them).
        links = self._session.execute(sa.select(PersonLink).where(
            PersonLink.person_id == person_id, PersonLink.kind != CASE_SUBJECT_LINK).order_by(
            PersonLink.kind, PersonLink.created_at)).scalars().all()
        grouped: dict[tuple[str, str], list[PersonLink]] = {}
        for row in links:
            grouped.setdefault((row.kind, row.object_type), []).append(row)
        summaries = tuple(
            LinkSummary(kind, object_type, slug, tuple(r.object_id for r in rows),
                        max((r.retain_until for r in rows if r.retain_until), default=None))
            for (kind, object_type), rows in grouped.items())
        return PersonMatch(person_id, slug, tuple(kinds), summaries, self._staff_account_of(person_id))

    def identifiers_of(self, person: Person, actor: Actor) -> dict[str, str]:
        """The identifier values held on the chain (staff accounts; persons named in cases have
        none: only their blind indexes)."""
        rows = self._session.execute(sa.select(PersonIdentifier).where(
            PersonIdentifier.person_id == person.id, PersonIdentifier.value_sealed.is_not(None))).scalars().all()
        if not rows:
            return {}
        cipher = self.cipher(person, actor)
        return {r.kind: cipher.open(r.value_sealed, Place("person_identifiers", r.kind, r.id))
                for r in rows if r.value_sealed is not None}

    def legacy_details(self, person: Person, key: bytes) -> PersonDetails:
        """What the chain held about a person named in a case before case-sealed entries: the
        name and identifiers sealed under the person's key (``key``, from ``keys_for_case``)."""
        cipher = FieldCipher(key, PERSON_FIELD_VERSION)
        name = cipher.open(person.name_sealed, Place("persons", "name", person.id)) if person.name_sealed else None
        values: dict[str, str] = {}
        for row in self._session.execute(sa.select(PersonIdentifier).where(
                PersonIdentifier.person_id == person.id, PersonIdentifier.value_sealed.is_not(None)).order_by(
                PersonIdentifier.created_at, PersonIdentifier.id)).scalars():
            if row.value_sealed is not None:
                values.setdefault(row.kind, cipher.open(row.value_sealed, Place("person_identifiers", row.kind, row.id)))
        return PersonDetails(name, values.get(EMAIL), values.get(NATIONAL_ID))

    def drop_values_of_unlinked(self, person_ids: list[uuid.UUID]) -> int:
        """Persons of a tenant with no link left (their cases converted) keep only the blind
        indexes and the key: the name and values sealed under the person's key alone, which
        server-held keys open, are deleted, and their times rounded to the day. Returns how many."""
        if not person_ids:
            return 0
        linked = set(self._session.execute(sa.select(PersonLink.person_id).where(
            PersonLink.person_id.in_(person_ids))).scalars())
        unlinked = [person_id for person_id in person_ids if person_id not in linked]
        persons = self._session.execute(sa.select(Person).where(
            Person.id.in_(unlinked), Person.tenant_id.is_not(None))).scalars().all()
        for person in persons:
            person.name_sealed = None
            person.created_at = _day(person.created_at)
            for row in self._session.execute(sa.select(PersonIdentifier).where(
                    PersonIdentifier.person_id == person.id)).scalars():
                row.value_sealed = None
                row.created_at = _day(row.created_at)
        self._session.flush()
        return len(persons)

    def indexed_kinds(self, person_id: uuid.UUID) -> list[str]:
        """The kinds of identifier that find the person (each kind once)."""
        return sorted(set(self._session.execute(sa.select(PersonIdentifier.kind).where(
            PersonIdentifier.person_id == person_id)).scalars()))


def person_data_key(person_id: uuid.UUID, db_share: bytes, vault_share: bytes) -> bytes:
    """Both shares are needed: without the vault's (erased), no copy of the database helps."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=person_id.bytes,
                info=b"appliance/person-data-key/v1").derive(vault_share + db_share)


def _owner(person_id: uuid.UUID) -> str:
    return f"person/{person_id}"


def _day(moment: dt.datetime) -> dt.datetime:
    """The start of the day: when a person named in a case was recorded, no more precisely."""
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)
