"""Attacks over HTTP: CSRF, XSS, hostile attachments, oversized uploads, guessing, session theft,
missing headers, open redirects and administrators overreaching (DESIGN: security model)."""

from __future__ import annotations

import datetime as dt
import io
import re
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from flask import Flask
from werkzeug.datastructures import FileStorage
from werkzeug.test import TestResponse, encode_multipart

from appliance.actors import CLI, Role
from appliance.context import AppContext
from appliance.crypto import totp
from appliance.crypto.case_keys import CaseKey
from appliance.services import Services
from appliance.users.models import User
from tests.functional.world import (
    PASSWORD,
    Staff,
    World,
    app_with,
    assert_hardened,
    calls,
    content_counts,
    count,
    fill_values,
    is_redirect_to,
    make_staff,
    scalar,
)
from tests.support import FrozenClock, principal, start_reader_list
from tests.web import Browser, file, receipt_key, sign_in
from webapp import FORM_OVERHEAD

STAFF_COOKIE = "appliance-staff"
REPORTER_COOKIE = "appliance-reporter"


def cookie(browser: Browser, name: str) -> str | None:
    held = browser.client.get_cookie(name)
    return held.value if held is not None else None


def wrong_code(secret: str, at: dt.datetime) -> str:
    valid = {totp.current_code(secret, at + dt.timedelta(seconds=d)) for d in (-30, 0, 30)}
    return next(c for c in ("000000", "111111", "222222", "333333") if c not in valid)


def password_step(browser: Browser, staff: Staff, password: str = PASSWORD) -> TestResponse:
    return browser.post("/staff/login", {"email": staff.email, "password": password})


# --- CSRF ---------------------------------------------------------------------------------
def test_every_post_route_refuses_a_missing_or_foreign_csrf_token(world: World, services: Services) -> None:
    chief = make_staff(services, world.clock, [(world.alpha.tenant_id, r) for r in Role])
    browser = world.staff_browser(chief)
    foreign = world.browser().token("/")
    payload = {
        "status": "acknowledged", "assignee": str(chief.user_id), "body": "forged", "note": "forged",
        "email": "forged@example.com", "roles": "admin", "role": "admin", "action": "grant", "label": "forged",
        "lang": "sv", "next": "/", "category": str(world.alpha.category_id), "what": "forged",
        "case_key": world.alpha_case.key, "current": PASSWORD, "new": "forged forged forged", "confirm": "forged forged forged",
    }
    before = (content_counts(world.ctx), count(world.ctx, "users"), count(world.ctx, "memberships"),
              count(world.ctx, "categories"), count(world.ctx, "users", "disabled_at IS NOT NULL"),
              scalar(world.ctx, "SELECT status FROM cases WHERE id = :id", id=world.alpha_case.id))
    # API routes read no cookie and take bearer tokens instead (tests/functional/test_web_api.py).
    posts = [c for c in calls(world.app, fill_values(world)) if c.method == "POST" and not c.policy.startswith("api:")]
    assert {c.endpoint for c in posts} >= {"handler.logout", "admin.account_action", "reporter.report", "common.language"}
    for call in posts:
        for token in (None, "forged", foreign):
            data = dict(payload) if token is None else {**payload, "csrf_token": token}
            response = browser.post(call.url, data, csrf=False)
            assert response.status_code == 400, f"{call} with token {token!r}: {response.status_code}"
            assert_hardened(response)
    after = (content_counts(world.ctx), count(world.ctx, "users"), count(world.ctx, "memberships"),
             count(world.ctx, "categories"), count(world.ctx, "users", "disabled_at IS NOT NULL"),
             scalar(world.ctx, "SELECT status FROM cases WHERE id = :id", id=world.alpha_case.id))
    assert after == before
    assert browser.get("/staff/queue").status_code == 200  # the forged logout did not sign out


# --- XSS ------------------------------------------------------------------------------------
SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
SVG = "<svg onload=alert(1)>"
FILE_IMG = "'><img src=x onerror=alert(2)>.pdf"  # browsers send a double quote in a file name as %22
FILE_SVG = "<svg onload=alert(3)>.txt"
CONTACT = "<script>alert(4)</script>@evil.example"
EMAIL = "<img/src=x/onerror=alert(5)>@evil.example"
RAW = ("<script>alert", "<img src=x", "<img/src=x", "<svg onload", "onerror=alert(1)>", '"><img', "'><img")


def assert_escaped(page: str, where: str) -> None:
    found = [raw for raw in RAW if raw in page]
    assert not found, f"raw markup {found} in {where}"


