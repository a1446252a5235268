"""Every route declares who may use it, and the declaration holds for every role (DESIGN: security model).

The URL map is walked, not a hand-written list: a new route without a policy fails here by
name, and a new route parameter without a real id to fill it fails here too.
"""

from __future__ import annotations

import pytest
from werkzeug.test import TestResponse

from appliance.actors import Role
from tests.functional.world import (
    Call,
    World,
    calls,
    fill_values,
    is_redirect_to,
    location_path,
    policy_for,
    routes_without_policy,
)
from tests.web import Browser
from webapp.policy import POLICIES, required_role

STAFF_LOGIN = "/staff/login"


def send(browser: Browser, call: Call, token: str | None) -> TestResponse:
    if call.method == "GET":
        response = browser.get(call.url)
    else:
        response = browser.post(call.url, {"csrf_token": token} if token else {}, csrf=False)
    response.get_data()
    response.close()  # static files and downloads hold a file or a DB stream until closed
    return response


def permitted(policy: str, role: Role) -> bool:
    needed = required_role(policy)
    return needed is None or needed == role



# --- declarations -------------------------------------------------------------------------
def test_every_route_declares_an_access_policy(app) -> None:  # type: ignore[no-untyped-def]
    missing = routes_without_policy(app)
    assert not missing, f"routes without an access policy: {missing}"
    assert {policy_for(app, rule.endpoint) for rule in app.url_map.iter_rules()} <= POLICIES


def test_the_walk_sees_every_blueprint(app) -> None:  # type: ignore[no-untyped-def]
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert {"static", "common.index", "reporter.report", "reporter.case", "handler.case", "handler.login",
            "admin.users", "handler.grant_access", "handler.revoke_access", "admin.readers", "api.create_report",
            "api.openapi"} <= endpoints


def test_a_route_without_policy_is_named_and_refused(app) -> None:  # type: ignore[no-untyped-def]
    app.add_url_rule("/undeclared/<thing>", "undeclared", lambda thing: f"open {thing}")
    assert routes_without_policy(app) == ["/undeclared/<thing> -> undeclared"]
    response = app.test_client().get("/undeclared/door")
    assert response.status_code == 500
    assert b"open door" not in response.data


# --- the role x route matrix ----------------------------------------------------------------
def test_staff_routes_for_each_role_and_anonymous(world: World) -> None:
    app = world.app
    all_calls = list(calls(app, fill_values(world)))
    staff_calls = [c for c in all_calls if c.policy == "staff" or c.policy.startswith("staff:")]
    assert {c.endpoint for c in staff_calls} >= {"handler.queue", "handler.download", "admin.account_action",
                                                 "handler.account"}

    anonymous = world.browser()
    anonymous_token = anonymous.token("/staff/login")
    for call in staff_calls:
        if call.method == "GET":
            response = anonymous.get(call.url)
            assert is_redirect_to(response, STAFF_LOGIN), f"anonymous {call}: {response.status_code}"
        else:
            response = anonymous.post(call.url, csrf=False)
            assert response.status_code == 400, f"anonymous {call} without token: {response.status_code}"
            response = anonymous.post(call.url, {"csrf_token": anonymous_token}, csrf=False)
            assert is_redirect_to(response, STAFF_LOGIN), f"anonymous {call} with token: {response.status_code}"

    failures = []
    for role, staff in world.alpha.staff.items():
        browser = world.staff_browser(staff)
        token = browser.token("/staff/account")
        for call in staff_calls:
            response = send(browser, call, token)
            status = response.status_code
            if permitted(call.policy, role):
                if status in (403, 404) or status >= 500 or is_redirect_to(response, STAFF_LOGIN):
                    failures.append(f"{role.value} refused on {call}: {status}")
            elif status != 403:
                failures.append(f"{role.value} let through on {call}: {status}")
    assert not failures, "\n".join(failures)
    # Still signed in after the whole walk: nothing in it ended a session by accident.
    assert world.staff_browser(world.alpha.staff[Role.HANDLER]).get("/staff/queue").status_code == 200


