"""Rows under key-encryption keys for the key tests: persons made the way the person service
makes them (a data key wrapped by DataKeys, the name sealed under it), and legacy cases."""

from __future__ import annotations

import secrets
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Session

from appliance.actors import CLI
from appliance.cases.models import Case
from appliance.crypto.case_cipher import CaseCipher
from appliance.crypto.fields import FieldCipher, Place
from appliance.crypto.keyring import DataKeys, TenantKeyring, seal_data_key
from appliance.crypto.wrapped_keys import person_key_owner
from appliance.persons.models import Person
from appliance.services import Services

PERSON_FIELD_VERSION = 1


def add_persons(services: Services, tenant_id: uuid.UUID | None, names: list[str]) -> list[uuid.UUID]:
    """Persons of a tenant (None: the installation), their KEK unwrapped once for all of them."""
    data_keys: DataKeys = services.data_keys
    version = data_keys.current_version(tenant_id)
    kek = data_keys.kek(tenant_id, version, CLI)
    ids = []
    for name in names:
        person_id, data_key = uuid.uuid4(), secrets.token_bytes(32)
        services.session.add(Person(
            id=person_id, tenant_id=tenant_id, key_version=version,
            wrapped_key=seal_data_key(kek, tenant_id, person_key_owner(person_id), version, data_key),
            name_sealed=FieldCipher(data_key, PERSON_FIELD_VERSION).seal(name, Place("persons", "name", person_id)),
            created_at=services.ctx.clock()))
        ids.append(person_id)
    services.session.flush()
    return ids


def person_name(services: Services, person: Person) -> str:
    """Open a person's name as a reader would: unwrap its key under the version stored with it."""
    data_key = services.data_keys.unwrap(person.tenant_id, person_key_owner(person.id), person.key_version,
                                         person.wrapped_key, CLI, "person_key", person.id)
    assert person.name_sealed is not None
    return FieldCipher(data_key, PERSON_FIELD_VERSION).open(person.name_sealed, Place("persons", "name", person.id))


def all_person_names(session: Session, services: Services, tenant_id: uuid.UUID | None) -> dict[int, list[str]]:
    """Every person's name in a scope, by the KEK version its key is wrapped under."""
    found: dict[int, list[str]] = {}
    scope = Person.tenant_id.is_(None) if tenant_id is None else Person.tenant_id == tenant_id
    for person in session.execute(sa.select(Person).where(scope).execution_options(populate_existing=True)).scalars():
        found.setdefault(person.key_version, []).append(person_name(services, person))
    return {version: sorted(names) for version, names in found.items()}


def add_legacy_case(services: Services, tenant_id: uuid.UUID, text: str) -> tuple[uuid.UUID, bytes]:
    """A case as stored before sealed case keys: its data key wrapped under the tenant key."""
    case_id, data_key = uuid.uuid4(), secrets.token_bytes(32)
    keyring: TenantKeyring = services.keyring
    now = services.ctx.clock()
    case = Case(id=case_id, tenant_id=tenant_id, reference=f"L{case_id.hex[:8].upper()}", status="received",
                received_at=now, updated_at=now, case_key_index=secrets.token_bytes(32),
                what_sealed=CaseCipher(data_key).seal(text, Place("cases", "what", case_id)))
    case.wrapped_key, case.key_version = keyring.wrap_case_key(tenant_id, case_id, data_key, CLI)
    services.session.add(case)
    services.session.flush()
    return case_id, data_key


def legacy_case_text(services: Services, case_id: uuid.UUID) -> str:
    case = services.session.execute(sa.select(Case).where(Case.id == case_id)
                                    .execution_options(populate_existing=True)).scalar_one()
    assert case.wrapped_key is not None
    data_key = services.keyring.case_data_key(case.tenant_id, case.id, case.wrapped_key, CLI)
    return CaseCipher(data_key).open(case.what_sealed, Place("cases", "what", case.id))