def test_markup_in_every_field_is_shown_escaped(app, ctx: AppContext, services: Services,  # type: ignore[no-untyped-def]
                                                clock: FrozenClock) -> None:
    tenant = services.tenants.create_tenant(f"{SVG} Ltd", "xss", CLI)
    services.session.commit()
    admin = make_staff(services, clock, [(tenant.id, Role.ADMIN)])
    handler_staff = make_staff(services, clock, [(tenant.id, Role.HANDLER)])
    start_reader_list(services, tenant.id, principal(services, handler_staff.user_id, PASSWORD),
                      principal(services, admin.user_id, PASSWORD))
    services.session.commit()
    pages: dict[str, str] = {}

    administrator = Browser(app)
    assert sign_in(administrator, admin.email, PASSWORD, admin.secret, clock).status_code == 303
    assert administrator.post("/admin/t/xss/categories", {"label": SCRIPT}).status_code == 200
    assert administrator.post("/admin/t/xss/users", {"email": EMAIL, "roles": "handler"}).status_code == 200
    pages["admin users"] = administrator.text()
    category_id = next(str(c.id) for c in services.tenants.categories(tenant.id) if c.label == SCRIPT)
    new_handler = services.users.by_email(EMAIL).id
    services.session.rollback()

    reporter = Browser(app)
    fields = {"what": SCRIPT + IMG + SVG, "when": IMG, "where": SCRIPT, "people": SVG + SCRIPT, "contact": CONTACT}
    refused = reporter.post("/r/xss/report", {**fields, "category": ""}, content_type="multipart/form-data")
    assert refused.status_code == 400
    pages["report form with errors"] = reporter.text()
    key = receipt_key(reporter, reporter.post(
        "/r/xss/report", {**fields, "category": category_id,
                          "attachments": [file(FILE_IMG, b"%PDF-1.4"), file(FILE_SVG, b"text", "text/plain")]},
        content_type="multipart/form-data"))
    pages["receipt"] = reporter.text()
    assert reporter.post("/r/xss/follow-up", {"case_key": key}).status_code == 303
    assert reporter.post("/r/xss/case/reply", {"body": IMG, "attachments": [file(FILE_SVG, b"more", "text/plain")]},
                         form_url="/r/xss/case", content_type="multipart/form-data").status_code == 303

    handler = Browser(app)
    assert sign_in(handler, handler_staff.email, PASSWORD, handler_staff.secret, clock).status_code == 303
    handler.get("/staff/queue")
    case_id = re.search(r'href="/staff/cases/([0-9a-f-]{36})"', handler.text())
    assert case_id
    case_url = f"/staff/cases/{case_id.group(1)}"
    assert handler.post(f"{case_url}/messages", {"body": SCRIPT, "attachments": [file(FILE_IMG, b"%PDF-1.4")]},
                        form_url=case_url, content_type="multipart/form-data").status_code == 303
    assert handler.post(f"{case_url}/notes", {"body": SVG + IMG}, form_url=case_url).status_code == 303
    assert handler.post(f"{case_url}/assign", {"assignee": str(new_handler)}, form_url=case_url).status_code == 303
    for name, url in (("queue", "/staff/queue"), ("case", case_url)):
        assert handler.get(url).status_code == 200
        pages[f"handler {name}"] = handler.text()
    for name, url in (("portal", "/r/xss/"), ("report form", "/r/xss/report"), ("case", "/r/xss/case")):
        assert reporter.get(url).status_code == 200
        pages[f"reporter {name}"] = reporter.text()
    for name, url in (("index", "/admin/"), ("users", "/admin/t/xss/users"), ("categories", "/admin/t/xss/categories"),
                      ("readers", "/admin/t/xss/readers"),
                      ("reset password", f"/admin/t/xss/users/{new_handler}/reset-password")):
        assert administrator.get(url).status_code == 200
        pages[f"admin {name}"] = administrator.text()
    not_found = reporter.get("/r/xss/%22%3E%3Cscript%3Ealert(1)%3C/script%3E")
    assert not_found.status_code == 404
    pages["not found"] = reporter.text()

    for where, page in pages.items():
        assert_escaped(page, where)
    for where in ("handler case", "reporter case"):
        page = pages[where]
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page, where
        assert "&lt;img src=x onerror=alert(1)&gt;" in page, where
        assert "&lt;svg onload=alert(3)&gt;.txt" in page, where
        assert "&lt;img src=x onerror=alert(2)&gt;.pdf" in page, where
    assert "&lt;script&gt;alert(4)&lt;/script&gt;@evil.example" in pages["handler case"]
    assert "&lt;img/src=x/onerror=alert(5)&gt;@evil.example" in pages["handler case"]
    assert "&lt;svg onload=alert(1)&gt; Ltd" in pages["reporter portal"]
    for where in ("admin readers", "admin reset password"):
        assert "&lt;img/src=x/onerror=alert(5)&gt;@evil.example" in pages[where], where
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in pages["reporter report form"]

    for href in re.findall(rf'href="({case_url}/attachments/[0-9a-f-]{{36}})"', pages["handler case"]):
        download = handler.get(href)
        assert download.status_code == 200
        disposition = download.headers["Content-Disposition"]
        assert disposition.startswith("attachment;") and disposition.count('"') == 2, disposition
        assert download.data
        assert "\r" not in disposition and "\n" not in disposition


