"""Proposed insiders from access events (appliance/insiders/proposals.py) on real databases: who is
proposed for which section, accepting (obtained = the first access) and dismissing (the reason
sealed; proposed again only after a later access), access by a person already on the section,
access after ceasing flagged, another tenant's events and sections, the reason absent in clear."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
import sqlalchemy as sa

from appliance.actors import CLI
from appliance.errors import Conflict, InvalidInput, NotFound
from appliance.events.service import NewEvent
from appliance.insiders.models import InsiderProposalDecision
from appliance.insiders.records import InsiderDetails
from appliance.services import Services
from tests.functional.conftest import Org
from tests.functional.insiders_support import AFTER_2026_ITS, MARKER, details
from tests.support import FrozenClock

pytestmark = pytest.mark.one_session
T0 = AFTER_2026_ITS
_count = iter(range(1_000_000))


@pytest.fixture
def now(clock: FrozenClock) -> dt.datetime:
    clock.now = T0 + dt.timedelta(days=10)
    return clock.now


def access(services: Services, org: Org, email: str, at: dt.datetime, project: str = "FALCON") -> None:
    number = next(_count)
    result = services.access_events.upload(org.tenant.id, [NewEvent(
        f"ev-{number}", "dms", at, email, "open", f"/deals/doc-{number}.pdf", project)], CLI)
    assert result.accepted == 1


def section(services: Services, org: Org, code: str = "FALCON") -> uuid.UUID:
    return services.insider_lists.create_section(org.tenant.id, code, "Takeover", T0, CLI)


def names(tag: str) -> InsiderDetails:
    return InsiderDetails(first_name=tag, surname=f"Lind{tag}", function_reason="Deal team")


def test_people_who_accessed_the_project_are_proposed_with_their_first_access(
        services: Services, org_a: Org, now: dt.datetime) -> None:
    falcon = section(services, org_a)
    osprey = section(services, org_a, "OSPREY")
    access(services, org_a, "anna@alpha.example.com", T0 + dt.timedelta(hours=3, seconds=42))
    access(services, org_a, "anna@alpha.example.com", T0 + dt.timedelta(hours=1, seconds=7))
    access(services, org_a, "bo@alpha.example.com", T0 + dt.timedelta(hours=2))
    access(services, org_a, "cy@alpha.example.com", T0 + dt.timedelta(hours=2), project="OTHER")
    found = services.insider_proposals.for_section(org_a.tenant.id, falcon, CLI)
    assert found.code == "FALCON" and found.open
    assert [(p.email, p.first_access, p.again) for p in found.proposals] == [
        ("anna@alpha.example.com", T0 + dt.timedelta(hours=1, seconds=7), False),
        ("bo@alpha.example.com", T0 + dt.timedelta(hours=2), False)]
    assert services.insider_proposals.for_section(org_a.tenant.id, osprey, CLI).proposals == ()


def test_accepting_puts_the_person_on_the_section_obtained_at_the_first_access(
        services: Services, org_a: Org, now: dt.datetime) -> None:
    falcon = section(services, org_a)
    access(services, org_a, "anna@alpha.example.com", T0 + dt.timedelta(hours=1, seconds=7))
    [proposal] = services.insider_proposals.for_section(org_a.tenant.id, falcon, CLI).proposals
    entry = services.insider_proposals.accept(org_a.tenant.id, falcon, proposal.person_id, names("Anna"), CLI)
    [part] = services.insider_history.as_at(org_a.tenant.id, now, CLI, falcon).sections
    [insider] = part.insiders
    assert insider.entry_id == entry and insider.person_id == proposal.person_id
    assert insider.obtained == T0 + dt.timedelta(hours=1)  # cut to the minute, never later
    assert insider.details.email == "anna@alpha.example.com" and insider.details.function_reason == "Deal team"
    # their later access changes nothing, and they are not proposed again
    access(services, org_a, "anna@alpha.example.com", now - dt.timedelta(hours=1))
    found = services.insider_proposals.for_section(org_a.tenant.id, falcon, CLI)
    assert found.proposals == () and found.late == ()
    assert [(d.decision, d.email) for d in found.decisions] == [("accepted", "anna@alpha.example.com")]
    with pytest.raises(NotFound):
        services.insider_proposals.accept(org_a.tenant.id, falcon, proposal.person_id, names("Anna"), CLI)


def test_a_dismissed_person_is_proposed_again_only_after_a_later_access(
        services: Services, org_a: Org, clock: FrozenClock, now: dt.datetime) -> None:
    falcon = section(services, org_a)
    access(services, org_a, "bo@alpha.example.com", T0 + dt.timedelta(hours=2))
    [proposal] = services.insider_proposals.for_section(org_a.tenant.id, falcon, CLI).proposals
    with pytest.raises(InvalidInput):
        services.insider_proposals.dismiss(org_a.tenant.id, falcon, proposal.person_id, "  ", CLI)
    services.insider_proposals.dismiss(org_a.tenant.id, falcon, proposal.person_id,
                                       f"IT admin, no access to content {MARKER}dismiss", CLI)
    access(services, org_a, "bo@alpha.example.com", now - dt.timedelta(hours=1))  # uploaded late, before dismissal
    found = services.insider_proposals.for_section(org_a.tenant.id, falcon, CLI)
    assert found.proposals == ()
    assert [(d.decision, d.reason) for d in found.decisions] == [
        ("dismissed", f"IT admin, no access to content {MARKER}dismiss")]
    clock.now = now + dt.timedelta(days=1)
    access(services, org_a, "bo@alpha.example.com", now + dt.timedelta(hours=5))
    access(services, org_a, "bo@alpha.example.com", now + dt.timedelta(hours=3))
    [again] = services.insider_proposals.for_section(org_a.tenant.id, falcon, CLI).proposals
    assert again.again and again.first_access == now + dt.timedelta(hours=3)
    sealed = services.session.execute(sa.select(InsiderProposalDecision.reason_sealed)).scalars().all()
    assert sealed and all(MARKER.encode() not in bytes(s) for s in sealed if s is not None)


def test_access_after_ceasing_is_flagged(services: Services, org_a: Org, now: dt.datetime) -> None:
    falcon = section(services, org_a)
    entry = services.insider_lists.add_insider(org_a.tenant.id, falcon, details("Cy", email="cy@alpha.example.com"),
                                               T0 + dt.timedelta(hours=1), CLI)
    services.insider_lists.cease_insider(org_a.tenant.id, entry, T0 + dt.timedelta(days=2), CLI)
    access(services, org_a, "cy@alpha.example.com", T0 + dt.timedelta(days=1))
    assert services.insider_proposals.for_section(org_a.tenant.id, falcon, CLI).late == ()
    access(services, org_a, "cy@alpha.example.com", T0 + dt.timedelta(days=3))
    found = services.insider_proposals.for_section(org_a.tenant.id, falcon, CLI)
    assert found.proposals == ()
    assert [(f.entry_id, f.ceased, f.last_access) for f in found.late] == [
        (entry, T0 + dt.timedelta(days=2), T0 + dt.timedelta(days=3))]


def test_a_closed_section_proposes_nobody(services: Services, org_a: Org, now: dt.datetime) -> None:
    falcon = section(services, org_a)
    access(services, org_a, "dee@alpha.example.com", T0 + dt.timedelta(hours=2))
    services.insider_lists.close_section(org_a.tenant.id, falcon, T0 + dt.timedelta(days=1), "disclosed", CLI)
    found = services.insider_proposals.for_section(org_a.tenant.id, falcon, CLI)
    assert not found.open and found.proposals == ()


def test_another_tenants_events_and_sections_stay_apart(
        services: Services, org_a: Org, org_b: Org, now: dt.datetime) -> None:
    falcon = section(services, org_a)
    beta_falcon = section(services, org_b)
    access(services, org_b, "eve@beta.example.com", T0 + dt.timedelta(hours=2))
    assert services.insider_proposals.for_section(org_a.tenant.id, falcon, CLI).proposals == ()
    [proposal] = services.insider_proposals.for_section(org_b.tenant.id, beta_falcon, CLI).proposals
    with pytest.raises(NotFound):
        services.insider_proposals.for_section(org_a.tenant.id, beta_falcon, CLI)
    with pytest.raises(NotFound):
        services.insider_proposals.accept(org_a.tenant.id, falcon, proposal.person_id, names("Eve"), CLI)
    with pytest.raises(NotFound):
        services.insider_proposals.dismiss(org_a.tenant.id, beta_falcon, proposal.person_id, "no", CLI)
    permanent = services.insider_lists.open_permanent_section(org_a.tenant.id, CLI, T0)
    with pytest.raises(NotFound):
        services.insider_proposals.for_section(org_a.tenant.id, permanent, CLI)


def test_a_permanent_insider_is_refused_on_accepting(services: Services, org_a: Org, now: dt.datetime) -> None:
    permanent = services.insider_lists.open_permanent_section(org_a.tenant.id, CLI, T0)
    services.insider_lists.add_insider(org_a.tenant.id, permanent, details("Fay", email="fay@alpha.example.com"),
                                       T0, CLI)
    falcon = section(services, org_a)
    access(services, org_a, "fay@alpha.example.com", T0 + dt.timedelta(hours=2))
    [proposal] = services.insider_proposals.for_section(org_a.tenant.id, falcon, CLI).proposals
    with pytest.raises(Conflict):
        services.insider_proposals.accept(org_a.tenant.id, falcon, proposal.person_id, names("Fay"), CLI)
