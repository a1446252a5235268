"""The register of PDMRs and their closely associated persons (MAR Art. 19(5): the issuer draws
up a list of them and notifies each PDMR in writing of their obligations).

Names and addresses are on the person chain, sealed under each person's key; a position or a
relationship is sealed in the entry under the same key. The written notification is a notice
the person confirms through an acknowledgement link (appliance/acknowledgements/).
"""

from __future__ import annotations

import datetime as dt
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from appliance.acknowledgements.notices import PDMR_OBLIGATIONS
from appliance.acknowledgements.service import AcknowledgementLinks, LinkView
from appliance.actors import Actor
from appliance.audit.service import Logbook
from appliance.clock import Clock
from appliance.crypto.fields import Place
from appliance.errors import Conflict, InvalidInput, NotFound
from appliance.pdmr.models import PdmrEntry
from appliance.persons.models import Person
from appliance.persons.service import EMAIL, PersonDetails, PersonService

PDMR, ASSOCIATE = "pdmr", "associate"
LINK_KIND = "pdmr"
MAX_DETAIL = 200


@dataclass(frozen=True)
class EntryView:
    """One entry, opened: name and address from the person chain (None once erased)."""

    id: uuid.UUID
    kind: str
    name: str | None
    email: str | None
    detail: str | None
    associate_of: uuid.UUID | None
    added_at: dt.datetime
    removed_at: dt.datetime | None
    notified_at: dt.datetime | None
    acknowledgement_id: uuid.UUID | None