def test_an_admin_of_another_tenant_gets_not_found_on_tenant_routes(world: World) -> None:
    admin_of_beta = world.staff_browser(world.beta.staff[Role.ADMIN])
    token = admin_of_beta.token("/staff/account")
    tenant_calls = [c for c in calls(world.app, fill_values(world)) if c.endpoint.startswith("admin.")
                    and "/t/alpha/" in c.url]
    assert tenant_calls
    for call in tenant_calls:
        assert send(admin_of_beta, call, token).status_code == 404, str(call)


def test_signin_routes_are_reachable_without_a_session(world: World) -> None:
    anonymous = world.browser()
    assert anonymous.get("/staff/login").status_code == 200
    for url in ("/staff/2fa", "/staff/enrol"):
        assert is_redirect_to(anonymous.get(url), STAFF_LOGIN), url
    assert anonymous.post("/staff/logout", csrf=False).status_code == 400
    assert is_redirect_to(anonymous.post("/staff/logout", form_url="/staff/login"), STAFF_LOGIN)


def test_public_and_reporter_routes_are_reachable_anonymously(world: World) -> None:
    anonymous = world.browser()
    public = [c for c in calls(world.app, fill_values(world)) if c.policy in ("public", "reporter")]
    assert {c.endpoint for c in public} >= {"common.index", "static", "reporter.portal", "reporter.report",
                                            "reporter.follow_up"}
    token = anonymous.token("/")
    for call in public:
        response = send(anonymous, call, token)
        status = response.status_code
        assert status < 500 and status not in (401, 403, 404), f"{call}: {status}"
        assert location_path(response) != STAFF_LOGIN, str(call)
        if call.method == "GET":
            assert status == 200, f"{call}: {status}"


@pytest.mark.parametrize("staff_signed_in", [False, True], ids=["anonymous", "with-staff-session"])
def test_api_routes_need_a_bearer_token_whatever_the_cookies(world: World, staff_signed_in: bool) -> None:
    chief = world.alpha.staff[Role.ADMIN]
    browser = world.staff_browser(chief) if staff_signed_in else world.browser()
    api_calls = [c for c in calls(world.app, fill_values(world)) if c.policy.startswith("api:")]
    assert {c.endpoint for c in api_calls} >= {"api.create_report", "api.categories"}
    for call in api_calls:
        response = browser.client.open(call.url, method=call.method, json={})
        assert response.status_code == 401, f"{call}: {response.status_code}"
        assert response.mimetype == "application/problem+json"
        assert "Set-Cookie" not in response.headers


@pytest.mark.parametrize("staff_signed_in", [False, True], ids=["anonymous", "with-staff-session"])
def test_reporter_session_routes_need_a_case_key(world: World, staff_signed_in: bool) -> None:
    browser = world.staff_browser(world.alpha.staff[Role.HANDLER]) if staff_signed_in else world.browser()
    token = browser.token("/r/alpha/follow-up")
    session_calls = [c for c in calls(world.app, fill_values(world)) if c.policy == "reporter-session"]
    assert {c.endpoint for c in session_calls} == {"reporter.case", "reporter.reply", "reporter.download",
                                                   "reporter.sign_out", "reporter.approve_record",
                                                   "reporter.correct_record", "reporter.notify",
                                                   "reporter.answer_consent"}
    for call in session_calls:
        response = send(browser, call, token)
        assert is_redirect_to(response, "/r/alpha/follow-up"), f"{call}: {response.status_code}"
        assert world.alpha_case.what.encode() not in response.data


def test_reporter_session_routes_work_with_a_case_key(world: World) -> None:
    reporter = world.reporter_browser(world.alpha, world.alpha_case)
    assert reporter.get("/r/alpha/case").status_code == 200
    for attachment_id in (world.alpha_case.attachment_id, world.alpha_case.reply_attachment_id):
        download = reporter.get(f"/r/alpha/case/attachments/{attachment_id}")
        assert download.status_code == 200 and download.data
    # A reporter session opens no staff page.
    assert is_redirect_to(reporter.get("/staff/queue"), STAFF_LOGIN)
    assert is_redirect_to(reporter.get("/admin/"), STAFF_LOGIN)
