"""Online KEK rotation on both databases: batches, reads across versions, resume, a concurrent
writer, tampering, the logbook, and the unwrap counter on /metrics."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
import sqlalchemy as sa

from appliance.actors import CLI
from appliance.audit.models import AuditEvent
from appliance.errors import DecryptionFailed
from appliance.keys.keyring import seal_data_key
from appliance.keys.models import KeyRotation, TenantKey
from appliance.operations.rotation import BatchKeks, RowKeyUnreadable, Scope, key_rotations
from appliance.operations.wrapped_keys import PERSONS, person_key_owner
from appliance.persons.models import Person
from appliance.services import Services
from appliance.tenants.models import Tenant
from tests.functional.keys_support import (
    add_legacy_case,
    add_persons,
    all_person_names,
    legacy_case_text,
    person_name,
)
from tests.web import series
from webapp.metrics import AppMetrics

# One session each, in a transaction rolled back at the end (tests/conftest.py).
pytestmark = pytest.mark.one_session

NAMES = [f"Person {n}" for n in range(7)]


@pytest.fixture
def tenant(services: Services) -> Tenant:
    tenant = services.tenants.create_tenant("Example AB", "example", CLI)
    services.session.commit()
    return tenant


def actions(services: Services, after: int = 0) -> list[AuditEvent]:
    return list(services.session.execute(sa.select(AuditEvent).where(AuditEvent.seq > after)
                                         .order_by(AuditEvent.seq)).scalars())


def last_seq(services: Services) -> int:
    return int(services.session.execute(sa.select(sa.func.coalesce(sa.func.max(AuditEvent.seq), 0))).scalar_one())


def test_rotation_moves_rows_in_batches_while_every_row_stays_readable(services: Services, tenant: Tenant) -> None:
    add_persons(services, tenant.id, NAMES)
    staff = add_persons(services, None, ["Staff One", "Staff Two"])
    case_id, _ = add_legacy_case(services, tenant.id, "an old report")
    services.session.commit()
    scope = Scope(tenant.id, tenant.slug)
    rotations = key_rotations(services)

    started = rotations.start_or_resume(scope, CLI)
    services.session.commit()
    assert (started.target_version, started.resumed, started.rows_left) == (2, False, 8)
    before = last_seq(services)

    assert rotations.run_batch(scope, started.rotation_id, CLI, batch=3) == 3
    services.session.commit()
    batch_events = actions(services, before)  # one per KEK, one per table: not one per row
    assert [(e.action, e.object_type) for e in batch_events] == [
        ("key.unwrapped", "tenant_key"), ("key.unwrapped", "tenant_key"), ("key.rewrapped", "person_key")]
    assert {e.object_id for e in batch_events[:2]} == {f"{tenant.id}/v1", f"{tenant.id}/v2"}
    assert batch_events[2].detail == "3 persons data key(s) unwrapped and rewrapped, v1 to v2"
    halfway = all_person_names(services.session, services, tenant.id)
    assert sorted(halfway) == [1, 2] and sorted(halfway[1] + halfway[2]) == sorted(NAMES)
    assert legacy_case_text(services, case_id) == "an old report"
    assert not rotations.finish(scope, started.rotation_id, CLI)

    while rotations.run_batch(scope, started.rotation_id, CLI, batch=3):
        services.session.commit()
    assert rotations.finish(scope, started.rotation_id, CLI)
    services.session.commit()

    assert all_person_names(services.session, services, tenant.id) == {2: sorted(NAMES)}
    assert legacy_case_text(services, case_id) == "an old report"
    rotation = services.session.get(KeyRotation, started.rotation_id)
    assert rotation is not None and rotation.finished_at is not None and rotation.rows_done == 8
    assert all_person_names(services.session, services, None) == {1: ["Staff One", "Staff Two"]}
    assert services.session.get(Person, staff[0]) is not None
    assert services.logbook.verify().ok


def test_running_again_resumes_the_unfinished_rotation(services: Services, tenant: Tenant) -> None:
    add_persons(services, tenant.id, NAMES)
    services.session.commit()
    scope = Scope(tenant.id, tenant.slug)
    first = key_rotations(services).start_or_resume(scope, CLI)
    key_rotations(services).run_batch(scope, first.rotation_id, CLI, batch=2)
    services.session.commit()

    again = key_rotations(services).start_or_resume(scope, CLI)
    assert again.resumed and again.rotation_id == first.rotation_id and again.target_version == 2
    assert (again.rows_done, again.rows_left) == (2, 5)
    versions = services.session.execute(sa.select(TenantKey.version).where(TenantKey.tenant_id == tenant.id)).scalars()
    assert sorted(versions) == [1, 2]


def test_the_installation_scope_moves_only_staff_persons(services: Services, tenant: Tenant) -> None:
    add_persons(services, tenant.id, ["Tenant Person"])
    add_persons(services, None, ["Staff One"])
    services.session.commit()
    scope = Scope(None, "installation")
    started = key_rotations(services).start_or_resume(scope, CLI)
    assert started.rows_left == 1
    while key_rotations(services).run_batch(scope, started.rotation_id, CLI):
        services.session.commit()
    assert key_rotations(services).finish(scope, started.rotation_id, CLI)
    services.session.commit()
    assert all_person_names(services.session, services, None) == {2: ["Staff One"]}
    assert all_person_names(services.session, services, tenant.id) == {1: ["Tenant Person"]}
    events = actions(services)
    assert any(e.action == "key.unwrapped" and e.object_type == "installation_key" and e.object_id == "v2"
               for e in events)


def test_a_row_a_concurrent_writer_changed_is_not_clobbered(services: Services, tenant: Tenant) -> None:
    (person_id,) = add_persons(services, tenant.id, ["Before"])
    services.session.commit()
    scope = Scope(tenant.id, tenant.slug)
    started = key_rotations(services).start_or_resume(scope, CLI)
    services.session.commit()
    stale = services.session.execute(sa.select(Person.key_version, Person.wrapped_key)
                                     .where(Person.id == person_id)).one()

    # Meanwhile a writer gives the person a new data key under the new version.
    keks = BatchKeks(services.data_keys, tenant.id, CLI)
    writer_key = secrets.token_bytes(32)
    writers_wrap = seal_data_key(keks(2), tenant.id, person_key_owner(person_id), 2, writer_key)
    services.session.execute(sa.update(Person).where(Person.id == person_id)
                             .values(key_version=2, wrapped_key=writers_wrap))

    moved = key_rotations(services).move_row(PERSONS, scope, keks, person_id, stale.key_version,
                                            bytes(stale.wrapped_key), started.target_version)
    assert moved is False
    row = services.session.execute(sa.select(Person.key_version, Person.wrapped_key)
                                   .where(Person.id == person_id)).one()
    assert (row.key_version, bytes(row.wrapped_key)) == (2, writers_wrap)


def test_a_tampered_wrapped_key_fails_loudly_and_stops_the_rotation(services: Services, tenant: Tenant) -> None:
    first, victim = add_persons(services, tenant.id, ["Intact", "Tampered"])
    services.session.commit()
    person = services.session.get(Person, victim)
    assert person is not None
    flipped = bytearray(person.wrapped_key)
    flipped[20] ^= 0x01
    person.wrapped_key = bytes(flipped)
    services.session.commit()

    with pytest.raises(DecryptionFailed):
        person_name(services, person)
    services.session.rollback()
    scope = Scope(tenant.id, tenant.slug)
    started = key_rotations(services).start_or_resume(scope, CLI)
    services.session.commit()
    with pytest.raises(RowKeyUnreadable) as raised:
        key_rotations(services).run_batch(scope, started.rotation_id, CLI)
    services.session.rollback()
    assert str(victim) in str(raised.value) and "nothing in this batch was changed" in str(raised.value)
    assert services.session.get(Person, first).key_version == 1  # type: ignore[union-attr]
    assert key_rotations(services).unfinished(scope) is not None


@pytest.mark.fresh_database  # /metrics reads its health gauges in a session of its own
def test_unwraps_are_counted_on_the_metrics_endpoint(app, services: Services, tenant: Tenant) -> None:  # type: ignore[no-untyped-def]
    (person_id,) = add_persons(services, tenant.id, ["Counted"])
    add_legacy_case(services, tenant.id, "counted case")
    services.session.commit()
    text = app.test_client().get("/metrics").get_data(as_text=True)
    before = series(text)
    person = services.session.get(Person, person_id)
    assert person is not None
    assert person_name(services, person) == "Counted"
    scraped = series(app.test_client().get("/metrics").get_data(as_text=True))
    kinds = {kind: scraped.get(f'appliance_key_unwraps_total{{kind="{kind}"}}', 0) -
             before.get(f'appliance_key_unwraps_total{{kind="{kind}"}}', 0) for kind in ("tenant_key", "person_key")}
    assert kinds == {"tenant_key": 1, "person_key": 1}
    assert before['appliance_key_unwraps_total{kind="tenant_key"}'] >= 2  # the set-up wraps unwrapped it too
    assert "Counted" not in text and str(person_id) not in text


def test_unwrap_counts_reach_the_workers_files_in_multiprocess_mode(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from prometheus_client import values

    from appliance.crypto.unwraps import UnwrapCounter

    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    monkeypatch.setattr(values, "ValueClass", values.MultiProcessValue())
    worker, counter = AppMetrics.create(tmp_path), UnwrapCounter()
    counter.add("tenant_key", 3)
    worker.copy_unwraps(counter)
    counter.add("tenant_key")
    counter.add("person_key", 2)
    worker.copy_unwraps(counter)
    worker.copy_unwraps(counter)  # nothing new: nothing added twice
    scraped = series(AppMetrics.create(tmp_path).exposition().decode())
    assert scraped['appliance_key_unwraps_total{kind="tenant_key"}'] == 4
    assert scraped['appliance_key_unwraps_total{kind="person_key"}'] == 2
