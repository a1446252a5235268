"""Five years after an insider ceased on every list: the person's access request shows their entries,
erasure is refused until then, and the retention run deletes their personal data after it."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
import sqlalchemy as sa

from appliance.actors import CLI, SYSTEM
from appliance.errors import ErasureBlocked
from appliance.insiders.models import InsiderEntry, InsiderVersion
from appliance.operations.retention_run import run_retention
from appliance.persons.models import PersonLink
from appliance.services import Services
from tests.functional.conftest import Org
from tests.functional.insiders_support import AFTER_2026_ITS, details
from tests.support import FrozenClock

T0 = AFTER_2026_ITS


def _on_two_lists(services: Services, org: Org, clock: FrozenClock) -> tuple[uuid.UUID, list[uuid.UUID]]:
    clock.now = T0 + dt.timedelta(days=30)
    lists = services.insider_lists
    first = lists.create_section(org.tenant.id, "Falcon", "", T0, CLI)
    second = lists.create_section(org.tenant.id, "Eagle", "", T0, CLI)
    a = lists.add_insider(org.tenant.id, first, details("Anna"), T0, CLI, ceased=T0 + dt.timedelta(days=1))
    b = lists.add_insider(org.tenant.id, second, details("Anna"), T0, CLI)
    person = services.session.get_one(InsiderEntry, a).person_id
    assert person is not None and services.session.get_one(InsiderEntry, b).person_id == person
    return person, [a, b]


@pytest.mark.one_session
def test_the_access_request_shows_every_insider_entry(services: Services, org_a: Org, clock: FrozenClock) -> None:
    person, entries = _on_two_lists(services, org_a, clock)
    document = services.person_export.export(person, CLI)
    records = [r for r in document["records"] if r["kind"] == "insider"]
    assert sorted(r["id"] for r in records) == sorted(str(e) for e in entries)
    ceased = next(r for r in records if r["id"] == str(entries[0]))
    assert ceased["table"] == "insider_entries"
    assert ceased["insider_entry"]["versions"][0]["details"]["surname"] == "LindAnna"
    assert ceased["insider_entry"]["versions"][-1]["ceased"] == (T0 + dt.timedelta(days=1)).isoformat()


@pytest.mark.one_session
def test_erasure_is_refused_until_five_years_after_the_last_cessation(services: Services, org_a: Org,
                                                                      clock: FrozenClock) -> None:
    person, entries = _on_two_lists(services, org_a, clock)
    with pytest.raises(ErasureBlocked, match="has not ceased"):
        services.person_eraser.erase(person, CLI)
    last = T0 + dt.timedelta(days=40)
    clock.now = last + dt.timedelta(days=1)
    services.insider_lists.cease_insider(org_a.tenant.id, entries[1], last, CLI)
    clock.now = dt.datetime(2031, 10, 11, tzinfo=dt.UTC) - dt.timedelta(minutes=1)  # first ceased + 5 years: passed
    [reason] = services.person_eraser.plan(person).blocked
    assert "until 2031-10-11" in reason
    clock.now = dt.datetime(2031, 10, 11, 12, 1, tzinfo=dt.UTC)
    assert services.person_eraser.plan(person).blocked == []


@pytest.mark.fresh_database
def test_the_retention_run_deletes_personal_data_five_years_after_ceasing(ctx, services: Services, org_a: Org,  # type: ignore[no-untyped-def]
                                                                          clock: FrozenClock) -> None:
    person, entries = _on_two_lists(services, org_a, clock)
    services.session.commit()
    clock.now = T0 + dt.timedelta(days=5 * 365)  # the first ceased 5 years ago less a day or so
    report = run_retention(ctx, SYSTEM, dry_run=True)
    assert report.insider_entries_due == 0
    clock.now = dt.datetime(2031, 9, 3, tzinfo=dt.UTC)
    assert run_retention(ctx, SYSTEM, dry_run=True).insider_entries_due == 1
    report = run_retention(ctx, SYSTEM, dry_run=False)
    assert (report.insider_entries_due, report.insider_entries_cleared) == (1, 1)
    assert report.as_dict()["insider_entries"] == {"due": 1, "cleared": 1}
    with ctx.unit_of_work() as session:
        cleared = session.get_one(InsiderEntry, entries[0])
        assert cleared.person_id is None
        assert session.execute(sa.select(InsiderVersion.personal_sealed).where(
            InsiderVersion.entry_id == entries[0])).scalars().all() == [None, None]
        assert session.execute(sa.select(sa.func.count()).select_from(PersonLink).where(
            PersonLink.person_id == person)).scalar_one() == 1  # the entry still on a list keeps its link
    with ctx.unit_of_work() as session:
        s = type(services)(ctx, session)
        view = s.insider_history.as_at(org_a.tenant.id, clock.now, CLI)  # the chain still verifies
        gone = next(i for p in view.sections for i in p.insiders if i.entry_id == entries[0])
        assert gone.details.surname is None and gone.details.function_reason is not None
        assert gone.ceased == T0 + dt.timedelta(days=1)
    assert run_retention(ctx, SYSTEM, dry_run=False).insider_entries_cleared == 0