# --- hostile attachments -----------------------------------------------------------------------
def test_attachments_download_sandboxed_whatever_their_type(world: World) -> None:
    reporter = world.browser("192.0.2.30")
    hostile = [file("page.html", b"<html><script>alert(document.cookie)</script>", "text/html"),
               file("image.svg", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', "image/svg+xml"),
               file("notes.txt", b"<script>alert(1)</script>", "text/plain"),
               file("page.xhtml", b"<html/>", "application/xhtml+xml; charset=utf-8")]
    key = receipt_key(reporter, reporter.post(
        "/r/alpha/report", {"category": str(world.alpha.category_id), "what": "hostile files",
                            "attachments": hostile}, content_type="multipart/form-data"))
    assert reporter.post("/r/alpha/follow-up", {"case_key": key}).status_code == 303
    reporter.get("/r/alpha/case")
    reporter_links = re.findall(r'href="(/r/alpha/case/attachments/[0-9a-f-]{36})"', reporter.text())
    handler = world.staff_browser(world.alpha.staff[Role.HANDLER])
    handler.get("/staff/queue")
    case_ids = re.findall(r'href="/staff/cases/([0-9a-f-]{36})"', handler.text())
    handler_links = [link for case_id in case_ids
                     for link in re.findall(rf'href="(/staff/cases/{case_id}/attachments/[0-9a-f-]{{36}})"',
                                            handler.get(f"/staff/cases/{case_id}").get_data(as_text=True))]
    assert len(reporter_links) == len(hostile) and len(handler_links) >= len(hostile)
    for browser, link in [(reporter, link) for link in reporter_links] + [(handler, link) for link in handler_links]:
        download = browser.get(link)
        assert download.status_code == 200 and download.data
        headers = download.headers
        assert headers["Content-Disposition"].startswith("attachment;"), link
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Content-Security-Policy"] == "default-src 'none'; sandbox"
        assert download.mimetype not in ("text/html", "image/svg+xml", "application/xhtml+xml"), download.mimetype
        assert "no-store" in headers["Cache-Control"]
        assert_hardened(download)


def raw_multipart(fields: dict[str, str], files: list[tuple[str, bytes]]) -> tuple[str, bytes]:
    """A form as a browser encodes it: file names go into the header as they are (a backslash
    is not escaped; only a quote would be sent as %22)."""
    boundary = uuid.uuid4().hex
    out = b""
    for name, value in fields.items():
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").encode()
    for filename, data in files:
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"attachments\"; filename=\"{filename}\"\r\n"
                "Content-Type: application/pdf\r\n\r\n").encode() + data + b"\r\n"
    return boundary, out + f"--{boundary}--\r\n".encode()


def test_a_windows_path_in_an_upload_keeps_only_the_base_name(world: World) -> None:
    reporter = world.browser("192.0.2.31")
    long_name = "Quarterly figures " + "q" * 300 + ".xlsx"
    boundary, body = raw_multipart(
        {**reporter.form_fields("/r/alpha/report"), "category": str(world.alpha.category_id),
         "what": "files from a Windows machine"},
        [("C:\\Users\\victim.name\\Documents\\Whistle\\evidence.pdf", b"%PDF-1.4 one"),
         ("\\\\fileserver\\home$\\victim.name\\" + long_name, b"%PDF-1.4 two")])
    key = receipt_key(reporter, reporter.client.post("/r/alpha/report", data=body,
                                                     content_type=f"multipart/form-data; boundary={boundary}"))
    assert reporter.post("/r/alpha/follow-up", {"case_key": key}).status_code == 303
    page = reporter.get("/r/alpha/case").get_data(as_text=True)
    assert ">evidence.pdf<" in page
    shortened = re.search(r">(Quarterly figures q+\.xlsx)<", page)
    assert shortened and len(shortened.group(1)) == 200  # shortened in its stem, the extension kept
    assert "victim" not in page and "Users" not in page and "fileserver" not in page


# --- oversized uploads --------------------------------------------------------------------------
PER_FILE = 64 * 1024
PER_REPORT = 160 * 1024


@pytest.fixture
def small_app(ctx: AppContext, clock: FrozenClock) -> Iterator[Flask]:
    yield from app_with(ctx, clock, max_attachment_bytes=PER_FILE, max_report_bytes=PER_REPORT)


def stored_nothing(world: World, before: dict[str, int]) -> None:
    assert content_counts(world.ctx) == before


def test_a_file_over_the_limit_is_refused_and_nothing_is_stored(world: World, small_app: Flask) -> None:
    reporter = Browser(small_app)
    before = content_counts(world.ctx)
    response = reporter.post("/r/alpha/report", {"category": str(world.alpha.category_id), "what": "too big",
                                                 "attachments": [file("big.pdf", b"x" * (PER_FILE + 1))]},
                             content_type="multipart/form-data")
    assert response.status_code == 413
    assert "too big" not in reporter.text()
    assert_hardened(response)
    stored_nothing(world, before)