class PdmrRegister:
    def __init__(self, session: Session, persons: PersonService, links: AcknowledgementLinks, logbook: Logbook,
                 clock: Clock) -> None:
        self._session = session
        self._persons = persons
        self._links = links
        self._logbook = logbook
        self._clock = clock

    def add(self, tenant_id: uuid.UUID, name: str, email: str, detail: str, actor: Actor,
            associate_of: uuid.UUID | None = None) -> EntryView:
        """A PDMR (``detail``: their position) or, with ``associate_of``, a person closely associated
        with that PDMR (``detail``: the relationship). Name and e-mail are required: the notice goes
        to the address."""
        if not (name or "").strip():
            raise InvalidInput("name", "required")
        if not (email or "").strip():
            raise InvalidInput("email", "required")
        detail = unicodedata.normalize("NFC", (detail or "").strip())
        if len(detail) > MAX_DETAIL or any(unicodedata.category(c) == "Cc" for c in detail):
            raise InvalidInput("detail", f"at most {MAX_DETAIL} characters, no control characters")
        if associate_of is not None:
            pdmr = self._row(tenant_id, associate_of)
            if pdmr.kind != PDMR or pdmr.removed_at is not None:
                raise InvalidInput("associate_of", "not a PDMR on the register")
        person = self._persons.record(tenant_id, PersonDetails(name=name, email=email), actor)
        active = self._session.execute(sa.select(PdmrEntry.id).where(
            PdmrEntry.tenant_id == tenant_id, PdmrEntry.person_id == person.id,
            PdmrEntry.removed_at.is_(None))).first()
        if active is not None:
            raise Conflict("this person is on the register already")
        entry = PdmrEntry(id=uuid.uuid4(), tenant_id=tenant_id, person_id=person.id,
                          kind=ASSOCIATE if associate_of else PDMR, associate_of=associate_of,
                          added_at=self._clock(), added_by=actor.audit_id or actor.kind)
        if detail:
            entry.details_sealed = self._persons.cipher(person, actor).seal(detail, _place(entry.id))
        self._session.add(entry)
        self._session.flush()
        self._persons.link(person, LINK_KIND, "pdmr_entry", entry.id, actor)
        self._logbook.record("pdmr.added", actor, tenant_id=tenant_id, object_type="pdmr_entry", object_id=entry.id,
                             detail=f"kind={entry.kind}")
        return self._view(entry, person, actor)

    def entries(self, tenant_id: uuid.UUID, actor: Actor, include_removed: bool = False) -> list[EntryView]:
        query = sa.select(PdmrEntry).where(PdmrEntry.tenant_id == tenant_id).order_by(PdmrEntry.added_at, PdmrEntry.id)
        if not include_removed:
            query = query.where(PdmrEntry.removed_at.is_(None))
        entries = self._session.execute(query).scalars().all()
        return [self._view(e, self._session.get(Person, e.person_id), actor) for e in _grouped(entries)]

    def get(self, tenant_id: uuid.UUID, entry_id: uuid.UUID, actor: Actor) -> EntryView:
        entry = self._row(tenant_id, entry_id)
        return self._view(entry, self._session.get(Person, entry.person_id), actor)

    def remove(self, tenant_id: uuid.UUID, entry_id: uuid.UUID, actor: Actor) -> None:
        """Off the register from now (the entry stays, dated, for the record)."""
        entry = self._row(tenant_id, entry_id)
        if entry.removed_at is not None:
            raise Conflict("removed already")
        entry.removed_at = self._clock()
        self._session.flush()
        self._logbook.record("pdmr.removed", actor, tenant_id=tenant_id, object_type="pdmr_entry", object_id=entry.id)

    def notify_obligations(self, tenant_id: uuid.UUID, entry_id: uuid.UUID, language: str,
                           actor: Actor) -> LinkView:
        """Send the written notification of obligations (Art. 19(5)): an acknowledgement link the
        mail job delivers; the person confirms they read it."""
        entry = self._row(tenant_id, entry_id)
        if entry.removed_at is not None:
            raise Conflict("not on the register")
        person = self._session.get(Person, entry.person_id)
        assert person is not None
        link = self._links.request(tenant_id, PDMR_OBLIGATIONS, "pdmr_entry", entry.id, person, language, actor)
        entry.notified_at, entry.acknowledgement_id = self._clock(), link.id
        self._session.flush()
        return link

    def active_pdmrs(self, tenant_id: uuid.UUID) -> list[PdmrEntry]:
        """PDMRs on the register now (not their associates: closed periods bind PDMRs)."""
        return list(self._session.execute(sa.select(PdmrEntry).where(
            PdmrEntry.tenant_id == tenant_id, PdmrEntry.kind == PDMR, PdmrEntry.removed_at.is_(None)).order_by(
            PdmrEntry.added_at, PdmrEntry.id)).scalars())

    def languages_of(self, tenant_id: uuid.UUID, entries: Sequence[PdmrEntry]) -> dict[uuid.UUID, str]:
        """The language each entry's newest notification of obligations was sent in (none: not sent)."""
        links = self._links.of_subjects(tenant_id, "pdmr_entry", [e.id for e in entries])
        return {entry_id: link.language for entry_id, link in links.items()}

    def address_of(self, entry: PdmrEntry, actor: Actor) -> str | None:
        person = self._session.get(Person, entry.person_id)
        return self._persons.identifiers_of(person, actor).get(EMAIL) if person is not None else None

    def _view(self, entry: PdmrEntry, person: Person | None, actor: Actor) -> EntryView:
        name = email = detail = None
        if person is not None and self._persons_readable(person):
            name = self._persons.name_of(person, actor)
            email = self._persons.identifiers_of(person, actor).get(EMAIL)
            if entry.details_sealed is not None:
                detail = self._persons.cipher(person, actor).open(entry.details_sealed, _place(entry.id))
        return EntryView(entry.id, entry.kind, name, email, detail, entry.associate_of, entry.added_at,
                         entry.removed_at, entry.notified_at, entry.acknowledgement_id)

    def _persons_readable(self, person: Person) -> bool:
        return person.tenant_id is not None

    def _row(self, tenant_id: uuid.UUID, entry_id: uuid.UUID) -> PdmrEntry:
        entry = self._session.execute(sa.select(PdmrEntry).where(
            PdmrEntry.id == entry_id, PdmrEntry.tenant_id == tenant_id)).scalar_one_or_none()
        if entry is None:
            raise NotFound("pdmr entry", entry_id)
        return entry


def _grouped(entries: Sequence[PdmrEntry]) -> list[PdmrEntry]:
    """Each PDMR followed by their closely associated persons; associates of a PDMR not listed last."""
    ordered: list[PdmrEntry] = []
    for entry in entries:
        if entry.kind == PDMR:
            ordered.append(entry)
            ordered.extend(e for e in entries if e.associate_of == entry.id)
    ordered.extend(e for e in entries if e not in ordered)
    return ordered


def _place(entry_id: uuid.UUID) -> Place:
    return Place("pdmr_entries", "details", entry_id)
