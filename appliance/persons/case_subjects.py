"""Persons a handler names in a case (the person concerned, witnesses), on the person chain.

Who the person is (name, e-mail, national ID) is sealed under the person's key, so erasure
can shred it; what the case says about them (their role) is sealed under the case's key, so
only the case's handlers read it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from appliance.actors import StaffPrincipal
from appliance.audit.service import Logbook
from appliance.cases.service import CaseService
from appliance.crypto.fields import Place
from appliance.crypto.vault import Vault
from appliance.errors import InvalidInput, NotFound
from appliance.persons.chain import forget_link
from appliance.persons.models import Person, PersonLink
from appliance.persons.service import PersonDetails, PersonService

CASE_SUBJECT = "case_subject"
ROLES = ("concerned", "witness", "other")


@dataclass(frozen=True)
class CaseSubject:
    link_id: uuid.UUID
    person_id: uuid.UUID
    name: str | None
    identifiers: dict[str, str]
    role: str


class CaseSubjects:
    def __init__(self, session: Session, cases: CaseService, persons: PersonService, vault: Vault,
                 logbook: Logbook) -> None:
        self._session = session
        self._vault = vault
        self._cases = cases
        self._persons = persons
        self._logbook = logbook

    def list(self, principal: StaffPrincipal, case_id: uuid.UUID) -> list[CaseSubject]:
        """The persons named in a case the principal can read."""
        case, cipher = self._cases.opened(principal, case_id)
        rows = self._session.execute(
            sa.select(PersonLink, Person).join(Person, Person.id == PersonLink.person_id).where(
                PersonLink.object_type == "case", PersonLink.object_id == str(case.id),
                PersonLink.kind == CASE_SUBJECT).order_by(PersonLink.created_at, PersonLink.id)
        ).all()
        subjects = []
        for link, person in rows:
            role = cipher.open(link.detail_sealed, _role_place(link.id)) if link.detail_sealed else "other"
            subjects.append(CaseSubject(link.id, person.id, self._persons.name_of(person, principal.actor),
                                        self._persons.identifiers_of(person, principal.actor), role))
        return subjects

    def add(self, principal: StaffPrincipal, case_id: uuid.UUID, details: PersonDetails, role: str) -> uuid.UUID:
        """Name a person in the case; the same e-mail or national ID finds the same person."""
        if role not in ROLES:
            raise InvalidInput("role", "choose one of the listed roles")
        if details.name is None and not details.identifiers():
            raise InvalidInput("name", "give at least a name, an e-mail address or a national ID")
        case, cipher = self._cases.opened(principal, case_id)
        person = self._persons.record(case.tenant_id, details, principal.actor)
        already = self._session.execute(sa.select(PersonLink.id).where(
            PersonLink.person_id == person.id, PersonLink.object_type == "case",
            PersonLink.object_id == str(case.id))).first()
        if already:
            raise InvalidInput("name", "this person is already named in the case")
        link_id = uuid.uuid4()
        self._persons.link(person, CASE_SUBJECT, "case", case.id, principal.actor,
                           detail=cipher.seal(role, _role_place(link_id)), link_id=link_id)
        return link_id

    def remove(self, principal: StaffPrincipal, case_id: uuid.UUID, link_id: uuid.UUID) -> None:
        """Take a person off the case (the person record stays only if something else links it)."""
        case, _cipher = self._cases.opened(principal, case_id)
        link = self._session.get(PersonLink, link_id)
        if link is None or link.object_type != "case" or link.object_id != str(case.id):
            raise NotFound("person in case", link_id)
        gone = forget_link(self._session, link)
        self._vault.delete(gone)  # a person named nowhere else: shredded in every backup too
        self._logbook.record("person.unlinked", principal.actor, tenant_id=case.tenant_id, object_type="case",
                             object_id=case.id, detail=CASE_SUBJECT)


def _role_place(link_id: uuid.UUID) -> Place:
    return Place("person_links", "detail", link_id)
