"""Naming persons in a case over HTTP: escaped, validated, scoped to the case's handlers, and
never written to the logbook or the logs."""

from __future__ import annotations

import logging
import uuid

import pytest
import sqlalchemy as sa

from appliance.actors import CLI, Role
from appliance.audit.models import AuditEvent
from appliance.cases.reporting import ReportForm
from appliance.persons.service import PersonDetails
from appliance.services import Services
from tests.functional.world import World, count

XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'
MARKER = "Pq4-WEB-PERSON"



def case_url(world: World) -> str:
    return f"/staff/cases/{world.alpha_case.id}"


def test_a_handler_names_a_person_and_removes_them(world: World, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    browser = world.staff_browser(world.alpha.staff[Role.HANDLER])
    page = browser.get(case_url(world)).get_data(as_text=True)
    assert "Persons named in this case" in page and "alpha person" in page
    response = browser.post(f"{case_url(world)}/persons", {
        "name": f"{XSS} {MARKER}", "email": "Named.Person@Example.com", "national_id": "850101-0000", "role": "witness",
    }, form_url=case_url(world))
    assert response.status_code == 303 and response.headers["Location"].endswith("#persons")
    page = browser.get(case_url(world)).get_data(as_text=True)
    assert "&lt;script&gt;alert(" in page and XSS not in page
    assert "named.person@example.com" in page and "8501010000" in page and "Witness" in page

    with world.ctx.sessions() as session:
        events = session.execute(sa.select(AuditEvent).where(sa.or_(
            AuditEvent.action.like("person.%"), AuditEvent.action.like("case.subject%")))).scalars().all()
        entry_ids = set(session.execute(sa.text("SELECT id FROM case_subjects")).scalars())
    assert "case.subject_added" in {e.action for e in events}
    assert not any(e.action == "person.linked" and e.object_type == "case" for e in events)
    for event in events:
        assert MARKER not in str(event.detail) and "named.person" not in str(event.detail)
    assert MARKER not in caplog.text and "named.person" not in caplog.text

    # The new entry's remove button (the only one whose id the world did not make).
    page = browser.get(case_url(world)).get_data(as_text=True)
    [entry] = [uuid.UUID(str(i)) for i in entry_ids if f"/persons/{uuid.UUID(str(i))}/remove" in page
               and uuid.UUID(str(i)) != world.alpha_case.subject_entry_id]
    removed = browser.post(f"{case_url(world)}/persons/{entry}/remove", form_url=case_url(world))
    assert removed.status_code == 303
    page = browser.get(case_url(world)).get_data(as_text=True)
    assert MARKER not in page and "alpha person" in page


def test_a_known_email_shows_only_what_this_case_recorded(world: World) -> None:
    """Finding 5 over HTTP: the alpha case names "alpha person" with an address; a beta handler
    cannot reach it, and an alpha handler typing only the address into another case sees only
    the address there (both cases are alpha's own here; test_persons_sealed.py seals one away)."""
    browser = world.staff_browser(world.alpha.staff[Role.HANDLER])
    with world.ctx.sessions() as session:
        services = Services(world.ctx, session)
        receipt = services.reporting.submit(services.tenants.by_slug(world.alpha.slug), ReportForm(
            world.alpha.category_id, "A second alpha report."), [])
        session.commit()
    second = f"/staff/cases/{receipt.case_id}"
    response = browser.post(f"{second}/persons", {"name": "", "email": "alpha-person@example.com",
                                                  "national_id": "", "role": "witness"}, form_url=second)
    assert response.status_code == 303
    page = browser.get(second).get_data(as_text=True)
    assert "alpha-person@example.com" in page and "alpha person" not in page
    again = browser.post(f"{second}/persons", {"name": "X", "email": "ALPHA-person@example.com",
                                               "national_id": "", "role": "other"}, form_url=second)
    assert again.status_code == 400 and "already named in the case" in again.get_data(as_text=True)


@pytest.mark.parametrize(("data", "message"), [
    ({"name": "", "email": "", "national_id": "", "role": "other"}, "Give a name"),
    ({"name": "A", "email": "not-an-address", "national_id": "", "role": "other"}, "Enter an e-mail address"),
    ({"name": "A", "email": "", "national_id": "12<34>", "role": "other"}, "letters and digits only"),
    ({"name": "A" * 201, "email": "", "national_id": "", "role": "other"}, "200"),
    ({"name": "A", "email": "", "national_id": "", "role": "boss"}, "Not a valid choice"),
])
def test_bad_input_is_refused_with_a_clear_error_and_nothing_stored(world: World, data: dict[str, str],
                                                                     message: str) -> None:
    browser = world.staff_browser(world.alpha.staff[Role.HANDLER])
    before = count(world.ctx, "case_subjects"), count(world.ctx, "persons")
    response = browser.post(f"{case_url(world)}/persons", data, form_url=case_url(world))
    assert response.status_code == 400 and message in response.get_data(as_text=True)
    assert (count(world.ctx, "case_subjects"), count(world.ctx, "persons")) == before


def test_other_tenants_and_other_roles_reach_nothing(world: World) -> None:
    beta = world.staff_browser(world.beta.staff[Role.HANDLER])
    link = world.alpha_case.subject_entry_id
    assert beta.post(f"{case_url(world)}/persons", {"name": "Forged", "role": "other"},
                     form_url=f"/staff/cases/{world.beta_case.id}").status_code == 404
    assert beta.post(f"{case_url(world)}/persons/{link}/remove",
                     form_url=f"/staff/cases/{world.beta_case.id}").status_code == 404
    # an alpha link through a beta case the beta handler may open: still not found
    assert beta.post(f"/staff/cases/{world.beta_case.id}/persons/{link}/remove",
                     form_url=f"/staff/cases/{world.beta_case.id}").status_code == 404
    admin = world.staff_browser(world.alpha.staff[Role.ADMIN])
    assert admin.post(f"{case_url(world)}/persons/{link}/remove", form_url="/admin/").status_code == 403
    handler = world.staff_browser(world.alpha.staff[Role.HANDLER])
    assert handler.post(f"{case_url(world)}/persons/{uuid.uuid4()}/remove",
                        form_url=case_url(world)).status_code == 404
    assert count(world.ctx, "case_subjects") == 3  # one per case of the world


def test_an_erased_person_shows_as_erased_and_can_be_taken_off(world: World) -> None:
    with world.ctx.sessions() as session:
        services = Services(world.ctx, session)
        [match] = services.persons.find(PersonDetails(email="alpha-person@example.com"))
        services.person_eraser.erase(match.person_id, CLI)
        session.commit()
    browser = world.staff_browser(world.alpha.staff[Role.HANDLER])
    page = browser.get(case_url(world)).get_data(as_text=True)
    section = page[page.index('id="persons"'):page.index('id="access"')]
    assert "(erased at the person's request) — Person concerned" in section and "alpha person" not in section
    entry = world.alpha_case.subject_entry_id
    assert browser.post(f"{case_url(world)}/persons/{entry}/remove", form_url=case_url(world)).status_code == 303
    assert "erased at the person" not in browser.get(case_url(world)).get_data(as_text=True)
