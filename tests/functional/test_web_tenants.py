"""Tenants are segregated on every route (DESIGN: "a test tries every route across tenants").

Another tenant's objects answer exactly like objects that do not exist: 404, no content,
and nothing changes.
"""

from __future__ import annotations

import uuid

from werkzeug.test import TestResponse

from appliance.actors import Role
from appliance.context import AppContext
from appliance.services import Services
from tests.functional.world import (
    Filed,
    World,
    content_counts,
    count,
    is_redirect_to,
    make_staff,
    scalar,
)
from tests.web import Browser

ACCOUNT_ACTIONS = ("disable", "enable", "reset-2fa", "reset-password")



def leaks(response: TestResponse, *cases: Filed, typed: str = "") -> list[str]:
    """What of the cases' content or identity shows in a response (besides what the client ``typed``)."""
    body = response.get_data(as_text=True)
    response.close()
    if typed:
        body = body.replace(typed, "")
    found = []
    for case in cases:
        found += [text for text in (case.what, case.reference, case.note, case.attachment_name, case.key)
                  if text in body]
    return found


def assert_not_found(response: TestResponse, *cases: Filed) -> None:
    assert response.status_code == 404, (response.request.path, response.status_code)
    assert not leaks(response, *cases)
    assert response.headers.get("Content-Disposition") is None


def case_state(ctx: AppContext, case: Filed) -> tuple[object, ...]:
    return (scalar(ctx, "SELECT status FROM cases WHERE id = :id", id=case.id),
            scalar(ctx, "SELECT assignee_id FROM cases WHERE id = :id", id=case.id),
            count(ctx, "case_messages", "case_id = :id", id=case.id),
            count(ctx, "case_notes", "case_id = :id", id=case.id),
            count(ctx, "attachments", "case_id = :id", id=case.id))


def case_urls(case: Filed) -> list[tuple[str, str, dict[str, str]]]:
    base = f"/staff/cases/{case.id}"
    return [
        ("GET", base, {}),
        ("POST", f"{base}/status", {"status": "acknowledged"}),
        ("POST", f"{base}/assign", {"assignee": ""}),
        ("POST", f"{base}/messages", {"body": "crossing over"}),
        ("POST", f"{base}/notes", {"body": "crossing over"}),
        ("POST", f"{base}/access", {"user": ""}),
        ("POST", f"{base}/access/{uuid.uuid4()}/revoke", {}),
        ("GET", f"{base}/attachments/{case.attachment_id}", {}),
        ("GET", f"{base}/attachments/{case.reply_attachment_id}", {}),
    ]


def request(browser: Browser, method: str, url: str, data: dict[str, str], token: str) -> TestResponse:
    if method == "GET":
        return browser.get(url)
    return browser.post(url, {**data, "csrf_token": token}, csrf=False, content_type="multipart/form-data")


# --- handlers ---------------------------------------------------------------------------------
def test_a_handler_of_alpha_gets_not_found_for_every_case_url_of_beta(world: World) -> None:
    handler = world.staff_browser(world.alpha.staff[Role.HANDLER])
    token = handler.token("/staff/account")
    before = case_state(world.ctx, world.beta_case)
    for method, url, data in case_urls(world.beta_case):
        assert_not_found(request(handler, method, url, data, token), world.beta_case)
    assert case_state(world.ctx, world.beta_case) == before
    # The same handler does reach alpha's case through the same URLs.
    for method, url, data in case_urls(world.alpha_case)[:1] + case_urls(world.alpha_case)[-2:]:
        response = request(handler, method, url, data, token)
        assert response.status_code == 200, url
        response.close()


def test_roles_in_beta_do_not_open_beta_cases_to_a_handler_of_alpha(world: World, services: Services) -> None:
    """Roles are per tenant: admin, auditor and analyst of beta are not handlers of beta."""
    grants = [(world.alpha.tenant_id, Role.HANDLER)] + [(world.beta.tenant_id, r) for r in Role if r != Role.HANDLER]
    mixed = make_staff(services, world.clock, grants)
    browser = world.staff_browser(mixed)
    token = browser.token("/staff/account")
    for method, url, data in case_urls(world.beta_case):
        assert_not_found(request(browser, method, url, data, token), world.beta_case)
    queue = browser.get("/staff/queue")
    assert world.alpha_case.reference in browser.text()
    assert world.beta_case.reference not in browser.text()
    assert queue.status_code == 200