def test_files_together_over_the_report_limit_are_refused_and_nothing_is_stored(world: World, small_app: Flask) -> None:
    reporter = Browser(small_app)
    before = content_counts(world.ctx)

    def parts(n: int) -> list[tuple[io.BytesIO, str, str]]:
        return [file(f"part{i}.pdf", b"y" * (PER_FILE - 10)) for i in range(n)]  # each fits, three do not

    response = reporter.post("/r/alpha/report", {"category": str(world.alpha.category_id), "what": "three parts",
                                                 "attachments": parts(3)}, content_type="multipart/form-data")
    assert response.status_code == 413
    stored_nothing(world, before)
    # Two of them fit: the limits are not simply refusing everything.
    response = reporter.post("/r/alpha/report", {"category": str(world.alpha.category_id), "what": "two parts",
                                                 "attachments": parts(2)}, content_type="multipart/form-data")
    assert response.status_code == 303
    assert content_counts(world.ctx)["attachments"] == before["attachments"] + 2


def test_oversized_replies_store_no_message(world: World, small_app: Flask) -> None:
    reporter = Browser(small_app)
    assert reporter.post("/r/alpha/follow-up", {"case_key": world.alpha_case.key}).status_code == 303
    before = content_counts(world.ctx)
    response = reporter.post("/r/alpha/case/reply", {"body": "see attached",
                                                     "attachments": [file("big.pdf", b"z" * (PER_FILE + 1))]},
                             form_url="/r/alpha/case", content_type="multipart/form-data")
    assert response.status_code == 413
    stored_nothing(world, before)

    handler = Browser(small_app)
    staff = world.alpha.staff[Role.HANDLER]
    assert sign_in(handler, staff.email, PASSWORD, staff.secret, world.clock).status_code == 303
    case_url = f"/staff/cases/{world.alpha_case.id}"
    response = handler.post(f"{case_url}/messages", {"body": "see attached",
                                                     "attachments": [file(f"p{i}.pdf", b"w" * (PER_FILE - 1))
                                                                     for i in range(3)]},
                            form_url=case_url, content_type="multipart/form-data")
    assert response.status_code == 413
    stored_nothing(world, before)


def test_a_request_over_max_content_length_is_refused(world: World, small_app: Flask) -> None:
    reporter = Browser(small_app)
    before = content_counts(world.ctx)
    limit = small_app.config["MAX_CONTENT_LENGTH"]
    assert limit == PER_REPORT + FORM_OVERHEAD
    # Encoded here in memory: the test client would spool a body this large to a temporary
    # file that it never closes once the app refuses to read it.
    boundary, body = encode_multipart({"csrf_token": reporter.token("/r/alpha/report"),
                                       "category": str(world.alpha.category_id), "what": "huge",
                                       "attachments": FileStorage(io.BytesIO(b"h" * (limit + 1)), "huge.pdf",
                                                                  content_type="application/pdf")})
    assert len(body) > limit
    response = reporter.client.post("/r/alpha/report", data=body,
                                    content_type=f"multipart/form-data; boundary={boundary}")
    assert response.status_code == 413
    assert_hardened(response)
    stored_nothing(world, before)


# --- guessing: lockouts -------------------------------------------------------------------------
def assert_locked(response: TestResponse) -> int:
    assert response.status_code == 429, response.status_code
    retry = int(response.headers["Retry-After"])
    assert retry >= 1
    assert_hardened(response)
    return retry


def test_wrong_passwords_lock_the_attackers_client_not_the_account(world: World) -> None:
    staff = world.alpha.staff[Role.AUDITOR]
    attacker = world.browser("198.51.100.1")
    threshold = world.ctx.settings.lockout_threshold
    for _ in range(threshold):
        assert password_step(attacker, staff, "wrong password guess").status_code == 401
    retry = assert_locked(password_step(attacker, staff))
    assert retry <= world.ctx.settings.lockout_base_seconds
    # The owner, from a client that did not fail, is let in: failing on purpose locks nobody out.
    assert is_redirect_to(password_step(world.browser("198.51.100.2"), staff), "/staff/2fa")
    assert_locked(password_step(attacker, staff))  # while the attacker's client stays locked
    world.clock.advance(seconds=retry)
    assert is_redirect_to(password_step(attacker, staff), "/staff/2fa")  # and only briefly


def test_wrong_codes_lock_the_second_factor(world: World) -> None:
    staff = world.alpha.staff[Role.ANALYST]
    attacker = world.browser("198.51.100.4")
    assert is_redirect_to(password_step(attacker, staff), "/staff/2fa")
    world.clock.advance(seconds=30)
    for _ in range(world.ctx.settings.lockout_threshold):
        code = wrong_code(staff.secret, world.clock())
        assert attacker.post("/staff/2fa", {"code": code}).status_code == 401
    assert_locked(attacker.post("/staff/2fa", {"code": totp.current_code(staff.secret, world.clock())}))
    assert is_redirect_to(attacker.get("/staff/queue"), "/staff/login")


