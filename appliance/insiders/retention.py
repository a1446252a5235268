"""Deleting insiders' personal data five years after they ceased to be on the list (ITS
2026/1291; MAR Art. 18(5)). The versions stay (the list's history and its chain), without
anything about the person: ``personal_sealed`` (names, national ID, birth date, phones, addresses,
e-mail) and ``content_sealed`` (company, function and reason, provider) go; their digests stay
under the chain's MAC, so the chain still verifies and an export "as at" an earlier moment shows
the entry's times with its fields marked as erased."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Session

from appliance.actors import Actor
from appliance.audit.service import Logbook
from appliance.insiders.models import InsiderEntry, InsiderVersion
from appliance.persons.models import PersonLink
from appliance.persons.service import PersonService

INSIDER_LINK = "insider"
ENTRY_OBJECT = "insider_entry"


def retain_until(ceased: dt.datetime) -> dt.datetime:
    """Five calendar years after ``ceased`` (29 February falls back to the 28th)."""
    try:
        return ceased.replace(year=ceased.year + 5)
    except ValueError:
        return ceased.replace(year=ceased.year + 5, day=28)


class InsiderRetention:
    def __init__(self, session: Session, persons: PersonService, logbook: Logbook) -> None:
        self._session = session
        self._persons = persons
        self._logbook = logbook

    def due(self, now: dt.datetime) -> list[tuple[uuid.UUID, uuid.UUID]]:
        """(tenant, entry) of every entry whose person ceased more than five years ago."""
        links = self._session.execute(sa.select(PersonLink.object_id).where(
            PersonLink.kind == INSIDER_LINK, PersonLink.object_type == ENTRY_OBJECT,
            PersonLink.retain_until.is_not(None), PersonLink.retain_until <= now)).scalars().all()
        ids = [uuid.UUID(object_id) for object_id in links]
        due: list[tuple[uuid.UUID, uuid.UUID]] = []
        for start in range(0, len(ids), 500):
            due += [(r[0], r[1]) for r in self._session.execute(sa.select(InsiderEntry.tenant_id, InsiderEntry.id).where(
                InsiderEntry.id.in_(ids[start:start + 500]), InsiderEntry.person_id.is_not(None)))]
        return due

    def delete_personal_data(self, tenant_id: uuid.UUID, entry_id: uuid.UUID, now: dt.datetime, actor: Actor) -> bool:
        """Delete one due entry's personal data (False: no longer due, e.g. already done)."""
        entry = self._session.execute(sa.select(InsiderEntry).where(
            InsiderEntry.id == entry_id, InsiderEntry.tenant_id == tenant_id)).scalar_one_or_none()
        if entry is None or entry.person_id is None:
            return False
        link = self._session.execute(sa.select(PersonLink).where(
            PersonLink.person_id == entry.person_id, PersonLink.kind == INSIDER_LINK,
            PersonLink.object_type == ENTRY_OBJECT, PersonLink.object_id == str(entry.id))).scalar_one_or_none()
        if link is None or link.retain_until is None or link.retain_until > now:
            return False
        person_id = entry.person_id
        versions = self._session.execute(sa.select(InsiderVersion).where(
            InsiderVersion.tenant_id == tenant_id, InsiderVersion.entry_id == entry.id)).scalars().all()
        for version in versions:
            if version.content_sealed is not None:  # the MAC signs this digest: the chain still verifies
                version.content_digest = hashlib.sha256(version.content_sealed).digest()
            version.content_sealed = None
            version.personal_sealed = None
        self._session.delete(link)
        entry.person_id = None
        self._session.flush()
        # A person nothing links to any more keeps only blind indexes and the key (they may be
        # named in a case, sealed to it); the name and values sealed under their key go.
        self._persons.drop_values_of_unlinked([person_id])
        self._logbook.record("insider.personal_data_deleted", actor, tenant_id=tenant_id, object_type=ENTRY_OBJECT,
                             object_id=entry.id, detail=f"versions={len(versions)}")
        return True
