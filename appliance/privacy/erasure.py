"""Erasure (GDPR Art. 17) by person chain: delete every link, destroy the person's key.

Destroying the key (its vault share) shreds what every case recorded about the person too:
those entries are sealed under a key that needs it, and stay in the cases as "erased". Which
cases they are, the server cannot tell, so it cannot check their legal holds one by one: a
hold on any case of the person's organisation blocks erasure until the compliance team, who
can see the cases, confirms that no held case names the person (``held_cases_checked``).

Legal holds, legal retention periods and a staff account that holds the only key copy of a
case block erasure with a reason; nothing is changed then.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Session

from appliance.actors import Actor
from appliance.audit.service import Logbook
from appliance.cases.key_copies import drop_all_copies, sole_key_cases
from appliance.cases.models import Case
from appliance.clock import Clock
from appliance.errors import ErasureBlocked
from appliance.events.models import AccessEvent
from appliance.events.service import forget_person
from appliance.insiders.retention import INSIDER_LINK
from appliance.keys.vault import Vault
from appliance.persons.models import Person, PersonIdentifier, PersonLink
from appliance.persons.service import ErasureReport, PersonService
from appliance.retention.models import LegalHold
from appliance.users.erasure import erase_staff_account
from appliance.users.models import User


class PersonEraser:
    def __init__(self, session: Session, persons: PersonService, vault: Vault, logbook: Logbook,
                 clock: Clock) -> None:
        self._session = session
        self._persons = persons
        self._vault = vault
        self._logbook = logbook
        self._clock = clock

    def plan(self, person_id: uuid.UUID, held_cases_checked: bool = False) -> ErasureReport:
        """What erasure would delete, and what blocks it; changes nothing. ``held_cases_checked``:
        the compliance team confirmed that no case under legal hold names the person."""
        person = self._persons.get(person_id)
        report = ErasureReport(person.id, shreds_case_entries=person.tenant_id is not None)
        links = self._links(person.id)
        report.blocked = self._blockers(person, links, held_cases_checked)
        for row in links:
            report.deleted[row.kind] = report.deleted.get(row.kind, 0) + 1
        events = len(self._session.execute(sa.select(AccessEvent.id).where(
            AccessEvent.person_id == person.id)).all())
        if events:
            report.deleted["access events"] = events
        report.deleted["identifiers"] = len(self._session.execute(sa.select(PersonIdentifier.id).where(
            PersonIdentifier.person_id == person.id)).all())
        report.deleted["person key"] = 1
        return report

    def erase(self, person_id: uuid.UUID, actor: Actor, held_cases_checked: bool = False) -> ErasureReport:
        """Erase the person in the caller's transaction, or raise ErasureBlocked."""
        report = self.plan(person_id, held_cases_checked)
        if report.blocked:
            raise ErasureBlocked(person_id, report.blocked)
        # The vault share goes first, committed at once: from here on no copy of the main
        # database (this one if the rest fails, or any backup) can decrypt the person's fields,
        # nor any case the identity the case recorded about them.
        self._vault.delete([person_id])
        user = self._staff_user(person_id)
        if user is not None:
            drop_all_copies(self._session, user.id)
            erase_staff_account(self._session, user, self._clock())
        self._session.execute(sa.delete(PersonLink).where(PersonLink.person_id == person_id))
        forget_person(self._session, person_id)
        self._session.execute(sa.delete(PersonIdentifier).where(PersonIdentifier.person_id == person_id))
        person = self._persons.get(person_id)
        tenant_id = person.tenant_id
        self._session.delete(person)
        self._session.flush()
        links = sum(v for k, v in report.deleted.items() if k not in ("identifiers", "person key", "access events"))
        checked = held_cases_checked and bool(tenant_id and self._case_holds(tenant_id))
        self._logbook.record("person.erased", actor, tenant_id=tenant_id, object_type="person", object_id=person_id,
                             detail=f"links={links}" + (f" events={report.deleted['access events']}"
                                                        if "access events" in report.deleted else "")
                             + (" held-cases-checked" if checked else ""))
        report.done = True
        return report

    def _links(self, person_id: uuid.UUID) -> list[PersonLink]:
        return list(self._session.execute(sa.select(PersonLink).where(PersonLink.person_id == person_id).order_by(
            PersonLink.created_at)).scalars())

    def _staff_user(self, person_id: uuid.UUID) -> User | None:
        return self._session.execute(sa.select(User).where(User.person_id == person_id)).scalar_one_or_none()

    def _blockers(self, person: Person, links: list[PersonLink], held_cases_checked: bool) -> list[str]:
        now = self._clock()
        reasons = []
        for row in links:
            if row.kind == INSIDER_LINK and row.retain_until is None:
                reasons.append("the person is on an insider list and has not ceased; they must be kept by law until "
                               "five years after they cease (MAR Art. 18)")
            elif row.retain_until is not None and row.retain_until > now:
                reasons.append(f"a {row.kind.replace('_', ' ')} record must be kept by law until "
                               f"{row.retain_until.date().isoformat()}")
        if person.tenant_id is not None:
            reasons += self._hold_blockers(person.tenant_id, links, held_cases_checked)
        user = self._staff_user(person.id)
        if user is not None:
            only = sole_key_cases(self._session, user.id)
            if only:
                reasons.append(f"the staff account holds the only key copy of {only} case(s); share them with a "
                               "colleague or set up the escrow key first")
        return reasons

    def _hold_blockers(self, tenant_id: uuid.UUID, links: list[PersonLink], held_cases_checked: bool) -> list[str]:
        """Holds on the whole organisation block; so does a hold on a case linked in clear (from
        before case-sealed entries). A hold on any other case of the organisation may cover a
        case that names the person, which only the compliance team can see: it blocks until
        they confirm it does not."""
        reasons = [f"the organisation is under legal hold ({reference})" for reference in self._session.execute(
            sa.select(LegalHold.reference).where(LegalHold.tenant_id == tenant_id, LegalHold.case_id.is_(None),
                                                 LegalHold.released_at.is_(None)).order_by(LegalHold.placed_at)
        ).scalars()]
        linked = {r.object_id for r in links if r.object_type == "case"}
        for case_id, reference, hold in self._case_holds(tenant_id):
            if str(case_id) in linked:
                reasons.append(f"case {reference} is under legal hold ({hold})")
            elif not held_cases_checked:
                reasons.append(f"case {reference} is under legal hold ({hold}) and may name this person: which cases "
                               "do is sealed to them; once the compliance team confirms it does not, erase with "
                               "--held-cases-checked")
        return reasons

    def _case_holds(self, tenant_id: uuid.UUID) -> list[tuple[uuid.UUID, str, str]]:
        rows = self._session.execute(
            sa.select(Case.id, Case.reference, LegalHold.reference).join(LegalHold, LegalHold.case_id == Case.id).where(
                LegalHold.tenant_id == tenant_id, LegalHold.released_at.is_(None)).order_by(Case.reference)
        ).all()
        return [(r[0], r[1], r[2]) for r in rows]
