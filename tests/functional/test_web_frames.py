"""Pages a reporter or a staff user meets off the happy path keep their frame (issue 18): error
pages inside the organisation's portal or the staff frame with a link back, the warning before
the last case-key attempt, the page after signing out, and two-factor enrolment on a phone."""

from __future__ import annotations

import logging
import re

import pytest
import sqlalchemy as sa
from flask import abort

from appliance.actors import CLI, Role
from appliance.crypto.case_keys import CaseKey
from appliance.services import Services
from tests.functional.world import PASSWORD, World, is_redirect_to
from webapp.policy import access


def test_reporter_error_pages_keep_the_organisations_portal(world: World) -> None:
    browser = world.browser()
    for url in ("/r/alpha/no-such-page", "/r/alpha/case/attachments/not-an-id"):
        response = browser.get(url)
        assert response.status_code == 404, url
        page = browser.text()
        assert 'alt="Alpha Ltd"' in page and "Report a concern" in page  # alpha's logo (world.py) names it
        assert '<a href="/r/alpha/" data-testid="back">Back to the start page</a>' in page
        assert "Case handling" not in page
    # A slug that names no organisation: the plain frame, and nothing about tenants.
    assert browser.get("/r/nobody-here/no-such-page").status_code == 404
    assert "Report a concern" not in browser.text() and 'href="/"' in browser.text()
    assert browser.get("/r/" + "x" * 5000 + "/").status_code == 404


def test_a_403_on_a_reporter_url_keeps_the_portal(world: World) -> None:
    @access("reporter")
    def forbidden(slug: str) -> str:
        abort(403)

    world.app.add_url_rule("/r/<slug>/test-forbidden", "test_forbidden", forbidden)
    browser = world.browser()
    response = browser.get("/r/alpha/test-forbidden")
    assert response.status_code == 403
    assert 'alt="Alpha Ltd"' in browser.text() and 'href="/r/alpha/" data-testid="back"' in browser.text()


def test_staff_error_pages_keep_the_staff_frame(world: World) -> None:
    handler = world.staff_browser(world.alpha.staff[Role.HANDLER])
    response = handler.get("/admin/")
    assert response.status_code == 403
    page = handler.text()
    assert "Case handling" in page and "Work queue" in page  # the staff frame with its navigation
    assert '<a href="/staff/" data-testid="back">Back to the staff start page</a>' in page
    assert handler.get("/staff/no-such-page").status_code == 404
    assert 'href="/staff/" data-testid="back"' in handler.text()
    anonymous = world.browser()
    assert anonymous.get("/no-such-page").status_code == 404
    assert '<a href="/" data-testid="back">' in anonymous.text() and "Case handling" not in anonymous.text()


def test_the_follow_up_warns_before_the_last_attempt_and_says_when_the_pause_began(world: World) -> None:
    threshold = world.ctx.settings.lockout_case_key_threshold
    minutes = max(1, (world.ctx.settings.lockout_case_key_seconds + 59) // 60)
    guesser = world.browser("198.51.100.20")
    assert 'data-testid="last-attempt"' not in guesser.get("/r/alpha/follow-up").get_data(as_text=True)
    for attempt in range(1, threshold + 1):
        guess = CaseKey.new().display
        response = guesser.post("/r/alpha/follow-up", {"case_key": guess})
        assert response.status_code == 400
        page = guesser.text()
        assert guess not in page.replace(f'value="{guess}"', "")  # only in the field it was typed into
        if attempt < threshold - 1:
            assert 'data-testid="last-attempt"' not in page, attempt
        elif attempt == threshold - 1:
            assert f"One attempt left before a pause of {minutes} minute(s)." in page
        else:
            assert 'data-testid="key-paused"' in page and "further attempts are paused" in page
    # A return visit during the pause says so, and the right key waits for it.
    assert 'data-testid="key-paused"' in guesser.get("/r/alpha/follow-up").get_data(as_text=True)
    assert guesser.post("/r/alpha/follow-up", {"case_key": world.alpha_case.key}).status_code == 429
    # Another client is not warned.
    assert 'data-testid="last-attempt"' not in world.browser("198.51.100.21").get("/r/alpha/follow-up").get_data(
        as_text=True)


def test_signing_out_ends_on_a_page_that_says_what_to_do_next(world: World) -> None:
    reporter = world.reporter_browser(world.alpha, world.alpha_case)
    response = reporter.post("/r/alpha/case/sign-out", form_url="/r/alpha/case")
    assert is_redirect_to(response, "/r/alpha/signed-out")
    page = reporter.get("/r/alpha/signed-out").get_data(as_text=True)
    assert reporter.last is not None and reporter.last.status_code == 200
    assert "Your session is closed." in page and "clear the browser" in page
    assert 'data-testid="follow-up-url">http://localhost/r/alpha/follow-up<' in page
    assert world.alpha_case.what not in page and world.alpha_case.key not in page
    assert reporter.last.headers["Cache-Control"] == "no-store"
    assert is_redirect_to(reporter.get("/r/alpha/case"), "/r/alpha/follow-up")  # the session is gone
    assert world.browser().get("/r/nobody-here/signed-out").status_code == 404


def test_enrolment_groups_the_secret_and_offers_the_otpauth_link_only_in_a_no_store_page(
        world: World, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with world.ctx.unit_of_work() as session:  # a fresh account: the world's staff have enrolled already
        user, _ = Services(world.ctx, session).users.create_user(
            "phone@alpha.example.com", PASSWORD, [(world.alpha.tenant_id, Role.AUDITOR)], CLI, chosen_by_user=True)
        user_id = user.id
    browser = world.browser()
    response = browser.post("/staff/login", {"email": "phone@alpha.example.com", "password": PASSWORD})
    assert is_redirect_to(response, "/staff/enrol")
    response = browser.get("/staff/enrol")
    page = browser.text()
    assert response.headers["Cache-Control"] == "no-store"
    grouped = re.search(r'data-testid="totp-secret">([A-Z2-7 ]+)<', page)
    assert grouped
    groups = grouped.group(1).split(" ")
    assert all(len(g) == 4 for g in groups[:-1]) and 1 <= len(groups[-1]) <= 4
    secret = "".join(groups)
    link = re.search(r'<a href="(otpauth://totp/[^"]+)" data-testid="otpauth">', page)
    assert link and f"secret={secret}" in link.group(1)
    # Never in a URL of ours, a log line or the logbook.
    assert secret not in response.headers.get("Location", "") and secret not in caplog.text
    with world.ctx.sessions() as session:
        logbook = " ".join(str(row) for row in session.execute(sa.text("SELECT * FROM audit_events")).all())
    assert secret not in logbook and str(user_id) in logbook


def test_an_organisations_name_is_text_in_every_frame(world: World) -> None:
    payload = '<script>alert("frame")</script> AB'
    with world.ctx.unit_of_work() as session:
        Services(world.ctx, session).tenants.create_tenant(payload, "xss", CLI)
    browser = world.browser()
    for url, status in (("/r/xss/no-such-page", 404), ("/r/xss/signed-out", 200)):
        assert browser.get(url).status_code == status, url
        assert payload not in browser.text() and "&lt;script&gt;alert(" in browser.text()
