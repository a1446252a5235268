"""The Readers pages over HTTP: a handler starts the list, the compliance lead confirms it with
the fingerprint, an administrator proposes, a reader confirms or rejects. Access policies,
CSRF, other tenants, roles, the people concerned and forged input (both databases)."""

from __future__ import annotations

import re
import uuid

import sqlalchemy as sa

from appliance.actors import CLI, Role
from appliance.readers.models import ReaderChange, ReaderListEntry, ReaderNotice
from appliance.services import Services
from tests.functional.world import (
    PASSWORD,
    Staff,
    World,
    audit_details,
    count,
    is_redirect_to,
    make_staff,
    scalar,
)
from tests.web import Browser, sign_in, submit_report

FINGERPRINT = re.compile(r'data-testid="my-fingerprint">\s*<p>[^<]*<code class="secret">([0-9A-F ]{39})</code>')



def pending_ids(world: World, tenant_id: uuid.UUID) -> list[uuid.UUID]:
    with world.ctx.sessions() as session:
        return list(session.execute(sa.select(ReaderChange.id).where(
            ReaderChange.tenant_id == tenant_id, ReaderChange.state == "pending")
            .order_by(ReaderChange.created_at)).scalars())


def entries(world: World, tenant_id: uuid.UUID) -> int:
    return count(world.ctx, "reader_list_entries", "tenant_id = :t", t=tenant_id)


def my_fingerprint(browser: Browser) -> str:
    match = FINGERPRINT.search(browser.get("/staff/readers").get_data(as_text=True))
    assert match, browser.text()
    return match.group(1)


def test_the_reader_routes_declare_their_policies(app) -> None:  # type: ignore[no-untyped-def]
    from webapp.policy import policy_of

    expected = {"handler.readers": "staff:handler", "handler.start_list": "staff:handler",
                "handler.decide": "staff:handler", "handler.restore_reporter_copy": "staff:handler",
                "handler.choose_password": "staff-signin", "admin.readers": "staff:admin",
                "admin.propose": "staff:admin", "admin.propose_for_reader": "staff:admin",
                "admin.confirm_start": "staff:admin", "admin.withdraw": "staff:admin"}
    assert {endpoint: policy_of(app.view_functions[endpoint]) for endpoint in expected} == expected


def test_who_sees_the_readers_pages(world: World) -> None:
    assert is_redirect_to(world.browser().get("/staff/readers"), "/staff/login")
    assert world.staff_browser(world.alpha.staff[Role.AUDITOR]).get("/staff/readers").status_code == 403
    handler = world.staff_browser(world.alpha.staff[Role.HANDLER])
    page = handler.get("/staff/readers").get_data(as_text=True)
    assert world.alpha.staff[Role.HANDLER].email in page and world.target.email in page
    assert "Beta Ltd" not in page and world.beta.staff[Role.HANDLER].email not in page
    assert world.staff_browser(world.alpha.staff[Role.HANDLER]).get("/admin/t/alpha/readers").status_code == 403
    assert world.staff_browser(world.beta.staff[Role.ADMIN]).get("/admin/t/alpha/readers").status_code == 404
    admin = world.staff_browser(world.alpha.staff[Role.ADMIN])
    assert admin.get("/admin/t/alpha/readers").status_code == 200
    assert 'href="/admin/t/alpha/readers"' in admin.get("/admin/").get_data(as_text=True)
    assert "appliance keys escrow init --organisation alpha" in admin.get("/admin/t/alpha/readers").get_data(
        as_text=True)


def test_a_new_organisation_is_started_by_its_handler_and_the_lead_typing_the_fingerprint(
        world: World, services: Services) -> None:
    tenant = services.tenants.create_tenant("Gamma AB", "gamma", CLI)
    services.session.commit()
    handler = make_staff(services, world.clock, [(tenant.id, Role.HANDLER)], "first@gamma.example.com")
    lead = make_staff(services, world.clock, [(tenant.id, Role.ADMIN)], "lead@gamma.example.com")
    category = str(services.tenants.categories(tenant.id)[0].id)
    services.session.commit()
    reporter = world.browser("192.0.2.77")
    assert "This channel cannot receive reports yet." in reporter.get("/r/gamma/").get_data(as_text=True)

    first = world.staff_browser(handler)
    assert 'data-testid="not-started"' in first.get("/staff/readers").get_data(as_text=True)
    assert first.post("/staff/readers/gamma/start", {}, csrf=False).status_code == 400  # CSRF
    assert is_redirect_to(first.post("/staff/readers/gamma/start", {}, form_url="/staff/readers"), "/staff/readers")
    fingerprint = my_fingerprint(first)
    (change_id,) = pending_ids(world, tenant.id)

    admin = world.staff_browser(lead)
    page = admin.get("/admin/t/gamma/readers").get_data(as_text=True)
    assert "first@gamma.example.com asks to be the first reader." in page
    assert fingerprint not in page  # the lead must hear it from the handler, not read it here
    url = f"/admin/t/gamma/readers/changes/{change_id}/confirm-start"
    prefix = f"c{change_id.hex[:12]}-"
    wrong = "0000 " * 7 + "0000"
    assert admin.post(url, {f"{prefix}fingerprint": wrong}, form_url="/admin/t/gamma/readers").status_code == 400
    assert "This is not the fingerprint of this request." in admin.text()
    xss = '<script>alert(1)</script>'
    assert admin.post(url, {f"{prefix}fingerprint": xss}, form_url="/admin/t/gamma/readers").status_code == 400
    assert xss not in admin.text()
    assert entries(world, tenant.id) == 0
    assert admin.post(url, {f"{prefix}fingerprint": fingerprint.lower()}, csrf=False).status_code == 400  # CSRF
    assert is_redirect_to(admin.post(url, {f"{prefix}fingerprint": fingerprint.lower()},
                                     form_url="/admin/t/gamma/readers"), "/admin/t/gamma/readers")
    assert entries(world, tenant.id) == 1
    assert "first@gamma.example.com" in first.get("/staff/readers").get_data(as_text=True)
    submit_report(reporter, "gamma", category, what="now someone can read it")
    assert "now someone can read it" in first.get(f"/staff/cases/{newest_case(world)}").get_data(as_text=True)