def test_wrong_case_keys_pause_the_follow_up(world: World) -> None:
    guesser = world.browser("198.51.100.5")
    for _ in range(world.ctx.settings.lockout_case_key_threshold):
        guess = CaseKey.new().display
        assert guess != world.alpha_case.key
        assert guesser.post("/r/alpha/follow-up", {"case_key": guess}).status_code == 400
    response = guesser.post("/r/alpha/follow-up", {"case_key": world.alpha_case.key})
    assert assert_locked(response) == world.ctx.settings.lockout_case_key_seconds
    assert cookie(guesser, REPORTER_COOKIE) is None
    page = response.get_data(as_text=True)
    assert world.alpha_case.what not in page
    assert "Alpha Ltd" in page and 'href="/r/alpha/"' in page  # in the organisation's reporter frame
    # Another reporter (another client) is not held up, and the pause is short.
    assert world.browser("198.51.100.8").post("/r/alpha/follow-up", {"case_key": world.alpha_case.key}).status_code == 303
    world.clock.advance(seconds=world.ctx.settings.lockout_case_key_seconds)
    assert guesser.post("/r/alpha/follow-up", {"case_key": world.alpha_case.key}).status_code == 303


def test_a_totp_code_cannot_be_replayed_in_its_time_step(world: World) -> None:
    staff = world.alpha.staff[Role.INSIDER_MANAGER]
    world.clock.advance(seconds=30)
    code = totp.current_code(staff.secret, world.clock())
    first = world.browser("198.51.100.6")
    assert is_redirect_to(password_step(first, staff), "/staff/2fa")
    assert is_redirect_to(first.post("/staff/2fa", {"code": code}), "/staff/")
    second = world.browser("198.51.100.7")  # someone who saw the code and knows the password
    assert is_redirect_to(password_step(second, staff), "/staff/2fa")
    assert second.post("/staff/2fa", {"code": code}).status_code == 401
    assert is_redirect_to(second.get("/staff/"), "/staff/login")
    assert first.get("/staff/account").status_code == 200


# --- sessions -------------------------------------------------------------------------------------
def test_the_session_cookie_rotates_at_each_sign_in_step(world: World) -> None:
    staff = world.alpha.staff[Role.AUDITOR]
    browser = world.browser()
    browser.client.set_cookie(STAFF_COOKIE, "planted-by-an-attacker")
    assert is_redirect_to(password_step(browser, staff), "/staff/2fa")
    after_password = cookie(browser, STAFF_COOKIE)
    assert after_password and after_password != "planted-by-an-attacker"
    world.clock.advance(seconds=30)
    assert is_redirect_to(browser.post("/staff/2fa", {"code": totp.current_code(staff.secret, world.clock())}),
                          "/staff/")
    signed_in = cookie(browser, STAFF_COOKIE)
    assert signed_in and signed_in != after_password
    assert browser.get("/staff/account").status_code == 200
    for stale in (after_password, "planted-by-an-attacker"):
        thief = world.browser()
        thief.client.set_cookie(STAFF_COOKIE, stale)
        assert is_redirect_to(thief.get("/staff/"), "/staff/login"), stale
        assert is_redirect_to(thief.get("/staff/2fa"), "/staff/login"), stale


def test_logout_deletes_the_server_side_session(world: World) -> None:
    staff = world.alpha.staff[Role.HANDLER]
    browser = world.staff_browser(staff)
    token = cookie(browser, STAFF_COOKIE)
    assert token and count(world.ctx, "web_sessions", "user_id = :id", id=staff.user_id) == 1
    response = browser.post("/staff/logout", form_url="/staff/queue")
    assert is_redirect_to(response, "/staff/login")
    assert any(c.startswith(f"{STAFF_COOKIE}=;") for c in response.headers.getlist("Set-Cookie"))
    assert count(world.ctx, "web_sessions", "user_id = :id", id=staff.user_id) == 0
    replay = world.browser()
    replay.client.set_cookie(STAFF_COOKIE, token)
    assert is_redirect_to(replay.get("/staff/queue"), "/staff/login")


def test_reporter_sign_out_deletes_the_server_side_session(world: World) -> None:
    reporter = world.reporter_browser(world.alpha, world.alpha_case)
    token = cookie(reporter, REPORTER_COOKIE)
    assert token and count(world.ctx, "web_sessions", "case_id = :id", id=world.alpha_case.id) == 1
    assert is_redirect_to(reporter.post("/r/alpha/case/sign-out", form_url="/r/alpha/case"), "/r/alpha/signed-out")
    assert count(world.ctx, "web_sessions", "case_id = :id", id=world.alpha_case.id) == 0
    replay = world.browser()
    replay.client.set_cookie(REPORTER_COOKIE, token)
    assert is_redirect_to(replay.get("/r/alpha/case"), "/r/alpha/follow-up")


