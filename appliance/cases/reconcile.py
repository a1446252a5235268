"""What only a key to every case of a tenant can do for its persons: `appliance person reconcile`.

The server cannot read which persons a case names (appliance/cases/case_subjects.py). Two
things need that, and the tenant's offline escrow key, which opens every case sealed since it
existed, provides it for one command:

- converting the persons named before case-sealed entries, in every case at once (a handler
  opening a case does the same for that case);
- deleting the person records no case names any more: the case that named them was deleted by
  retention, or a handler took them off it. Such a record holds only blind indexes and a key,
  nothing readable, but its index still confirms a guessed identifier to whoever holds the
  master key, and storage limitation wants it gone.

Both log each case they open with the escrow key (``case_key_pair.unsealed``, detail ``escrow``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.orm import Session

from appliance.actors import Actor
from appliance.audit.service import Logbook
from appliance.cases.access import CaseAccess
from appliance.cases.case_subjects import CaseSubjects
from appliance.cases.models import Case
from appliance.crypto.case_cipher import CaseCipher
from appliance.errors import CaseLocked, DecryptionFailed, NotFound
from appliance.events.models import AccessEvent
from appliance.persons.chain import delete_persons
from appliance.persons.models import CaseSubjectEntry, Person, PersonLink
from appliance.persons.service import CASE_SUBJECT_LINK
from appliance.tenants.models import EscrowKey, Tenant
from appliance.users.models import User


@dataclass
class Converted:
    """One batch of cases: how many the escrow key opened, how many persons were converted,
    and the references of cases it could not open (sealed before the escrow key existed, or
    still under the tenant key: `appliance keys seal-existing` first)."""

    opened: int = 0
    converted: int = 0
    locked: list[str] = field(default_factory=list)


@dataclass
class Swept:
    """Person records deleted, or (nothing deleted) the cases whose entries could not be read."""

    deleted: set[uuid.UUID] = field(default_factory=set)
    unreadable: list[str] = field(default_factory=list)


class CaseSubjectReconciler:
    """Converts and sweeps with an unlocked escrow key (its private half, for this command only)."""

    def __init__(self, session: Session, subjects: CaseSubjects, access: CaseAccess, logbook: Logbook) -> None:
        self._session = session
        self._subjects = subjects
        self._access = access
        self._logbook = logbook

    def cases_to_convert(self, tenant_id: uuid.UUID) -> list[uuid.UUID]:
        """The tenant's cases that still name persons the old way (links in clear)."""
        ids = self._session.execute(sa.select(PersonLink.object_id).where(
            PersonLink.tenant_id == tenant_id, PersonLink.kind == CASE_SUBJECT_LINK,
            PersonLink.object_type == "case").distinct()).scalars().all()
        return sorted(uuid.UUID(i) for i in ids)

    def convert(self, tenant: Tenant, escrow_key_id: uuid.UUID, escrow_private: bytes, case_ids: list[uuid.UUID],
                actor: Actor) -> Converted:
        """Convert the persons named the old way in these cases of the tenant."""
        escrow = self._escrow(tenant, escrow_key_id)
        result = Converted()
        for case_id in case_ids:
            case = self._session.get(Case, case_id)
            if case is None or case.tenant_id != tenant.id:
                continue
            cipher = self._open(case, escrow, escrow_private, actor)
            if cipher is None:
                result.locked.append(case.reference)
                continue
            result.opened += 1
            result.converted += self._subjects.convert_legacy(case, cipher, actor)
        return result

    def sweep(self, tenant: Tenant, escrow_key_id: uuid.UUID, escrow_private: bytes, actor: Actor) -> Swept:
        """Delete the tenant's person records that no case names, in the caller's transaction
        (the caller destroys their vault shares once it is committed). Nothing is deleted when
        an entry of some case cannot be read: the person it names cannot be known then."""
        escrow = self._escrow(tenant, escrow_key_id)
        # Exclusive: naming a person holds the shared lock (case_subjects.lock_tenant_shared), so
        # no entry appears between reading the cases and deleting what none of them names.
        # (FOR NO KEY UPDATE on PostgreSQL: new reports, which only reference the tenant, go on.)
        self._session.execute(sa.select(Tenant.id).where(Tenant.id == tenant.id).with_for_update(key_share=True))
        candidates = unnamed_candidates(self._session, tenant.id)
        if not candidates:
            return Swept()
        case_ids = self._session.execute(sa.select(CaseSubjectEntry.case_id).where(
            CaseSubjectEntry.tenant_id == tenant.id).distinct()).scalars().all()
        named: set[uuid.UUID] = set()
        unreadable = []
        for case_id in sorted(case_ids, key=str):
            case = self._session.get(Case, case_id)
            assert case is not None
            cipher = self._open(case, escrow, escrow_private, actor)
            if cipher is None:
                unreadable.append(case.reference)
                continue
            named |= self._subjects.referenced_persons(case, cipher)
        if unreadable:
            return Swept(unreadable=sorted(unreadable))
        gone = candidates - named
        if gone:
            delete_persons(self._session, gone)
            self._logbook.record("person.swept", actor, tenant_id=tenant.id, object_type="tenant", object_id=tenant.id,
                                 detail=f"persons={len(gone)}")
        return Swept(deleted=gone)

    def _escrow(self, tenant: Tenant, escrow_key_id: uuid.UUID) -> EscrowKey:
        escrow = self._session.get(EscrowKey, escrow_key_id)
        if escrow is None or escrow.tenant_id != tenant.id:
            raise NotFound("escrow key", escrow_key_id)
        return escrow

    def _open(self, case: Case, escrow: EscrowKey, escrow_private: bytes, actor: Actor) -> CaseCipher | None:
        if case.public_key is None:
            return None  # still under the tenant key
        try:
            private = self._access.open_with_escrow(case, escrow, escrow_private)
            cipher = self._access.keys_from_private(case, private).cipher
        except (CaseLocked, DecryptionFailed):
            return None
        self._logbook.record("case_key_pair.unsealed", actor, tenant_id=case.tenant_id, object_type="case",
                             object_id=case.id, detail="escrow")
        return cipher


def unnamed_candidates(session: Session, tenant_id: uuid.UUID) -> set[uuid.UUID]:
    """Persons of a tenant linked to nothing in clear (no link, no staff account): only a case
    entry can still name them. Whether one does, only the cases' keys can tell."""
    linked = sa.select(PersonLink.person_id).where(PersonLink.person_id == Person.id)
    staff = sa.select(User.person_id).where(User.person_id == Person.id)
    actor = sa.select(AccessEvent.person_id).where(AccessEvent.person_id == Person.id)
    return set(session.execute(sa.select(Person.id).where(
        Person.tenant_id == tenant_id, ~sa.exists(linked), ~sa.exists(staff), ~sa.exists(actor))).scalars())