def test_the_queue_filter_cannot_reach_another_tenant(world: World) -> None:
    handler = world.staff_browser(world.alpha.staff[Role.HANDLER])
    for query in (f"tenant={world.beta.tenant_id}", f"tenant={world.beta.tenant_id}&status=received",
                  f"category={world.beta.category_id}", "status=closed", "overdue=1"):
        response = handler.get(f"/staff/queue?{query}")
        assert response.status_code == 200, query
        assert world.beta_case.reference not in handler.text(), query


def test_a_handler_cannot_assign_a_case_to_another_tenants_handler(world: World) -> None:
    handler = world.staff_browser(world.alpha.staff[Role.HANDLER])
    url = f"/staff/cases/{world.alpha_case.id}"
    response = handler.post(f"{url}/assign", {"assignee": str(world.beta.staff[Role.HANDLER].user_id)}, form_url=url)
    assert response.status_code == 400
    assert scalar(world.ctx, "SELECT assignee_id FROM cases WHERE id = :id", id=world.alpha_case.id) is None
    assert world.beta.staff[Role.HANDLER].email not in handler.text()


# --- administrators -------------------------------------------------------------------------
def admin_urls(world: World, slug: str, user_id: uuid.UUID, category_id: uuid.UUID) -> list[tuple[str, str, dict[str, str]]]:
    base = f"/admin/t/{slug}"
    return [
        ("GET", f"{base}/users", {}),
        ("POST", f"{base}/users", {"email": "intruder@example.com", "roles": "admin"}),
        ("POST", f"{base}/users/{user_id}/roles", {"role": "admin", "action": "grant"}),
        ("POST", f"{base}/users/{user_id}/roles", {"role": "handler", "action": "revoke"}),
        *[("POST", f"{base}/users/{user_id}/{action}", {}) for action in ACCOUNT_ACTIONS],
        ("GET", f"{base}/categories", {}),
        ("POST", f"{base}/categories", {"label": "Planted by another tenant"}),
        ("POST", f"{base}/categories/{category_id}/toggle", {}),
    ]


def beta_admin_state(world: World) -> tuple[object, ...]:
    handler = world.beta.staff[Role.HANDLER]
    return (count(world.ctx, "users"), count(world.ctx, "memberships"), count(world.ctx, "categories"),
            count(world.ctx, "categories", "active = :yes", yes=True),
            scalar(world.ctx, "SELECT password_hash FROM users WHERE id = :id", id=handler.user_id),
            scalar(world.ctx, "SELECT disabled_at FROM users WHERE id = :id", id=handler.user_id),
            scalar(world.ctx, "SELECT totp_enabled_at FROM users WHERE id = :id", id=handler.user_id),
            count(world.ctx, "web_sessions", "user_id = :id", id=handler.user_id))


def test_an_admin_of_alpha_gets_not_found_for_beta_pages_and_users(world: World) -> None:
    beta_handler = world.beta.staff[Role.HANDLER]
    world.staff_browser(beta_handler)  # a live session that a successful disable would end
    admin = world.staff_browser(world.alpha.staff[Role.ADMIN])
    token = admin.token("/staff/account")
    before = beta_admin_state(world)
    urls = (admin_urls(world, "beta", beta_handler.user_id, world.beta.category_id)
            # alpha's pages with beta's objects in them
            + admin_urls(world, "alpha", beta_handler.user_id, world.beta.category_id)[2:-3]
            + [("POST", f"/admin/t/alpha/categories/{world.beta.category_id}/toggle", {})])
    for method, url, data in urls:
        response = request(admin, method, url, data, token)
        assert response.status_code == 404, (method, url, response.status_code)
        assert beta_handler.email not in response.get_data(as_text=True), url
    assert beta_admin_state(world) == before
    assert world.staff_browser(beta_handler).get("/staff/queue").status_code == 200

    admin.get("/admin/")
    assert "/admin/t/beta/" not in admin.text()
    admin.get("/admin/t/alpha/users")
    assert beta_handler.email not in admin.text() and world.beta.staff[Role.ADMIN].email not in admin.text()


def test_unknown_tenants_and_users_are_not_found_for_an_admin(world: World) -> None:
    admin = world.staff_browser(world.alpha.staff[Role.ADMIN])
    token = admin.token("/staff/account")
    for method, url, data in admin_urls(world, "no-such-tenant", world.target.user_id, world.alpha.category_id):
        assert request(admin, method, url, data, token).status_code == 404, url
    for method, url, data in admin_urls(world, "alpha", uuid.uuid4(), uuid.uuid4())[2:]:
        if "/categories" in url and not url.endswith("/toggle"):
            continue
        assert request(admin, method, url, data, token).status_code == 404, url
    assert admin.get("/admin/t/alpha/users/not-a-uuid/disable").status_code in (404, 405)
    assert admin.post("/admin/t/alpha/users/not-a-uuid/disable", form_url="/staff/account").status_code == 404


