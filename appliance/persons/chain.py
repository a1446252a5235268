"""Keeping the person chain consistent when the records it points at go away."""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Session

from appliance.keys.vault import Vault
from appliance.persons.models import Person, PersonIdentifier, PersonLink


def forget_object(session: Session, object_type: str, object_id: uuid.UUID | str) -> int:
    """Delete the links to one record that is being deleted (e.g. a case by retention: links
    from before case-sealed entries). Their persons stay: a person of a tenant may be named in
    other cases, sealed to those cases, which the server cannot see. `appliance person
    reconcile` deletes the person records no case names. Returns how many links went."""
    result = session.execute(sa.delete(PersonLink).where(PersonLink.object_type == object_type,
                                                         PersonLink.object_id == str(object_id)))
    return int(result.rowcount)  # type: ignore[attr-defined]


def delete_persons(session: Session, person_ids: set[uuid.UUID]) -> None:
    """Delete person records with their identifiers (blind indexes) and wrapped keys; the
    caller destroys their vault shares once this is committed (`sweep_vault` finds any it
    missed), so no earlier backup can open what was sealed under their keys."""
    ids = list(person_ids)
    for start in range(0, len(ids), 500):
        batch = ids[start:start + 500]
        session.execute(sa.delete(PersonIdentifier).where(PersonIdentifier.person_id.in_(batch)))
        # The wrapped data key goes with the row: what was sealed under it is gone for good.
        session.execute(sa.delete(Person).where(Person.id.in_(batch)))


def sweep_vault(session: Session, vault: Vault, created_before: dt.datetime) -> int:
    """Destroy the vault shares of persons no longer in the database (left by a write that
    failed after its share was stored, or by a deletion whose share was not destroyed yet).
    Only shares stamped before ``created_before``: a person being recorded right now has its
    share before its row is committed. Shares of persons named in a case are stamped with the
    day only (00:00 UTC), up to a day before they were made: callers leave that day's margin on
    top of their own (``retention.runner.VAULT_SWEEP_GRACE``)."""
    stored = vault.person_ids(created_before)
    if not stored:
        return 0
    alive: set[uuid.UUID] = set()
    ids = list(stored)
    for start in range(0, len(ids), 500):
        alive.update(session.execute(sa.select(Person.id).where(Person.id.in_(ids[start:start + 500]))).scalars())
    return vault.delete(stored - alive)
