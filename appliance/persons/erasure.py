"""Erasure (GDPR Art. 17) by person chain: delete every link, destroy the person's key.

Legal holds, legal retention periods and a staff account that holds the only key copy of a
case block erasure with a reason; nothing is changed then.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Session

from appliance.actors import Actor
from appliance.audit.service import Logbook
from appliance.cases.models import Case
from appliance.clock import Clock
from appliance.crypto.vault import Vault
from appliance.errors import ErasureBlocked
from appliance.persons.models import Person, PersonIdentifier, PersonLink
from appliance.persons.service import ErasureReport, PersonService
from appliance.retention.models import LegalHold
from appliance.users.erasure import erase_staff_account, sole_key_cases
from appliance.users.models import User


class PersonEraser:
    def __init__(self, session: Session, persons: PersonService, vault: Vault, logbook: Logbook,
                 clock: Clock) -> None:
        self._session = session
        self._persons = persons
        self._vault = vault
        self._logbook = logbook
        self._clock = clock

    def plan(self, person_id: uuid.UUID) -> ErasureReport:
        """What erasure would delete, and what blocks it; changes nothing."""
        person = self._persons.get(person_id)
        report = ErasureReport(person.id)
        links = self._links(person.id)
        report.blocked = self._blockers(person, links)
        for row in links:
            report.deleted[row.kind] = report.deleted.get(row.kind, 0) + 1
        report.deleted["identifiers"] = len(self._session.execute(sa.select(PersonIdentifier.id).where(
            PersonIdentifier.person_id == person.id)).all())
        report.deleted["person key"] = 1
        return report

    def erase(self, person_id: uuid.UUID, actor: Actor) -> ErasureReport:
        """Erase the person in the caller's transaction, or raise ErasureBlocked."""
        report = self.plan(person_id)
        if report.blocked:
            raise ErasureBlocked(person_id, report.blocked)
        # The vault share goes first, committed at once: from here on no copy of the main
        # database (this one if the rest fails, or any backup) can decrypt the person's fields.
        self._vault.delete([person_id])
        user = self._staff_user(person_id)
        if user is not None:
            erase_staff_account(self._session, user, self._clock())
        self._session.execute(sa.delete(PersonLink).where(PersonLink.person_id == person_id))
        self._session.execute(sa.delete(PersonIdentifier).where(PersonIdentifier.person_id == person_id))
        person = self._persons.get(person_id)
        tenant_id = person.tenant_id
        self._session.delete(person)
        self._session.flush()
        links = sum(v for k, v in report.deleted.items() if k not in ("identifiers", "person key"))
        self._logbook.record("person.erased", actor, tenant_id=tenant_id, object_type="person", object_id=person_id,
                             detail=f"links={links}")
        report.done = True
        return report

    def _links(self, person_id: uuid.UUID) -> list[PersonLink]:
        return list(self._session.execute(sa.select(PersonLink).where(PersonLink.person_id == person_id).order_by(
            PersonLink.created_at)).scalars())

    def _staff_user(self, person_id: uuid.UUID) -> User | None:
        return self._session.execute(sa.select(User).where(User.person_id == person_id)).scalar_one_or_none()

    def _blockers(self, person: Person, links: list[PersonLink]) -> list[str]:
        now = self._clock()
        reasons = []
        for row in links:
            if row.retain_until is not None and row.retain_until > now:
                reasons.append(f"a {row.kind.replace('_', ' ')} record must be kept by law until "
                               f"{row.retain_until.date().isoformat()}")
        case_ids = [uuid.UUID(r.object_id) for r in links if r.object_type == "case"]
        for reference, hold in self._holds_on(case_ids):
            reasons.append(f"case {reference} is under legal hold ({hold})")
        user = self._staff_user(person.id)
        if user is not None:
            only = sole_key_cases(self._session, user.id)
            if only:
                reasons.append(f"the staff account holds the only key copy of {only} case(s); share them with a "
                               "colleague or set up the escrow key first")
        return reasons

    def _holds_on(self, case_ids: list[uuid.UUID]) -> list[tuple[str, str]]:
        if not case_ids:
            return []
        rows = self._session.execute(
            sa.select(Case.reference, LegalHold.reference).join(LegalHold, LegalHold.tenant_id == Case.tenant_id).where(
                Case.id.in_(case_ids), LegalHold.released_at.is_(None),
                sa.or_(LegalHold.case_id.is_(None), LegalHold.case_id == Case.id))
        ).all()
        return sorted({(r[0], r[1]) for r in rows})
