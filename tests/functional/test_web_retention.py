"""The admin page for retention and legal holds, over HTTP on both databases: tenant admins only,
every form with CSRF and server-side checks, escaped output, and a preview that matches the run."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from appliance.actors import CLI, Role
from appliance.audit.models import AuditEvent
from appliance.context import AppContext
from appliance.operations.retention_run import run_retention
from appliance.retention.models import LegalHold, RetentionPolicy
from appliance.services import Services
from tests.functional.world import World, count
from tests.web import Browser

XSS = '<script>alert("hold")</script><img src=x onerror=alert(1)>'



def page(slug: str, suffix: str = "") -> str:
    return f"/admin/t/{slug}/retention{suffix}"


def close(services: Services, world: World, case_id: uuid.UUID) -> None:
    """Acknowledge and close a case as alpha's handler (who holds its key)."""
    handler_id = world.alpha.staff[Role.HANDLER].user_id
    handler = services.users.principal(handler_id, services.users.unlock_private_key(handler_id,
                                                                                     "correct horse battery staple"))
    services.cases.change_status(handler, case_id, "acknowledged")
    services.cases.change_status(handler, case_id, "closed", outcome="withdrawn", conclusions="Withdrawn.")
    services.session.commit()


def holds(ctx: AppContext, active_only: bool = True) -> list[LegalHold]:
    with ctx.sessions() as session:
        query = sa.select(LegalHold).order_by(LegalHold.placed_at)
        if active_only:
            query = query.where(LegalHold.released_at.is_(None))
        return list(session.execute(query).scalars())


def test_the_admin_index_links_each_tenants_retention_page(world: World) -> None:
    admin = world.staff_browser(world.alpha.staff[Role.ADMIN])
    admin.get("/admin/")
    assert f'href="{page("alpha")}"' in admin.text()


def test_the_page_shows_the_defaults_and_saves_a_policy(world: World) -> None:
    admin = world.staff_browser(world.alpha.staff[Role.ADMIN])
    response = admin.get(page("alpha"))
    assert response.status_code == 200
    text = admin.text()
    assert 'value="730"' in text and 'value="365"' in text and "These are the defaults" in text
    assert "No case is due for deletion." in text and "There are no active legal holds." in text
    assert "the logbook is kept for 90 days and job records for 90 days" in text

    saved = admin.post(page("alpha"), {"closed_case_days": "400", "unacknowledged_case_days": ""})
    assert saved.status_code == 200 and "The retention policy has been saved." in admin.text()
    assert 'value="400"' in admin.text() and "These are the defaults" not in admin.text()
    with world.ctx.sessions() as session:
        row = session.get(RetentionPolicy, world.alpha.tenant_id)
        assert row is not None and (row.closed_case_days, row.unacknowledged_case_days) == (400, None)
        actor = session.execute(sa.select(AuditEvent.actor_id).where(
            AuditEvent.action == "retention.policy_set")).scalar_one()
    assert actor == str(world.alpha.staff[Role.ADMIN].user_id)


@pytest.mark.parametrize(("data", "message"), [
    ({"closed_case_days": "29"}, "Enter a number of days from 30 to 3650."),
    ({"closed_case_days": "3651"}, "Enter a number of days from 30 to 3650."),
    ({"closed_case_days": ""}, "Enter a number of days."),
    ({"closed_case_days": "two years"}, "Enter a whole number of days, like 730."),
    ({"closed_case_days": "9" * 500}, "Enter a whole number of days, like 730."),
    ({"closed_case_days": "-40"}, "Enter a whole number of days, like 730."),
    ({"closed_case_days": "730", "unacknowledged_case_days": "30"}, "Enter a number of days from 90 to 3650."),
])
def test_a_bad_policy_is_refused_with_a_clear_message(world: World, data: dict[str, str], message: str) -> None:
    admin = world.staff_browser(world.alpha.staff[Role.ADMIN])
    response = admin.post(page("alpha"), data)
    assert response.status_code == 400
    assert message in admin.text() and 'role="alert"' in admin.text() and 'aria-invalid="true"' in admin.text()
    assert count(world.ctx, "retention_policies") == 0


def test_every_form_needs_its_csrf_token(world: World) -> None:
    admin = world.staff_browser(world.alpha.staff[Role.ADMIN])
    for url, data in ((page("alpha"), {"closed_case_days": "100"}),
                      (page("alpha", "/holds"), {"scope": "tenant", "reference": "Matter 1"}),
                      (page("alpha", "/holds/release"), {"hold_id": str(uuid.uuid4())})):
        assert admin.post(url, data, csrf=False).status_code == 400, url
    assert count(world.ctx, "retention_policies") == 0 and holds(world.ctx) == []


