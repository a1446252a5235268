"""Record a decision to delay disclosure of inside information and every later change to it.

What Implementing Regulation (EU) 2016/1055 Art. 4(3) asks to be recorded: (a) the dates and
times the inside information first existed, of the decision to delay, of the likely and the
actual disclosure; (b) who is responsible for deciding the delay and its likely end, for
monitoring the conditions, for deciding the disclosure, and for informing the competent
authority; (c) evidence that the conditions of MAR Art. 17(4) were met and of any change during
the delay: the information barriers, and the arrangements to disclose at once if
confidentiality is lost. Each version is sealed whole under the record's data key (under the
tenant key); the persons named are on the person chain, their names under their own keys.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from appliance.actors import Actor
from appliance.audit.service import Logbook
from appliance.clock import Clock
from appliance.crypto.fields import FieldCipher, Place
from appliance.disclosures.models import DelayedDisclosure, DisclosureVersion
from appliance.errors import InvalidInput, NotFound
from appliance.keys.keyring import DataKeys
from appliance.persons.models import Person
from appliance.persons.service import PersonDetails, PersonService

FIELD_VERSION = 1
RETAIN = dt.timedelta(days=5 * 366)  # records of a delay are kept five years, like insider lists
LINK_KIND = "disclosure"
MAX_TEXT = 10_000
MAX_NAMES = 20
TEXTS = ("subject", "conditions_met", "monitoring", "confidentiality", "disclosure_arrangements", "change_note")
MOMENTS = ("first_existed_at", "decided_at", "planned_disclosure_at", "disclosed_at", "authority_informed_at")
ROLES = ("decision", "monitoring", "disclosure_decision", "authority_contact")


@dataclass(frozen=True)
class DisclosureInput:
    """What a form gives: texts, moments (aware, UTC), and per role the names typed, one a line."""

    subject: str
    first_existed_at: dt.datetime | None
    decided_at: dt.datetime | None
    planned_disclosure_at: dt.datetime | None
    conditions_met: str
    monitoring: str
    confidentiality: str
    disclosure_arrangements: str = ""
    disclosed_at: dt.datetime | None = None
    authority_informed_at: dt.datetime | None = None
    change_note: str = ""
    persons: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Version:
    """One version as read back: names opened from the person chain (None: erased)."""

    disclosure_id: uuid.UUID
    number: int
    version: int
    recorded_at: dt.datetime
    recorded_by: str
    texts: dict[str, str]
    moments: dict[str, dt.datetime | None]
    persons: dict[str, tuple[str | None, ...]]

    @property
    def reference(self) -> str:
        return f"DD-{self.number}"


@dataclass(frozen=True)
class Summary:
    id: uuid.UUID
    number: int
    current_version: int
    created_at: dt.datetime

    @property
    def reference(self) -> str:
        return f"DD-{self.number}"


class DelayedDisclosures:
    """Delayed-disclosure records of every tenant; every method names the tenant."""

    def __init__(self, session: Session, data_keys: DataKeys, persons: PersonService, logbook: Logbook,
                 clock: Clock) -> None:
        self._session = session
        self._keys = data_keys
        self._persons = persons
        self._logbook = logbook
        self._clock = clock
        self._ciphers: dict[uuid.UUID, FieldCipher] = {}

    def record(self, tenant_id: uuid.UUID, data: DisclosureInput, actor: Actor) -> Version:
        """A new record, version 1."""
        _check(data)
        number = (self._session.execute(sa.select(sa.func.max(DelayedDisclosure.number)).where(
            DelayedDisclosure.tenant_id == tenant_id)).scalar_one() or 0) + 1
        row_id = uuid.uuid4()
        key = secrets.token_bytes(32)
        wrapped, version = self._keys.wrap(tenant_id, _owner(row_id), key, actor)
        row = DelayedDisclosure(id=row_id, tenant_id=tenant_id, number=number, key_version=version,
                                wrapped_key=wrapped, created_at=self._clock(), created_by=actor.audit_id or actor.kind,
                                current_version=0)
        self._session.add(row)
        self._session.flush()
        self._ciphers[row.id] = FieldCipher(key, FIELD_VERSION)
        self._logbook.record("disclosure.recorded", actor, tenant_id=tenant_id, object_type="delayed_disclosure",
                             object_id=row.id)
        return self._add_version(row, data, {}, actor)

    def amend(self, tenant_id: uuid.UUID, disclosure_id: uuid.UUID, data: DisclosureInput, actor: Actor) -> Version:
        """A change: a new version with the time it was recorded; earlier versions stay as they were."""
        _check(data)
        row = self._row(tenant_id, disclosure_id)
        previous = self._content(row, row.current_version, actor)
        known = {}
        for person_id in {p for ids in previous["persons"].values() for p in ids}:
            person = self._session.get(Person, uuid.UUID(person_id))
            name = self._persons.name_of(person, actor) if person is not None else None
            if name is not None:
                known[name.casefold()] = person_id
        version = self._add_version(row, data, known, actor)
        self._logbook.record("disclosure.amended", actor, tenant_id=tenant_id, object_type="delayed_disclosure",
                             object_id=row.id, detail=f"version={version.version}")
        return version

    def records(self, tenant_id: uuid.UUID) -> list[Summary]:
        rows = self._session.execute(sa.select(DelayedDisclosure).where(
            DelayedDisclosure.tenant_id == tenant_id).order_by(DelayedDisclosure.number.desc())).scalars()
        return [Summary(r.id, r.number, r.current_version, r.created_at) for r in rows]

    def history(self, tenant_id: uuid.UUID, disclosure_id: uuid.UUID, actor: Actor) -> list[Version]:
        """Every version, oldest first (one logged unwrap of the record's key)."""
        row = self._row(tenant_id, disclosure_id)
        versions = self._session.execute(sa.select(DisclosureVersion).where(
            DisclosureVersion.disclosure_id == row.id, DisclosureVersion.tenant_id == tenant_id).order_by(
            DisclosureVersion.version)).scalars().all()
        self._logbook.record("disclosure.read", actor, tenant_id=tenant_id, object_type="delayed_disclosure",
                             object_id=row.id)
        return [self._version(row, v, actor) for v in versions]

    def exported(self, tenant_id: uuid.UUID, disclosure_id: uuid.UUID, fmt: str, actor: Actor) -> None:
        """Log an export (the format, never the content)."""
        row = self._row(tenant_id, disclosure_id)
        self._logbook.record("disclosure.exported", actor, tenant_id=tenant_id, object_type="delayed_disclosure",
                             object_id=row.id, detail=f"format={fmt}")

    def current(self, tenant_id: uuid.UUID, disclosure_id: uuid.UUID, actor: Actor) -> Version:
        return self.history(tenant_id, disclosure_id, actor)[-1]

    # --- inside ---------------------------------------------------------------------
    def _add_version(self, row: DelayedDisclosure, data: DisclosureInput, known: dict[str, str],
                     actor: Actor) -> Version:
        persons: dict[str, list[str]] = {}
        for role in ROLES:
            ids = []
            for name in data.persons.get(role, ()):
                person_id = known.get(name.casefold())
                if person_id is None:
                    person = self._persons.record(row.tenant_id, PersonDetails(name=name), actor)
                    self._persons.link(person, LINK_KIND, "delayed_disclosure", row.id, actor,
                                       retain_until=self._clock() + RETAIN)
                    person_id = known[name.casefold()] = str(person.id)
                ids.append(person_id)
            persons[role] = ids
        content = {"texts": {name: getattr(data, name).strip() for name in TEXTS},
                   "moments": {name: _iso(getattr(data, name)) for name in MOMENTS},
                   "persons": persons}
        row.current_version += 1
        version = DisclosureVersion(id=uuid.uuid4(), disclosure_id=row.id, tenant_id=row.tenant_id,
                                    version=row.current_version, recorded_at=self._clock(),
                                    recorded_by=actor.audit_id or actor.kind)
        version.content_sealed = self._cipher(row, actor).seal(json.dumps(content), _place(version))
        self._session.add(version)
        self._session.flush()
        return self._version(row, version, actor)

    def _content(self, row: DelayedDisclosure, number: int, actor: Actor) -> dict[str, Any]:
        version = self._session.execute(sa.select(DisclosureVersion).where(
            DisclosureVersion.disclosure_id == row.id, DisclosureVersion.version == number)).scalar_one()
        content: dict[str, Any] = json.loads(self._cipher(row, actor).open(version.content_sealed, _place(version)))
        return content

    def _version(self, row: DelayedDisclosure, version: DisclosureVersion, actor: Actor) -> Version:
        content = json.loads(self._cipher(row, actor).open(version.content_sealed, _place(version)))
        persons = {}
        for role, ids in content["persons"].items():
            names = []
            for person_id in ids:
                person = self._session.get(Person, uuid.UUID(person_id))
                names.append(self._persons.name_of(person, actor) if person is not None else None)
            persons[role] = tuple(names)
        moments = {k: dt.datetime.fromisoformat(v) if v else None for k, v in content["moments"].items()}
        return Version(row.id, row.number, version.version, version.recorded_at, version.recorded_by,
                       dict(content["texts"]), moments, persons)

    def _cipher(self, row: DelayedDisclosure, actor: Actor) -> FieldCipher:
        cipher = self._ciphers.get(row.id)
        if cipher is None:
            key = self._keys.unwrap(row.tenant_id, _owner(row.id), row.key_version, row.wrapped_key, actor,
                                    "disclosure_key", row.id)
            cipher = self._ciphers[row.id] = FieldCipher(key, FIELD_VERSION)
        return cipher

    def _row(self, tenant_id: uuid.UUID, disclosure_id: uuid.UUID) -> DelayedDisclosure:
        row = self._session.execute(sa.select(DelayedDisclosure).where(
            DelayedDisclosure.id == disclosure_id, DelayedDisclosure.tenant_id == tenant_id)).scalar_one_or_none()
        if row is None:
            raise NotFound("delayed disclosure", disclosure_id)
        return row


def disclosure_key_owner(disclosure_id: uuid.UUID) -> str:
    """The owner a record's data key is wrapped for (rotation rewraps it under the same owner)."""
    return f"disclosure/{disclosure_id}"


_owner = disclosure_key_owner


def _place(version: DisclosureVersion) -> Place:
    return Place("delayed_disclosure_versions", "content", version.id)


def _iso(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).isoformat() if value is not None else None


def _check(data: DisclosureInput) -> None:
    for name in TEXTS:
        value = getattr(data, name)
        if len(value) > MAX_TEXT:
            raise InvalidInput(name, f"at most {MAX_TEXT} characters")
        if any(ord(c) < 32 and c not in "\r\n\t" for c in value):
            raise InvalidInput(name, "must not contain control characters")
    for name in ("subject", "conditions_met", "monitoring", "confidentiality"):
        if not getattr(data, name).strip():
            raise InvalidInput(name, "required")
    for name in ("first_existed_at", "decided_at", "planned_disclosure_at"):
        if getattr(data, name) is None:
            raise InvalidInput(name, "required")
    for name in MOMENTS:
        value = getattr(data, name)
        if value is not None and value.tzinfo is None:
            raise InvalidInput(name, "needs a time zone")
    if data.first_existed_at and data.decided_at and data.decided_at < data.first_existed_at:
        raise InvalidInput("decided_at", "cannot be before the information existed")
    for role, names in data.persons.items():
        if role not in ROLES:
            raise InvalidInput("persons", "unknown role")
        if len(names) > MAX_NAMES:
            raise InvalidInput(role, f"at most {MAX_NAMES} names")
    for role in ("decision", "monitoring"):
        if not data.persons.get(role):
            raise InvalidInput(role, "name at least one person")
