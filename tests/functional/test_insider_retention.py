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
from appliance.insiders.records import ERASED, InsiderDetails
from appliance.models import Base
from appliance.operations.retention_run import run_retention
from appliance.persons.models import PersonLink
from appliance.services import Services
from tests.functional.conftest import Org
from tests.functional.insiders_support import AFTER_2026_ITS, MARKER, details, marked
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
        assert session.execute(sa.select(InsiderVersion.content_sealed).where(
            InsiderVersion.entry_id == entries[0])).scalars().all() == [None, None]
        assert session.execute(sa.select(sa.func.count()).select_from(PersonLink).where(
            PersonLink.person_id == person)).scalar_one() == 1  # the entry still on a list keeps its link
    with ctx.unit_of_work() as session:
        s = type(services)(ctx, session)
        view = s.insider_history.as_at(org_a.tenant.id, clock.now, CLI)  # the chain still verifies
        gone = next(i for p in view.sections for i in p.insiders if i.entry_id == entries[0])
        assert gone.erased and gone.details == InsiderDetails() and gone.person_id is None
        assert gone.ceased == T0 + dt.timedelta(days=1)
    assert run_retention(ctx, SYSTEM, dry_run=False).insider_entries_cleared == 0


@pytest.mark.fresh_database
def test_retention_deletes_every_field_and_the_old_export_says_so(ctx, services: Services, org_a: Org,  # type: ignore[no-untyped-def]
                                                                   clock: FrozenClock) -> None:
    """Names, IDs, phones, addresses, e-mail, company, function and reason all go five years after the
    insider ceased; the chain still verifies, and an export as at a moment before shows the times
    with "erased" in every other column, not a failure and not an empty cell that looks like data."""
    clock.now = T0 + dt.timedelta(days=30)
    lists = services.insider_lists
    section = lists.create_section(org_a.tenant.id, "Falcon", "", T0, CLI)
    gone = lists.add_insider(org_a.tenant.id, section, marked("gone"), T0, CLI)
    lists.change_insider(org_a.tenant.id, gone, InsiderDetails(function_reason=f"{MARKER}again"),
                         T0 + dt.timedelta(hours=1), CLI)
    lists.cease_insider(org_a.tenant.id, gone, T0 + dt.timedelta(days=1), CLI)
    kept = lists.add_insider(org_a.tenant.id, section, details("Kept"), T0, CLI)
    sealed = [bytes(v) for row in services.session.execute(sa.select(
        InsiderVersion.content_sealed, InsiderVersion.personal_sealed).where(InsiderVersion.entry_id == gone))
        for v in row]
    assert len(sealed) == 6
    services.session.commit()

    clock.now = dt.datetime(2031, 9, 3, tzinfo=dt.UTC)
    assert run_retention(ctx, SYSTEM, dry_run=False).insider_entries_cleared == 1

    with ctx.unit_of_work() as session:
        chunks: list[bytes] = []  # what a DBA can SELECT: no ciphertext of the entry is left
        for table in Base.metadata.sorted_tables:
            for row in session.execute(sa.select(table)):
                chunks += [bytes(v) if isinstance(v, (bytes, memoryview)) else str(v).encode() for v in row
                           if v is not None]
        assert [c for c in sealed if c in b"\x00".join(chunks)] == []
        s = type(services)(ctx, session)
        assert s.insider_history.verify(org_a.tenant.id) == 5
        before = T0 + dt.timedelta(hours=2)  # when the entry was still on the list, with every field
        view = s.insider_history.as_at(org_a.tenant.id, before, CLI, section)
        [shown] = [i for i in view.sections[0].insiders if i.entry_id == gone]
        assert shown.erased and shown.obtained == T0 and shown.ceased is None
        text = s.insider_exports.export(org_a.tenant.id, section, "csv", before, CLI).decode("utf-8-sig")
        assert MARKER not in text and "LindKept" in text
        [row] = [line for line in text.splitlines() if ERASED in line]
        assert row.count(ERASED) == 8 and "2026-09-01T12:00 UTC" in row  # 10 columns: 8 fields, the two times
        assert s.insider_exports.export(org_a.tenant.id, section, "xlsx", before, CLI)[:2] == b"PK"
        assert s.insider_exports.export(org_a.tenant.id, section, "pdf", before, CLI)[:5] == b"%PDF-"
        assert kept in {i.entry_id for i in view.sections[0].insiders}


def test_a_chain_written_before_migration_0022_still_verifies(services: Services, org_a: Org,
                                                               clock: FrozenClock) -> None:
    """Versions written before 0022 have no content_digest: the MAC always signed the ciphertext's
    SHA-256, so they verify as they are, and retention can still delete their content."""
    _person, entries = _on_two_lists(services, org_a, clock)
    services.session.execute(sa.update(InsiderVersion).values(content_digest=None))
    services.session.expire_all()
    assert services.insider_history.verify(org_a.tenant.id) == 5  # two sections, two insiders, a cessation
    clock.now = dt.datetime(2031, 9, 3, tzinfo=dt.UTC)
    assert services.insider_retention.delete_personal_data(org_a.tenant.id, entries[0], clock.now, SYSTEM)
    assert services.insider_history.verify(org_a.tenant.id) == 5  # two sections, two insiders, a cessation