def test_holds_are_placed_listed_escaped_and_released(world: World, services: Services) -> None:
    close(services, world, world.alpha_case.id)
    close(services, world, world.alpha_other_case.id)
    world.clock.advance(days=731)  # before signing in: the session must not idle out
    admin = world.staff_browser(world.alpha.staff[Role.ADMIN])

    admin.get(page("alpha"))
    assert "2 cases are due for deletion:" in admin.text()
    assert world.alpha_case.reference in admin.text() and world.alpha_other_case.reference in admin.text()
    assert world.alpha_case.what not in admin.text()  # references only, never content

    response = admin.post(page("alpha", "/holds"), {"scope": "case", "case_reference": world.alpha_case.reference.lower(),
                                                    "reference": XSS}, form_url=page("alpha"))
    assert response.status_code == 200 and "The legal hold has been placed." in admin.text()
    body = admin.text()
    assert XSS not in body and "<script>alert" not in body and "&lt;script&gt;" in body
    assert "1 case is due for deletion:" in body and f"Case {world.alpha_case.reference}" in body
    (case_hold,) = holds(world.ctx)
    assert case_hold.reference == XSS and case_hold.placed_by == str(world.alpha.staff[Role.ADMIN].user_id)

    admin.post(page("alpha", "/holds"), {"scope": "tenant", "reference": "Regulator inquiry FI-88"},
               form_url=page("alpha"))
    assert "No case is due for deletion." in admin.text() and "Every case" in admin.text()
    with world.ctx.sessions() as session:
        preview = Services(world.ctx, session).retention.due(world.clock(), tenant_id=world.alpha.tenant_id)
    assert preview == []

    (tenant_hold,) = [h for h in holds(world.ctx) if h.case_id is None]
    released = admin.post(page("alpha", "/holds/release"), {"hold_id": str(tenant_hold.id)}, form_url=page("alpha"))
    assert released.status_code == 200 and "The legal hold has been released." in admin.text()
    assert "1 case is due for deletion:" in admin.text()
    again = admin.post(page("alpha", "/holds/release"), {"hold_id": str(tenant_hold.id)}, form_url=page("alpha"))
    assert again.status_code == 409 and "This legal hold was already released." in admin.text()

    # The preview is exactly what the run deletes in alpha (beta's report was never acknowledged:
    # 731 days is past the default 365).
    report = run_retention(world.ctx, CLI, dry_run=False)
    assert set(report.deleted) == {world.alpha_other_case.id, world.beta_case.id}


@pytest.mark.parametrize(("data", "message"), [
    ({"scope": "case", "case_reference": "", "reference": "Matter 1"}, "Enter the case reference, or choose every case."),
    ({"scope": "tenant", "case_reference": "ABCD-EFGH", "reference": "Matter 1"},
     "Leave the case reference empty to hold every case, or choose one case."),
    ({"scope": "case", "case_reference": "ZZZZ-ZZZZ", "reference": "Matter 1"},
     "No case of this organisation has this reference."),
    ({"scope": "case", "case_reference": "Z" * 300, "reference": "Matter 1"}, "No case has a reference this long."),
    ({"scope": "tenant", "reference": ""}, "Enter the matter or file number."),
    ({"scope": "tenant", "reference": "x" * 81}, "Use at most 80 characters."),
    ({"scope": "tenant", "reference": "erik.larsson@example.com"}, "not a name or an e-mail address"),
    ({"scope": "tenant", "reference": "\x00\x01\u202e"}, "not a name or an e-mail address"),
    ({"scope": "everything", "reference": "Matter 1"}, "What the hold covers"),
])
def test_a_bad_hold_is_refused_with_a_clear_message(world: World, data: dict[str, str], message: str) -> None:
    admin = world.staff_browser(world.alpha.staff[Role.ADMIN])
    response = admin.post(page("alpha", "/holds"), data, form_url=page("alpha"))
    assert response.status_code == 400
    assert message in admin.text() and 'role="alert"' in admin.text()
    assert holds(world.ctx, active_only=False) == []


def test_another_tenants_case_cannot_be_held_from_here(world: World) -> None:
    admin = world.staff_browser(world.alpha.staff[Role.ADMIN])
    response = admin.post(page("alpha", "/holds"), {"scope": "case", "case_reference": world.beta_case.reference,
                                                    "reference": "Matter 1"}, form_url=page("alpha"))
    assert response.status_code == 400 and "No case of this organisation has this reference." in admin.text()
    assert holds(world.ctx) == []


