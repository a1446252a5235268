"""Access events through the domain service: upload, look-ups by project, the person chain
(export and erasure), retention after EVENT_RETENTION_DAYS."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
import sqlalchemy as sa

from appliance.actors import CLI
from appliance.cases.reconcile import unnamed_candidates
from appliance.context import AppContext
from appliance.events.models import AccessEvent, EventBatch
from appliance.events.service import NewEvent, Rejected
from appliance.operations.retention_run import run_retention
from appliance.persons.models import Person
from appliance.persons.service import PersonDetails
from appliance.services import Services
from tests.functional.conftest import Org
from tests.functional.world import count
from tests.support import FrozenClock

pytestmark = pytest.mark.one_session


def ev(clock: FrozenClock, number: int, hours_ago: float = 10, email: str = "ada@alpha.example.com",
       project: str = "FALCON") -> NewEvent:
    return NewEvent(f"ev-{number}", "dms", clock() - dt.timedelta(hours=hours_ago), email, "open",
                    f"/deals/{number}.pdf", project)


def person_of(services: Services, email: str) -> Person:
    (match,) = services.persons.find(PersonDetails(email=email))
    return services.persons.get(match.person_id)


def test_first_access_per_person_and_events_per_project(services: Services, clock: FrozenClock, org_a: Org) -> None:
    tenant = org_a.tenant.id
    events = services.access_events
    result = events.upload(tenant, [ev(clock, 1, 30), ev(clock, 2, 20), ev(clock, 3, 25, "bo@alpha.example.com"),
                                    ev(clock, 4, 5, project="OTHER"), Rejected(4, "id: too long")], CLI)
    assert (result.accepted, result.duplicates, [r.index for r in result.rejected]) == (4, 0, [4])
    ada, bo = person_of(services, "ada@alpha.example.com"), person_of(services, "bo@alpha.example.com")
    first = events.first_access_by_person(tenant, "FALCON")
    assert first == {ada.id: clock() - dt.timedelta(hours=30), bo.id: clock() - dt.timedelta(hours=25)}
    assert events.first_access_by_person(tenant, "FALCON", since=clock() - dt.timedelta(hours=22)) == {
        ada.id: clock() - dt.timedelta(hours=20)}
    page = events.events_for_project(tenant, "FALCON", None, CLI)
    assert [(e.id, e.actor_email, e.person_id) for e in page.events] == [
        ("ev-1", "ada@alpha.example.com", ada.id), ("ev-3", "bo@alpha.example.com", bo.id),
        ("ev-2", "ada@alpha.example.com", ada.id)]
    assert page.next_cursor is None
    # The address is on the chain once, sealed; the person is found again by the next upload.
    assert events.upload(tenant, [ev(clock, 9, 1)], CLI).accepted == 1
    assert person_of(services, "ada@alpha.example.com").id == ada.id
    assert services.persons.identifiers_of(ada, CLI) == {"email": "ada@alpha.example.com"}
    # Event actors are linked to something: `person reconcile` never sweeps them.
    assert not {ada.id, bo.id} & unnamed_candidates(services.session, tenant)


def test_export_shows_the_persons_events_and_erasure_removes_them(services: Services, clock: FrozenClock,
                                                                   org_a: Org) -> None:
    tenant = org_a.tenant.id
    services.access_events.upload(tenant, [ev(clock, 1, 12), ev(clock, 2, 11), ev(clock, 3, email="bo@alpha.example.com")],
                                  CLI)
    ada = person_of(services, "ada@alpha.example.com")
    exported = services.person_export.export(ada.id, CLI)
    assert [(e["id"], e["actor_email"], e["project"]) for e in exported["access_events"]] == [
        ("ev-1", "ada@alpha.example.com", "FALCON"), ("ev-2", "ada@alpha.example.com", "FALCON")]
    assert exported["person"]["identifiers"] == {"email": "ada@alpha.example.com"}

    plan = services.person_eraser.plan(ada.id)
    assert plan.deleted["access events"] == 2 and not plan.blocked
    services.person_eraser.erase(ada.id, CLI)
    remaining = services.session.execute(sa.select(AccessEvent.person_id).where(
        AccessEvent.tenant_id == tenant)).scalars().all()
    assert ada.id not in remaining and len(remaining) == 1
    assert services.ctx.vault.shares([ada.id]) == {}
    listed = services.access_events.events_for_project(tenant, "FALCON", None, CLI).events
    assert [e.actor_email for e in listed] == ["bo@alpha.example.com"]
    # The same (source, id) uploaded again after erasure is new: its first copy is gone.
    assert services.access_events.upload(tenant, [ev(clock, 1)], CLI).accepted == 1


@pytest.mark.fresh_database
def test_retention_deletes_events_older_than_the_setting(ctx: AppContext, clock: FrozenClock, org_a: Org,
                                                         services: Services) -> None:
    tenant = org_a.tenant.id
    services.access_events.upload(tenant, [ev(clock, 1, 24 * 30), ev(clock, 2, 24 * 10)], CLI)
    services.access_events.upload(tenant, [ev(clock, 3, 1)], CLI)
    services.session.commit()
    short = dataclasses.replace(ctx, settings=dataclasses.replace(ctx.settings, event_retention_days=20))

    clock.advance(days=5)
    dry = run_retention(short, CLI, dry_run=True)
    assert dry.access_events is not None and (dry.access_events.due, dry.access_events.deleted) == (1, None)
    assert count(ctx, "access_events") == 3

    report = run_retention(short, CLI, dry_run=False)
    assert report.access_events is not None and (report.access_events.due, report.access_events.deleted) == (1, 1)
    assert report.as_dict()["access_events"]["deleted"] == 1
    with ctx.sessions() as session:
        left = session.execute(sa.select(AccessEvent.occurred_at)).scalars().all()
        assert sorted(left) == [clock() - dt.timedelta(days=15), clock() - dt.timedelta(days=5, hours=1)]
        assert session.execute(sa.select(sa.func.count()).select_from(EventBatch)).scalar_one() == 2

    # The default keeps them a year; then they and their batches go.
    assert run_retention(ctx, CLI, dry_run=False).access_events.deleted == 0  # type: ignore[union-attr]
    clock.advance(days=366)
    assert run_retention(ctx, CLI, dry_run=False).access_events.deleted == 2  # type: ignore[union-attr]
    assert count(ctx, "access_events") == 0 and count(ctx, "access_event_batches") == 0
