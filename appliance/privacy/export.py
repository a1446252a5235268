"""GDPR Art. 15 access: everything the appliance holds about one person, as JSON data.

What the person chain holds is decrypted with the person's key. What a case records about
them is sealed to the case: the server cannot read it, nor even tell which cases name the
person. The export says so, and who can provide it, so the reply is complete and honest.
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from appliance.actors import Actor
from appliance.audit.service import Logbook
from appliance.clock import Clock
from appliance.events.service import AccessEvents
from appliance.insiders.history import InsiderHistory
from appliance.insiders.retention import ENTRY_OBJECT
from appliance.persons.models import PersonLink
from appliance.persons.service import CASE_SUBJECT_LINK, PersonService
from appliance.tenants.models import Tenant
from appliance.users.models import Membership, User
from appliance.users.service import UserService

FORMAT = "appliance-person-export/1"
NAMED_IN_CASES = ("persons named in a case are sealed to it: which cases of this organisation name this person, and "
                  "what they record, only the compliance team can see; it provides that part, after weighing the "
                  "rights of others")


class PersonExport:
    def __init__(self, session: Session, persons: PersonService, users: UserService, events: AccessEvents,
                 logbook: Logbook, clock: Clock, insiders: InsiderHistory) -> None:
        self._session = session
        self._insiders = insiders
        self._persons = persons
        self._users = users
        self._events = events
        self._logbook = logbook
        self._clock = clock

    def export(self, person_id: uuid.UUID, actor: Actor) -> dict[str, Any]:
        """The person's identity and every linked record (logged, without the identifier)."""
        person = self._persons.get(person_id)
        slugs: dict[uuid.UUID, str] = {row.id: row.slug for row in self._session.execute(sa.select(Tenant.id, Tenant.slug))}
        # Links of kind case_subject are from before case-sealed entries: covered by the note
        # below, never by case: the answer must not depend on whether a case was opened since.
        links = self._session.execute(sa.select(PersonLink).where(
            PersonLink.person_id == person.id, PersonLink.kind != CASE_SUBJECT_LINK).order_by(
            PersonLink.created_at, PersonLink.id)).scalars().all()
        records = [self._record(link, slugs, actor) for link in links]
        self._logbook.record("person.exported", actor, tenant_id=person.tenant_id, object_type="person",
                             object_id=person.id, detail=f"records={len(records)}")
        return {
            "format": FORMAT,
            "exported_at": self._clock().isoformat(),
            "person": {
                "id": str(person.id),
                "scope": slugs.get(person.tenant_id, "installation") if person.tenant_id else "installation",
                "recorded_at": person.created_at.isoformat(),
                "name": self._persons.name_of(person, actor),
                "identifiers": self._persons.identifiers_of(person, actor),
                "indexed_identifiers": self._persons.indexed_kinds(person.id),
            },
            "records": records,
            "access_events": [{
                "source": e.source, "id": e.id, "occurred_at": e.occurred_at.isoformat(), "actor_email": e.actor_email,
                "action": e.action, "object": e.object, "project": e.project,
            } for e in self._events.events_of_person(person, actor)],
            "named_in_cases": NAMED_IN_CASES if person.tenant_id is not None else None,
        }

    def _record(self, link: PersonLink, slugs: dict[uuid.UUID, str], actor: Actor) -> dict[str, Any]:
        record: dict[str, Any] = {
            "kind": link.kind,
            "table": _TABLES.get(link.object_type, link.object_type),
            "id": link.object_id,
            "tenant": slugs.get(link.tenant_id) if link.tenant_id else None,
            "linked_at": link.created_at.isoformat(),
            "retain_until": link.retain_until.isoformat() if link.retain_until else None,
        }
        if link.object_type == "user":
            record["account"] = self._account(uuid.UUID(link.object_id), slugs)
        if link.object_type == ENTRY_OBJECT and link.tenant_id is not None:
            record["insider_entry"] = self._insiders.entry_export(link.tenant_id, uuid.UUID(link.object_id), actor)
        return record

    def _account(self, user_id: uuid.UUID, slugs: dict[uuid.UUID, str]) -> dict[str, Any] | None:
        user = self._session.get(User, user_id)
        if user is None:
            return None
        roles = self._session.execute(sa.select(Membership.tenant_id, Membership.role).where(
            Membership.user_id == user_id)).all()
        return {
            "email": self._users.email_of(user),
            "created_at": user.created_at.isoformat(),
            "last_login_at": user.last_login_at.isoformat() if user.last_login_at else None,
            "password_changed_at": user.password_changed_at.isoformat(),
            "two_factor_enabled": user.totp_enabled_at is not None,
            "disabled": user.disabled_at is not None,
            "roles": [{"tenant": tenant, "role": role}
                      for tenant, role in sorted((slugs.get(t, str(t)), r) for t, r in roles)],
        }


_TABLES = {"user": "users", ENTRY_OBJECT: "insider_entries"}
