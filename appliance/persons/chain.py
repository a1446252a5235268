"""Keeping the person chain consistent when the records it points at go away."""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Session

from appliance.crypto.vault import Vault
from appliance.persons.models import Person, PersonIdentifier, PersonLink
from appliance.users.models import User


def forget_object(session: Session, object_type: str, object_id: uuid.UUID | str) -> set[uuid.UUID]:
    """Delete the links to one record that is being deleted (e.g. a case by retention), and
    every person left with no link and no staff account. Returns the persons deleted: the
    caller destroys their vault shares, so no earlier backup can open them again."""
    person_ids = set(session.execute(
        sa.select(PersonLink.person_id).where(PersonLink.object_type == object_type,
                                              PersonLink.object_id == str(object_id))
    ).scalars())
    if not person_ids:
        return set()
    session.execute(sa.delete(PersonLink).where(PersonLink.object_type == object_type,
                                                PersonLink.object_id == str(object_id)))
    return _delete_orphans(session, person_ids)


def forget_link(session: Session, link: PersonLink) -> set[uuid.UUID]:
    """Delete one link, and its person if nothing else is about them (returned, as above)."""
    person_id = link.person_id
    session.delete(link)
    session.flush()
    return _delete_orphans(session, {person_id})


def _delete_orphans(session: Session, person_ids: set[uuid.UUID]) -> set[uuid.UUID]:
    still_linked = set(session.execute(
        sa.select(PersonLink.person_id).where(PersonLink.person_id.in_(person_ids))
    ).scalars()) | set(session.execute(
        sa.select(User.person_id).where(User.person_id.in_(person_ids))
    ).scalars())
    orphans = person_ids - still_linked
    if orphans:
        session.execute(sa.delete(PersonIdentifier).where(PersonIdentifier.person_id.in_(orphans)))
        # The wrapped data key goes with the row: what was sealed under it is gone for good.
        session.execute(sa.delete(Person).where(Person.id.in_(orphans)))
    return orphans


def sweep_vault(session: Session, vault: Vault, created_before: dt.datetime) -> int:
    """Destroy the vault shares of persons no longer in the database (left by a write that
    failed after its share was stored). Only shares older than ``created_before``: a person
    being recorded right now has its share before its row is committed."""
    stored = vault.person_ids(created_before)
    if not stored:
        return 0
    alive: set[uuid.UUID] = set()
    ids = list(stored)
    for start in range(0, len(ids), 500):
        alive.update(session.execute(sa.select(Person.id).where(Person.id.in_(ids[start:start + 500]))).scalars())
    return vault.delete(stored - alive)