def test_an_admin_of_alpha_cannot_see_or_change_beta(world: World, services: Services) -> None:
    beta_hold = services.retention.place_hold(world.beta.tenant_id, None, "Beta matter B-1", CLI)
    services.retention.set_policy(world.beta.tenant_id, 500, 200, CLI)
    services.session.commit()
    admin = world.staff_browser(world.alpha.staff[Role.ADMIN])
    token = admin.token(page("alpha"))
    attempts = [
        ("GET", page("beta"), {}),
        ("POST", page("beta"), {"closed_case_days": "30", "unacknowledged_case_days": "90"}),
        ("POST", page("beta", "/holds"), {"scope": "tenant", "reference": "Planted"}),
        ("POST", page("beta", "/holds/release"), {"hold_id": str(beta_hold.id)}),
        # alpha's own URL with beta's hold id (a tampered form)
        ("POST", page("alpha", "/holds/release"), {"hold_id": str(beta_hold.id)}),
        ("POST", page("alpha", "/holds/release"), {"hold_id": str(uuid.uuid4())}),
    ]
    for method, url, data in attempts:
        response = admin.get(url) if method == "GET" else admin.post(url, {**data, "csrf_token": token}, csrf=False)
        assert response.status_code == 404, (method, url, response.status_code)
        assert "Beta matter B-1" not in admin.text() and "500" not in admin.text(), url
    (still,) = holds(world.ctx)
    assert still.id == beta_hold.id
    with world.ctx.sessions() as session:
        row = session.get(RetentionPolicy, world.beta.tenant_id)
        assert row is not None and (row.closed_case_days, row.unacknowledged_case_days) == (500, 200)
    admin.get(page("alpha"))
    assert "Beta matter B-1" not in admin.text()
    malformed = admin.post(page("alpha", "/holds/release"), {"hold_id": "../beta"}, form_url=page("alpha"))
    assert malformed.status_code == 400

    beta_admin = world.staff_browser(world.beta.staff[Role.ADMIN])
    beta_admin.get(page("beta"))
    assert "Beta matter B-1" in beta_admin.text() and 'value="500"' in beta_admin.text()


@pytest.mark.parametrize("role", [Role.HANDLER, Role.AUDITOR, Role.ANALYST, Role.INSIDER_MANAGER])
def test_other_roles_are_refused(world: World, role: Role) -> None:
    browser = world.staff_browser(world.alpha.staff[role])
    token = browser.token("/staff/account")
    assert browser.get(page("alpha")).status_code == 403
    for suffix, data in (("", {"closed_case_days": "30"}), ("/holds", {"scope": "tenant", "reference": "M"}),
                         ("/holds/release", {"hold_id": str(uuid.uuid4())})):
        assert browser.post(page("alpha", suffix), {**data, "csrf_token": token}, csrf=False).status_code == 403
    assert count(world.ctx, "retention_policies") == 0 and holds(world.ctx) == []


def test_anonymous_is_sent_to_sign_in(world: World) -> None:
    anonymous = Browser(world.app)
    response = anonymous.get(page("alpha"))
    assert response.status_code in (302, 303) and response.headers["Location"].endswith("/staff/login")


@pytest.mark.parametrize(("lang", "heading", "due_label"), [
    ("sv", "Gallring och bevarandebeslut", "Inget ärende ska raderas."),
    ("de", "Aufbewahrung und Löschsperren", "Kein Fall ist zur Löschung fällig."),
])
def test_the_page_is_translated(world: World, lang: str, heading: str, due_label: str) -> None:
    admin = world.staff_browser(world.alpha.staff[Role.ADMIN])
    admin.get(page("alpha"), headers={"Accept-Language": lang})
    assert heading in admin.text() and due_label in admin.text()
    admin.post(page("alpha"), {"closed_case_days": "5"}, headers={"Accept-Language": lang})
    assert "Enter a number of days" not in admin.text()


def test_a_preview_and_a_run_agree_after_time_passes(world: World, services: Services) -> None:
    """The page's preview uses the injected clock, like the run."""
    close(services, world, world.alpha_case.id)
    services.retention.set_policy(world.alpha.tenant_id, 30, None, CLI)
    services.session.commit()
    staff = world.alpha.staff[Role.ADMIN]
    world.clock.advance(days=29)
    admin = world.staff_browser(staff)
    admin.get(page("alpha"))
    assert "No case is due for deletion." in admin.text()
    world.clock.advance(days=1)
    del world.signed_in[staff.user_id]  # a day later the session has idled out: sign in again
    admin = world.staff_browser(staff)
    admin.get(page("alpha"))
    assert "1 case is due for deletion:" in admin.text()
    assert [d.case_id for d in run_retention(world.ctx, CLI, dry_run=True).cases] == [world.alpha_case.id]