def test_an_idle_session_ends(world: World) -> None:
    browser = world.staff_browser(world.alpha.staff[Role.HANDLER])
    world.clock.advance(minutes=29)
    assert browser.get("/staff/queue").status_code == 200  # activity keeps it alive
    world.clock.advance(minutes=31)
    assert is_redirect_to(browser.get("/staff/queue"), "/staff/login")
    world.clock.advance(minutes=1)
    assert is_redirect_to(browser.get("/staff/queue"), "/staff/login")


def test_an_active_session_ends_after_the_absolute_limit(world: World) -> None:
    browser = world.staff_browser(world.alpha.staff[Role.HANDLER])
    hours = world.ctx.settings.session_absolute_hours
    step = dt.timedelta(minutes=25)
    elapsed = dt.timedelta(seconds=30)  # sign_in waited for a fresh code after the password step
    while elapsed + step < dt.timedelta(hours=hours):
        world.clock.advance(minutes=25)
        elapsed += step
        assert browser.get("/staff/queue").status_code == 200, elapsed
    world.clock.advance(minutes=25)
    assert is_redirect_to(browser.get("/staff/queue"), "/staff/login")


def test_an_idle_reporter_session_ends(world: World) -> None:
    reporter = world.reporter_browser(world.alpha, world.alpha_case)
    world.clock.advance(minutes=world.ctx.settings.reporter_session_minutes + 1)
    assert is_redirect_to(reporter.get("/r/alpha/case"), "/r/alpha/follow-up")


def test_a_disabled_users_session_stops_working(world: World) -> None:
    handler = world.alpha.staff[Role.HANDLER]
    victim = world.staff_browser(handler)
    admin = world.staff_browser(world.alpha.staff[Role.ADMIN])
    assert admin.post(f"/admin/t/alpha/users/{handler.user_id}/disable", {"confirmed": "yes"},
                      form_url="/admin/t/alpha/users").status_code == 303
    assert is_redirect_to(victim.get("/staff/queue"), "/staff/login")
    assert password_step(world.browser(), handler).status_code == 401

    # Disabled behind the app's back (no session clean-up): the guard still refuses.
    target = world.staff_browser(world.target)
    with world.ctx.sessions() as session:
        session.get_one(User, world.target.user_id).disabled_at = world.clock()
        session.commit()
    assert count(world.ctx, "web_sessions", "user_id = :id", id=world.target.user_id) == 1
    assert is_redirect_to(target.get("/staff/queue"), "/staff/login")
    assert is_redirect_to(target.get("/staff/account"), "/staff/login")


def test_the_account_pages_password_check_is_throttled_logged_and_ends_other_sessions(world: World) -> None:
    staff = world.alpha.staff[Role.HANDLER]
    here = world.staff_browser(staff)
    elsewhere = world.browser("198.51.100.9")  # e.g. a stolen or forgotten session on another machine
    assert is_redirect_to(password_step(elsewhere, staff), "/staff/2fa")
    world.clock.advance(seconds=30)
    assert is_redirect_to(elsewhere.post("/staff/2fa", {"code": totp.current_code(staff.secret, world.clock())}),
                          "/staff/")
    assert count(world.ctx, "web_sessions", "user_id = :id", id=staff.user_id) == 2
    new_password = "a brand new passphrase for alpha"

    def change(current: str) -> TestResponse:
        return here.post("/staff/account", {"current": current, "new": new_password, "confirm": new_password})

    threshold = world.ctx.settings.lockout_threshold
    for _ in range(threshold):
        assert change("not my password").status_code == 400
    assert count(world.ctx, "audit_events", "action = 'user.password_change_failed' AND object_id = :id",
                 id=str(staff.user_id)) == threshold
    retry = assert_locked(change(PASSWORD))  # the right one too, while the lock lasts
    world.clock.advance(seconds=retry)

    assert change(PASSWORD).status_code == 200
    assert count(world.ctx, "web_sessions", "user_id = :id", id=staff.user_id) == 1
    assert is_redirect_to(elsewhere.get("/staff/queue"), "/staff/login")  # every other session ended
    assert here.get(f"/staff/cases/{world.alpha_case.id}").status_code == 200  # this one goes on, key and all
    assert is_redirect_to(password_step(world.browser("198.51.100.10"), staff, new_password), "/staff/2fa")
    assert count(world.ctx, "audit_events", "action = 'user.password_changed' AND object_id = :id",
                 id=str(staff.user_id)) == 1


# --- cookies and headers ------------------------------------------------------------------------
def set_cookies(responses: list[TestResponse]) -> list[str]:
    return [c for r in responses for c in r.headers.getlist("Set-Cookie")]