def newest_case(world: World) -> uuid.UUID:
    return uuid.UUID(str(scalar(world.ctx, "SELECT id FROM cases ORDER BY received_at DESC, id LIMIT 1")))


def test_an_admin_proposes_and_only_another_reader_confirms(world: World, services: Services) -> None:
    newcomer = make_staff(services, world.clock, [(world.alpha.tenant_id, Role.HANDLER)], "new@alpha.example.com")
    admin = world.staff_browser(world.alpha.staff[Role.ADMIN])
    for token in (None, "forged"):
        data = {"user": str(newcomer.user_id), "receives": "yes"} | ({"csrf_token": token} if token else {})
        assert admin.post("/admin/t/alpha/readers/propose", data, csrf=False).status_code == 400
    for stranger in (world.beta.staff[Role.HANDLER].user_id, world.alpha.staff[Role.AUDITOR].user_id,
                     world.target.user_id, uuid.uuid4(), "not-a-uuid"):
        response = admin.post("/admin/t/alpha/readers/propose", {"user": str(stranger), "receives": "yes"},
                              form_url="/admin/t/alpha/readers")
        assert response.status_code == 400, stranger
    assert pending_ids(world, world.alpha.tenant_id) == []
    response = admin.post("/admin/t/alpha/readers/propose", {"user": str(newcomer.user_id), "receives": "yes"},
                          form_url="/admin/t/alpha/readers")
    assert is_redirect_to(response, "/admin/t/alpha/readers")
    (change_id,) = pending_ids(world, world.alpha.tenant_id)
    assert count(world.ctx, "reader_notices", "change_id = :c", c=change_id) == 1
    before = entries(world, world.alpha.tenant_id)

    confirm = f"/staff/readers/alpha/changes/{change_id}/confirm"
    themselves = world.staff_browser(newcomer)
    assert themselves.post(confirm, {}, form_url="/staff/readers").status_code == 403  # not a reader
    assert world.staff_browser(world.beta.staff[Role.HANDLER]).post(
        confirm, {}, form_url="/staff/readers").status_code == 404  # another tenant's handler
    reader = world.staff_browser(world.alpha.staff[Role.HANDLER])
    assert reader.post(confirm, {}, csrf=False).status_code == 400  # CSRF
    assert entries(world, world.alpha.tenant_id) == before
    assert "Add new@alpha.example.com as a reader who receives every new report." in reader.get(
        "/staff/readers").get_data(as_text=True)
    assert is_redirect_to(reader.post(confirm, {}, form_url="/staff/readers"), "/staff/readers")
    assert entries(world, world.alpha.tenant_id) == before + 1
    assert reader.post(confirm, {}, form_url="/staff/readers").status_code == 409  # decided already
    case_id, _key = file_case_over_http(world, "reaches the newcomer")
    assert "reaches the newcomer" in themselves.get(f"/staff/cases/{case_id}").get_data(as_text=True)
    details = audit_details(world.ctx, "readers.changed")
    assert details and all("new@alpha" not in d for d in details)
    with world.ctx.sessions() as session:
        events = session.execute(sa.select(ReaderNotice.event).where(ReaderNotice.change_id == change_id)).scalars()
        assert sorted(events) == ["confirmed", "proposed"]


def file_case_over_http(world: World, what: str) -> tuple[uuid.UUID, str]:
    key = submit_report(world.browser("192.0.2.50"), world.alpha.slug, str(world.alpha.category_id), what=what)
    return newest_case(world), key