# --- reporters ------------------------------------------------------------------------------
def test_a_reporter_session_of_alpha_opens_nothing_under_beta(world: World) -> None:
    reporter = world.reporter_browser(world.alpha, world.alpha_case)
    token = reporter.token("/r/alpha/case")
    before = content_counts(world.ctx)
    for response in (
        reporter.get("/r/beta/case"),
        reporter.get(f"/r/beta/case/attachments/{world.alpha_case.attachment_id}"),
        reporter.get(f"/r/beta/case/attachments/{world.beta_case.attachment_id}"),
        reporter.post("/r/beta/case/reply", {"body": "crossing over", "csrf_token": token}, csrf=False,
                      content_type="multipart/form-data"),
    ):
        assert response.status_code == 404 or is_redirect_to(response, "/r/beta/follow-up"), response.status_code
        assert not leaks(response, world.alpha_case, world.beta_case)
    assert content_counts(world.ctx) == before
    # Its own tenant still works: the failed attempts did not end or widen the session.
    assert reporter.get("/r/alpha/case").status_code == 200
    assert world.beta_case.what not in reporter.text()


def test_a_case_key_of_alpha_does_not_open_in_beta(world: World) -> None:
    reporter = world.browser("192.0.2.20")
    response = reporter.post("/r/beta/follow-up", {"case_key": world.alpha_case.key})
    assert response.status_code == 400
    assert "not recognised" in response.get_data(as_text=True)
    assert not leaks(response, world.alpha_case, world.beta_case, typed=world.alpha_case.key)
    assert not [c for c in response.headers.getlist("Set-Cookie") if c.startswith("appliance-reporter=")]
    assert is_redirect_to(reporter.get("/r/beta/case"), "/r/beta/follow-up")
    assert is_redirect_to(reporter.get("/r/alpha/case"), "/r/alpha/follow-up")


def test_a_reporter_reads_only_attachments_of_their_own_case(world: World) -> None:
    reporter = world.reporter_browser(world.alpha, world.alpha_case)
    for attachment_id in (world.alpha_other_case.attachment_id, world.alpha_other_case.reply_attachment_id,
                          world.beta_case.attachment_id, uuid.uuid4()):
        assert_not_found(reporter.get(f"/r/alpha/case/attachments/{attachment_id}"),
                         world.alpha_other_case, world.beta_case)
    for bad in ("not-a-uuid", "..%2F..%2Fetc%2Fpasswd", f"{world.alpha_case.attachment_id}x"):
        assert_not_found(reporter.get(f"/r/alpha/case/attachments/{bad}"), world.alpha_case)


# --- tampered ids -------------------------------------------------------------------------------
TAMPERED = (
    "/staff/cases/{random}",
    "/staff/cases/{case}/attachments/{random}",
    "/staff/cases/{case}/attachments/{other_attachment}",
    "/staff/cases/{other_case}/attachments/{attachment}",
    "/staff/cases/not-a-uuid",
    "/staff/cases/{case}x",
    "/staff/cases/{case}/attachments/not-a-uuid",
    "/staff/cases/{case}/attachments/..%2F..%2Fetc%2Fpasswd",
    "/staff/cases/%27%20OR%201=1--",
    "/r/no-such-tenant/",
    "/r/no-such-tenant/report",
    "/r/%3Cscript%3E/follow-up",
)


def test_tampered_ids_are_not_found_without_content(world: World) -> None:
    handler = world.staff_browser(world.alpha.staff[Role.HANDLER])
    for path in TAMPERED:
        url = path.format(random=uuid.uuid4(), case=world.alpha_case.id, other_case=world.alpha_other_case.id,
                          attachment=world.alpha_case.attachment_id,
                          other_attachment=world.alpha_other_case.attachment_id)
        assert_not_found(handler.get(url), world.alpha_case, world.alpha_other_case, world.beta_case)


def test_tampered_ids_in_posts_change_nothing(world: World) -> None:
    handler = world.staff_browser(world.alpha.staff[Role.HANDLER])
    token = handler.token("/staff/account")
    before = content_counts(world.ctx)
    for target in (uuid.uuid4(), "not-a-uuid"):
        for method, url, data in case_urls(world.alpha_case)[1:5]:
            tampered = url.replace(str(world.alpha_case.id), str(target))
            response = request(handler, method, tampered, data, token)
            assert response.status_code in (404, 405), (tampered, response.status_code)
    response = handler.post(f"/staff/cases/{world.alpha_case.id}/assign", {"assignee": "not-a-uuid"},
                            form_url="/staff/account")
    assert response.status_code == 400
    assert content_counts(world.ctx) == before