def sign_in_and_collect(browser: Browser, world: World, staff: Staff, **kw: object) -> list[TestResponse]:
    responses = [browser.get("/staff/login", **kw)]
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', responses[0].get_data(as_text=True))
    assert token
    responses.append(browser.client.post("/staff/login", data={"csrf_token": token.group(1), "email": staff.email,
                                                               "password": PASSWORD}, **kw))
    assert is_redirect_to(responses[-1], "/staff/2fa"), responses[-1].status_code
    world.clock.advance(seconds=30)
    responses.append(browser.client.post("/staff/2fa", data={"csrf_token": token.group(1),
                                                             "code": totp.current_code(staff.secret, world.clock())},
                                         **kw))
    assert is_redirect_to(responses[-1], "/staff/"), responses[-1].status_code
    responses.append(browser.client.get("/staff/queue", **kw))
    assert responses[-1].status_code == 200
    responses.append(browser.client.post("/staff/logout", data={"csrf_token": token.group(1)}, **kw))
    assert is_redirect_to(responses[-1], "/staff/login")
    return responses


def test_cookies_are_httponly_and_samesite_strict(world: World) -> None:
    browser = world.browser()
    responses = sign_in_and_collect(browser, world, world.alpha.staff[Role.HANDLER])
    reporter = world.browser("192.0.2.40")
    responses.append(reporter.post("/r/alpha/follow-up", {"case_key": world.alpha_case.key}))
    responses.append(reporter.post("/language", {"lang": "sv", "next": "/r/alpha/case"}, form_url="/r/alpha/case"))
    responses.append(reporter.post("/r/alpha/case/sign-out", form_url="/r/alpha/case"))
    cookies = set_cookies(responses)
    names = {c.split("=", 1)[0] for c in cookies}
    assert names == {"appliance-form", STAFF_COOKIE, REPORTER_COOKIE}
    for value in cookies:
        assert "; HttpOnly" in value and "; SameSite=Strict" in value and "; Path=/" in value, value
        assert "Domain=" not in value, value


def test_secure_cookies_use_the_host_prefix_and_work_over_https(world: World) -> None:
    for secure_app in app_with(world.ctx, world.clock, cookie_secure=True, base_url="https://appliance.example"):
        browser = Browser(secure_app)
        # No Referer is sent: the pages' Referrer-Policy is no-referrer, so browsers send none.
        responses = sign_in_and_collect(browser, world, world.alpha.staff[Role.HANDLER], base_url="https://localhost")
        cookies = set_cookies(responses)
        assert {c.split("=", 1)[0] for c in cookies} == {"__Host-form", "__Host-staff"}
        for value in cookies:
            assert "; Secure" in value and "; HttpOnly" in value and "; SameSite=Strict" in value, value
            assert "; Path=/" in value and "Domain=" not in value, value
        assert "max-age=" in responses[0].headers.get("Strict-Transport-Security", "")


def test_security_headers_on_every_kind_of_page(world: World, services: Services) -> None:
    anonymous = world.browser()
    responses = [anonymous.get(url) for url in ("/", "/healthz", "/readyz", "/r/alpha/", "/r/alpha/report",
                                                "/r/alpha/follow-up", "/staff/login", "/no/such/page",
                                                "/staff/queue", "/language", "/r/no-such-tenant/")]
    responses.append(anonymous.post("/staff/login", csrf=False))
    responses.append(anonymous.post("/r/alpha/report", {"category": str(world.alpha.category_id),
                                                        "what": "headers"}, content_type="multipart/form-data"))
    assert responses[-1].status_code == 303  # on to the receipt, with the case key on it
    responses.append(anonymous.get(responses[-1].headers["Location"]))
    assert responses[-1].status_code == 200 and 'data-testid="case-key"' in anonymous.text()
    responses.append(anonymous.post("/staff/login", {"email": "nobody@example.com", "password": "wrong"}))

    reporter = world.reporter_browser(world.alpha, world.alpha_case)
    responses += [reporter.get("/r/alpha/case"), reporter.get(f"/r/alpha/case/attachments/{uuid.uuid4()}")]

    handler = world.staff_browser(world.alpha.staff[Role.HANDLER])
    case_url = f"/staff/cases/{world.alpha_case.id}"
    responses += [handler.get(url) for url in ("/staff/", "/staff/queue", case_url, "/staff/account",
                                               f"/staff/cases/{uuid.uuid4()}")]
    responses.append(handler.get(f"{case_url}/attachments/{world.alpha_case.attachment_id}"))
    assert responses[-1].data  # a streamed download holds its request context until read
    responses.append(handler.post(f"{case_url}/notes", {"body": ""}, form_url=case_url))
    admin = world.staff_browser(world.alpha.staff[Role.ADMIN])
    responses += [admin.get(url) for url in ("/admin/", "/admin/t/alpha/users", "/admin/t/alpha/categories",
                                             "/admin/t/beta/users", "/staff/queue")]
    auditor = world.staff_browser(world.alpha.staff[Role.AUDITOR])
    responses += [auditor.get("/staff/"), auditor.get("/admin/")]

    newcomer = Browser(world.app)
    _, enrolment = services.users.create_user("newcomer@alpha.example.com", PASSWORD,
                                              [(world.alpha.tenant_id, Role.HANDLER)], CLI, with_totp=True)
    services.session.commit()
    assert enrolment is not None
    responses.append(newcomer.post("/staff/login", {"email": "newcomer@alpha.example.com", "password": PASSWORD}))
    responses.append(newcomer.get("/staff/enrol"))
    world.clock.advance(seconds=30)
    responses.append(newcomer.post("/staff/enrol", {"code": totp.current_code(enrolment.secret, world.clock())}))
    assert "recovery" in newcomer.text().lower()

    statuses = {r.status_code for r in responses}
    assert {200, 302, 303, 400, 401, 403, 404, 405} <= statuses
    for response in responses:
        assert_hardened(response)
        response.close()
    static = anonymous.get("/static/app.css")
    assert static.status_code == 200
    assert_hardened(static, page=False)
    static.close()