def test_a_reader_rejects_and_an_admin_withdraws(world: World, services: Services) -> None:
    admin = world.staff_browser(world.alpha.staff[Role.ADMIN])
    url = f"/admin/t/alpha/readers/{world.target.user_id}/stop-receiving"
    assert admin.post(url, {}, csrf=False).status_code == 400
    assert is_redirect_to(admin.post(url, {}, form_url="/admin/t/alpha/readers"), "/admin/t/alpha/readers")
    assert is_redirect_to(admin.post(f"/admin/t/alpha/readers/{world.alpha.staff[Role.HANDLER].user_id}/remove", {},
                                     form_url="/admin/t/alpha/readers"), "/admin/t/alpha/readers")
    first, second = pending_ids(world, world.alpha.tenant_id)
    reader = world.staff_browser(world.alpha.staff[Role.HANDLER])
    assert is_redirect_to(reader.post(f"/staff/readers/alpha/changes/{first}/reject", {},
                                      form_url="/staff/readers"), "/staff/readers")
    assert is_redirect_to(admin.post(f"/admin/t/alpha/readers/changes/{second}/withdraw", {},
                                     form_url="/admin/t/alpha/readers"), "/admin/t/alpha/readers")
    with world.ctx.sessions() as session:
        states = dict(session.execute(sa.select(ReaderChange.id, ReaderChange.state).where(
            ReaderChange.id.in_([first, second]))).all())
    assert states == {first: "rejected", second: "withdrawn"}
    assert "readers.rejected" in [a for a in audit_actions(world)] and "readers.withdrawn" in audit_actions(world)
    case_id, _ = file_case_over_http(world, "still to both")
    assert "still to both" in world.staff_browser(world.target).get(f"/staff/cases/{case_id}").get_data(as_text=True)


def audit_actions(world: World) -> list[str]:
    with world.ctx.sessions() as session:
        return list(session.execute(sa.text("SELECT action FROM audit_events ORDER BY seq")).scalars())


def test_an_account_made_by_an_admin_gets_its_key_only_with_the_users_own_password(
        world: World, services: Services) -> None:
    admin = world.staff_browser(world.alpha.staff[Role.ADMIN])
    response = admin.post("/admin/t/alpha/users", {"email": "fresh@alpha.example.com", "roles": ["handler"]})
    assert response.status_code == 200
    password = re.search(r'data-testid="new-password">([^<]+)<', admin.text())
    assert password, admin.text()
    user = services.users.by_email("fresh@alpha.example.com")
    assert user.public_key is None and user.must_change_password
    services.session.commit()

    browser = world.browser()
    response = browser.post("/staff/login", {"email": "fresh@alpha.example.com", "password": password.group(1)})
    assert is_redirect_to(response, "/staff/enrol")
    enrol = browser.get("/staff/enrol").get_data(as_text=True)
    secret = re.search(r'data-testid="totp-secret">([A-Z2-7 ]+)<', enrol)
    assert secret, enrol
    world.clock.advance(seconds=30)
    from appliance.crypto import totp

    codes = browser.post("/staff/enrol", {"code": totp.current_code(secret.group(1).replace(" ", ""), world.clock())})
    assert 'href="/staff/choose-password"' in codes.get_data(as_text=True)
    assert is_redirect_to(browser.get("/staff/queue"), "/staff/login")  # no access before the choice
    assert browser.post("/staff/choose-password", {"new": "short", "confirm": "short"}).status_code == 400
    chosen = "my very own staff password"
    response = browser.post("/staff/choose-password", {"new": chosen, "confirm": chosen})
    assert is_redirect_to(response, "/staff/")
    services.session.expire_all()
    user = services.users.by_email("fresh@alpha.example.com")
    assert user.public_key is not None and not user.must_change_password and services.users.keys_bound(user)
    services.session.commit()  # (SQLite: one writer at a time)
    assert "user.password_chosen" in audit_actions(world)
    assert browser.get("/staff/readers").status_code == 200 and my_fingerprint(browser)


def test_after_a_reset_the_new_key_waits_for_another_reader(world: World, services: Services) -> None:
    target: Staff = world.target
    services.users.set_password(target.user_id, "reset by the administrator", CLI)
    services.session.commit()
    browser = world.browser()
    response = sign_in(browser, target.email, "reset by the administrator", target.secret, world.clock)
    assert is_redirect_to(response, "/staff/choose-password")
    chosen = "the target's own once more"
    assert is_redirect_to(browser.post("/staff/choose-password", {"new": chosen, "confirm": chosen}), "/staff/")
    (change_id,) = pending_ids(world, world.alpha.tenant_id)
    page = browser.get("/staff/readers").get_data(as_text=True)
    assert "has a new key" in page and f"/changes/{change_id}/confirm" not in page  # not their own
    reader = world.staff_browser(world.alpha.staff[Role.HANDLER])
    assert "target@alpha.example.com has a new key (after their password was reset)." in reader.get(
        "/staff/readers").get_data(as_text=True)
    assert is_redirect_to(reader.post(f"/staff/readers/alpha/changes/{change_id}/confirm", {},
                                      form_url="/staff/readers"), "/staff/readers")
    case_id, _ = file_case_over_http(world, "to the new key")
    assert "to the new key" in browser.get(f"/staff/cases/{case_id}").get_data(as_text=True)
    with world.ctx.sessions() as session:
        assert session.execute(sa.select(sa.func.count()).select_from(ReaderListEntry)).scalar_one() >= 4
    assert PASSWORD not in str(audit_details(world.ctx, "readers.changed"))
