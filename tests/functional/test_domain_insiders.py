"""Insider lists on real databases: sections, insiders, refusals, closing, as-at views and diffs."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from appliance.actors import CLI
from appliance.errors import Conflict, InvalidInput, NotFound
from appliance.insiders.models import InsiderEntry
from appliance.insiders.records import InsiderDetails
from appliance.services import Services
from tests.functional.conftest import Org
from tests.functional.insiders_support import AFTER_2026_ITS, details
from tests.support import FrozenClock

pytestmark = pytest.mark.one_session
T0 = AFTER_2026_ITS


@pytest.fixture
def now(clock: FrozenClock) -> dt.datetime:
    clock.now = T0 + dt.timedelta(days=10)
    return clock.now


def _section(services: Services, org: Org, code: str = "Falcon") -> uuid.UUID:
    return services.insider_lists.create_section(org.tenant.id, code, "Takeover of a listed target", T0, CLI)


def test_an_insider_is_recorded_and_shown_as_at_now(services: Services, org_a: Org, now: dt.datetime) -> None:
    section = _section(services, org_a)
    entry = services.insider_lists.add_insider(org_a.tenant.id, section, details("Anna"), T0 + dt.timedelta(hours=1),
                                               CLI)
    view = services.insider_history.as_at(org_a.tenant.id, now, CLI)
    [part] = view.sections
    assert (part.section.code, part.section.identified_at) == ("Falcon", T0)
    [insider] = part.insiders
    assert insider.entry_id == entry
    assert insider.details.first_name == "Anna" and insider.details.professional_phone == "+46812345678"
    assert insider.details.personal_phone == "+46701112233"
    assert insider.obtained == T0 + dt.timedelta(hours=1) and insider.ceased is None


@pytest.mark.parametrize(("field", "value"), [
    ("professional_phone", "08-123 456"), ("professional_phone", "+0 123"), ("professional_phone", "call me"),
    ("national_id", "ab"), ("national_id", "<script>"), ("date_of_birth", "31/02/1980"),
    ("date_of_birth", "2999-01-01"), ("surname", "x" * 201), ("function_reason", "bad\x00char"),
    ("email", "not-an-address"),
])
def test_malformed_fields_are_refused_naming_the_field(services: Services, org_a: Org, now: dt.datetime,
                                                        field: str, value: str) -> None:
    section = _section(services, org_a)
    with pytest.raises(InvalidInput) as refused:
        services.insider_lists.add_insider(org_a.tenant.id, section, details("Bo", **{field: value}), T0, CLI)
    assert refused.value.field == field
    assert value not in str(refused.value)


def test_times_in_the_future_naive_or_out_of_order_are_refused(services: Services, org_a: Org,
                                                               now: dt.datetime) -> None:
    lists = services.insider_lists
    section = _section(services, org_a)
    with pytest.raises(InvalidInput, match="future"):
        lists.add_insider(org_a.tenant.id, section, details(), now + dt.timedelta(minutes=1), CLI)
    with pytest.raises(InvalidInput, match="zone"):
        lists.add_insider(org_a.tenant.id, section, details(), now.replace(tzinfo=None), CLI)
    with pytest.raises(InvalidInput, match="before"):
        lists.add_insider(org_a.tenant.id, section, details(), T0 + dt.timedelta(hours=2), CLI,
                          ceased=T0 + dt.timedelta(hours=1))
    with pytest.raises(InvalidInput, match="future"):
        lists.create_section(org_a.tenant.id, "Later", "", now + dt.timedelta(days=1), CLI)


def test_times_are_cut_down_to_the_utc_minute(services: Services, org_a: Org, now: dt.datetime) -> None:
    section = _section(services, org_a)
    cet = dt.timezone(dt.timedelta(hours=2))
    typed = dt.datetime(2026, 9, 1, 15, 30, 59, 999999, tzinfo=cet)  # 13:30:59.999999 UTC
    services.insider_lists.add_insider(org_a.tenant.id, section, details(), typed, CLI)
    [insider] = services.insider_history.as_at(org_a.tenant.id, now, CLI).sections[0].insiders
    assert insider.obtained == dt.datetime(2026, 9, 1, 13, 30, tzinfo=dt.UTC)


def test_a_permanent_insider_is_not_added_to_an_event_section(services: Services, org_a: Org,
                                                              now: dt.datetime) -> None:
    lists = services.insider_lists
    permanent = lists.open_permanent_section(org_a.tenant.id, CLI, since=T0)
    with pytest.raises(Conflict, match="permanent insiders section"):
        lists.open_permanent_section(org_a.tenant.id, CLI)
    lists.add_insider(org_a.tenant.id, permanent, details("Ceo"), T0, CLI)
    with pytest.raises(Conflict, match="permanent insider"):
        lists.add_insider(org_a.tenant.id, _section(services, org_a), details("Ceo"), T0 + dt.timedelta(hours=1), CLI)


def test_a_provider_has_one_contact_person_per_section(services: Services, org_a: Org, now: dt.datetime) -> None:
    lists = services.insider_lists
    section = _section(services, org_a)
    lists.add_insider(org_a.tenant.id, section, details("Adv1", provider="Law Firm LLP"), T0, CLI)
    with pytest.raises(Conflict, match="contact person"):
        lists.add_insider(org_a.tenant.id, section, details("Adv2", provider="  law firm   llp "), T0, CLI)
    lists.add_insider(org_a.tenant.id, section, details("Bank1", provider="Bank plc"), T0, CLI)
    other = _section(services, org_a, "Eagle")
    lists.add_insider(org_a.tenant.id, other, details("Adv2", provider="Law Firm LLP"), T0, CLI)


def test_closing_a_section_ceases_everyone_still_on_it(services: Services, org_a: Org, now: dt.datetime) -> None:
    lists = services.insider_lists
    section = _section(services, org_a)
    early = lists.add_insider(org_a.tenant.id, section, details("Early"), T0, CLI, ceased=T0 + dt.timedelta(days=1))
    for tag in ("A", "B"):
        lists.add_insider(org_a.tenant.id, section, details(tag), T0 + dt.timedelta(hours=1), CLI)
    closed_at = T0 + dt.timedelta(days=3)
    assert lists.close_section(org_a.tenant.id, section, closed_at, "disclosed", CLI) == 2
    part = services.insider_history.as_at(org_a.tenant.id, now, CLI).sections[0]
    assert part.section.closed_at == closed_at and part.section.close_reason == "disclosed"
    ceased = {i.entry_id: i.ceased for i in part.insiders}
    assert ceased.pop(early) == T0 + dt.timedelta(days=1)
    assert set(ceased.values()) == {closed_at}
    with pytest.raises(Conflict):
        lists.add_insider(org_a.tenant.id, section, details("Late"), now, CLI)
    with pytest.raises(Conflict):
        lists.close_section(org_a.tenant.id, section, now, "disclosed", CLI)


def test_as_at_three_moments_shows_exactly_the_versions_valid_then(services: Services, org_a: Org,
                                                                   clock: FrozenClock) -> None:
    clock.now = T0 + dt.timedelta(days=1)
    lists = services.insider_lists
    section = _section(services, org_a)
    t1, t2, t3 = (T0 + dt.timedelta(hours=h) for h in (1, 5, 9))
    entry = lists.add_insider(org_a.tenant.id, section, details("Anna"), t1, CLI)
    lists.change_insider(org_a.tenant.id, entry, InsiderDetails(surname="Married", professional_phone=""), t2, CLI)
    other = lists.add_insider(org_a.tenant.id, section, details("Bo"), t2 + dt.timedelta(minutes=30), CLI)
    lists.cease_insider(org_a.tenant.id, entry, t3, CLI)

    def at(moment: dt.datetime) -> dict[uuid.UUID, tuple[str | None, str | None, dt.datetime | None]]:
        [part] = services.insider_history.as_at(org_a.tenant.id, moment, CLI).sections
        return {i.entry_id: (i.details.surname, i.details.professional_phone, i.ceased) for i in part.insiders}

    assert at(t1) == {entry: ("LindAnna", "+46812345678", None)}
    assert at(t2 + dt.timedelta(minutes=45)) == {entry: ("Married", None, None), other: ("LindBo", "+46812345678", None)}
    assert at(t3) == {entry: ("Married", None, t3), other: ("LindBo", "+46812345678", None)}
    assert services.insider_history.as_at(org_a.tenant.id, T0 - dt.timedelta(minutes=1), CLI).sections == ()
    numbers = [v[0] for v in services.insider_history.versions(org_a.tenant.id, entry)]
    assert len(numbers) == 3 and numbers == sorted(numbers)


def test_diff_names_who_was_added_what_changed_and_who_ceased(services: Services, org_a: Org,
                                                              now: dt.datetime) -> None:
    lists = services.insider_lists
    section = _section(services, org_a)
    anna = lists.add_insider(org_a.tenant.id, section, details("Anna"), T0, CLI)
    bo = lists.add_insider(org_a.tenant.id, section, details("Bo"), T0, CLI)
    lists.change_insider(org_a.tenant.id, anna, InsiderDetails(function_reason="Now CEO"), T0 + dt.timedelta(hours=2),
                         CLI)
    lists.cease_insider(org_a.tenant.id, bo, T0 + dt.timedelta(hours=3), CLI)
    cy = lists.add_insider(org_a.tenant.id, section, details("Cy"), T0 + dt.timedelta(hours=4), CLI)
    diff = services.insider_history.diff(org_a.tenant.id, T0 + dt.timedelta(hours=1), now, CLI)
    assert [c.entry_id for c in diff.added] == [cy]
    assert [c.entry_id for c in diff.ceased] == [bo]
    [changed] = diff.changed
    assert changed.entry_id == anna
    assert [(f.field, f.after) for f in changed.changes] == [("function_reason", "Now CEO")]


def test_another_tenants_sections_and_entries_are_not_found(services: Services, org_a: Org, org_b: Org,
                                                           now: dt.datetime) -> None:
    lists = services.insider_lists
    section = _section(services, org_a)
    entry = lists.add_insider(org_a.tenant.id, section, details(), T0, CLI)
    b = org_b.tenant.id
    for attempt in (lambda: lists.add_insider(b, section, details("X"), T0, CLI),
                    lambda: lists.change_insider(b, entry, InsiderDetails(surname="Evil"), now, CLI),
                    lambda: lists.cease_insider(b, entry, now, CLI),
                    lambda: lists.close_section(b, section, now, "disclosed", CLI),
                    lambda: services.insider_history.as_at(b, now, CLI, section),
                    lambda: services.insider_history.versions(b, entry),
                    lambda: services.insider_exports.export(b, section, "csv", now, CLI),
                    lambda: lists.add_insider(b, _section(services, org_b), details("Y"), T0, CLI,
                                              person_id=_person_of(services, entry))):
        with pytest.raises(NotFound):
            attempt()
    assert services.insider_history.as_at(b, now, CLI).sections[0].insiders == ()


def _person_of(services: Services, entry: uuid.UUID) -> uuid.UUID:
    person = services.session.get_one(InsiderEntry, entry).person_id
    assert person is not None
    return person


def test_a_known_person_is_found_on_the_person_chain(services: Services, org_a: Org, now: dt.datetime) -> None:
    lists = services.insider_lists
    first = lists.add_insider(org_a.tenant.id, _section(services, org_a), details("Anna"), T0, CLI)
    second = lists.add_insider(org_a.tenant.id, _section(services, org_a, "Eagle"), details("Anna"), T0, CLI)
    assert _person_of(services, first) == _person_of(services, second)
    third = lists.add_insider(org_a.tenant.id, _section(services, org_a, "Kite"), details("Other"), T0, CLI,
                              person_id=_person_of(services, first))
    assert _person_of(services, third) == _person_of(services, first)
    with pytest.raises(Conflict, match="already on this section"):
        lists.add_insider(org_a.tenant.id, _section_of(services, first), details("Anna"), T0, CLI)


def _section_of(services: Services, entry: uuid.UUID) -> uuid.UUID:
    return services.session.get_one(InsiderEntry, entry).section_id