# --- open redirects -------------------------------------------------------------------------------
EVIL_NEXT = ("//evil.example", "https://evil.example", "http:evil.example", "/\\evil.example", "\\\\evil.example",
             "/\t/evil.example", "/\n/evil.example", "/\r/evil.example", " //evil.example", "///evil.example",
             "/\x00/evil.example", "/\x0b/evil.example", "javascript:alert(1)", "\t//evil.example",
             "/\u3000/evil.example", "https:/\\evil.example", "")


def lands_on_this_site(location: str) -> bool:
    # What a browser does with a Location: drop tabs and newlines, trim C0 controls and spaces.
    cleaned = re.sub(r"[\t\n\r]", "", location).strip("".join(map(chr, range(33))))
    parts = urlsplit(cleaned.replace("\\", "/"))
    return not parts.scheme and not parts.netloc and cleaned.startswith("/") and not cleaned.startswith("//")


def test_the_language_switch_refuses_open_redirects(world: World) -> None:
    browser = world.browser()
    token = browser.token("/")
    for target in EVIL_NEXT:
        response = browser.post("/language", {"csrf_token": token, "lang": "sv", "next": target}, csrf=False)
        assert response.status_code == 303, repr(target)
        location = response.headers["Location"]
        assert lands_on_this_site(location), (target, location)
        assert "evil.example" not in urlsplit(location).netloc
    response = browser.post("/language", {"csrf_token": token, "lang": "en", "next": "/r/alpha/report"}, csrf=False)
    assert response.headers["Location"] == "/r/alpha/report"


# --- administrators overreaching -------------------------------------------------------------------
def test_an_admin_cannot_change_an_account_shared_with_another_tenant(world: World, services: Services) -> None:
    shared = make_staff(services, world.clock, [(world.alpha.tenant_id, Role.HANDLER), (world.beta.tenant_id, Role.HANDLER)])
    world.staff_browser(shared)
    admin = world.staff_browser(world.alpha.staff[Role.ADMIN])
    before = scalar(world.ctx, "SELECT password_hash FROM users WHERE id = :id", id=shared.user_id)
    for action in ("disable", "reset-2fa", "reset-password"):
        response = admin.post(f"/admin/t/alpha/users/{shared.user_id}/{action}", form_url="/admin/t/alpha/users")
        assert response.status_code == 403, action
        assert "Not allowed" in admin.text()
    assert scalar(world.ctx, "SELECT disabled_at FROM users WHERE id = :id", id=shared.user_id) is None
    assert scalar(world.ctx, "SELECT password_hash FROM users WHERE id = :id", id=shared.user_id) == before
    assert scalar(world.ctx, "SELECT totp_enabled_at FROM users WHERE id = :id", id=shared.user_id) is not None
    assert world.staff_browser(shared).get("/staff/queue").status_code == 200
    # Roles in the admin's own tenant remain theirs to manage.
    response = admin.post(f"/admin/t/alpha/users/{shared.user_id}/roles", {"role": "auditor", "action": "grant"},
                          form_url="/admin/t/alpha/users")
    assert is_redirect_to(response, "/admin/t/alpha/users")


def test_an_admin_cannot_remove_their_own_admin_role_or_disable_themselves(world: World) -> None:
    staff = world.alpha.staff[Role.ADMIN]
    admin = world.staff_browser(staff)
    response = admin.post(f"/admin/t/alpha/users/{staff.user_id}/roles", {"role": "admin", "action": "revoke"},
                          form_url="/admin/t/alpha/users")
    assert response.status_code == 400
    for action in ("disable", "reset-2fa"):
        assert admin.post(f"/admin/t/alpha/users/{staff.user_id}/{action}",
                          form_url="/admin/t/alpha/users").status_code == 400, action
    assert count(world.ctx, "memberships", "user_id = :id AND role = :role", id=staff.user_id, role="admin") == 1
    assert scalar(world.ctx, "SELECT disabled_at FROM users WHERE id = :id", id=staff.user_id) is None
    assert admin.get("/admin/t/alpha/users").status_code == 200

