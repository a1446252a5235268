"""Rows under key-encryption keys for the key tests: persons recorded by the person service, read
back by a fresh one (no cached key), and legacy cases (data key wrapped under the tenant key)."""

from __future__ import annotations

import secrets
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Session

from appliance.actors import CLI
from appliance.cases.models import Case
from appliance.crypto.case_cipher import CaseCipher
from appliance.crypto.fields import Place
from appliance.keys.keyring import TenantKeyring
from appliance.persons.models import Person
from appliance.persons.service import PersonDetails
from appliance.services import Services


def add_persons(services: Services, tenant_id: uuid.UUID | None, names: list[str]) -> list[uuid.UUID]:
    """Named persons of a tenant (None: the installation)."""
    return [services.persons.record(tenant_id, PersonDetails(name=name), CLI).id for name in names]


def person_name(services: Services, person: Person) -> str | None:
    """Open a person's name as a reader would, with no key cached: the person's data key is
    unwrapped under the KEK version stored with the row."""
    return Services(services.ctx, services.session).persons.name_of(person, CLI)


def all_person_names(session: Session, services: Services, tenant_id: uuid.UUID | None) -> dict[int, list[str]]:
    """Every named person's name in a scope, by the KEK version its key is wrapped under."""
    found: dict[int, list[str]] = {}
    scope = Person.tenant_id.is_(None) if tenant_id is None else Person.tenant_id == tenant_id
    for person in session.execute(sa.select(Person).where(scope).execution_options(populate_existing=True)).scalars():
        name = person_name(services, person)
        if name is not None:  # staff members' persons carry an e-mail address, no name
            found.setdefault(person.key_version, []).append(name)
    return {version: sorted(names) for version, names in found.items()}


def add_legacy_case(services: Services, tenant_id: uuid.UUID, text: str) -> tuple[uuid.UUID, bytes]:
    """A case as stored before sealed case keys: its data key wrapped under the tenant key."""
    case_id, data_key = uuid.uuid4(), secrets.token_bytes(32)
    keyring: TenantKeyring = services.keyring
    now = services.ctx.clock()
    case = Case(id=case_id, tenant_id=tenant_id, reference=f"L{case_id.hex[:8].upper()}", status="received",
                received_at=now, updated_at=now, case_key_index=secrets.token_bytes(32),
                what_sealed=CaseCipher(data_key).seal(text, Place("cases", "what", case_id)))
    case.wrapped_key, case.key_version = keyring.wrap_legacy_content_key(tenant_id, case_id, data_key, CLI)
    services.session.add(case)
    services.session.flush()
    return case_id, data_key


def legacy_case_text(services: Services, case_id: uuid.UUID) -> str:
    case = services.session.execute(sa.select(Case).where(Case.id == case_id)
                                    .execution_options(populate_existing=True)).scalar_one()
    assert case.wrapped_key is not None
    data_key = services.keyring.legacy_content_key(case.tenant_id, case.id, case.wrapped_key, CLI)
    return CaseCipher(data_key).open(case.what_sealed, Place("cases", "what", case.id))
