"""What people do on the site, as a browser does it: click, type, choose files, submit.

Each step calls ``look(page, name)`` on every page state worth checking, so the same walk
serves the slice test (screenshots), the accessibility test (axe) and the script check.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from playwright.sync_api import Page, expect

from tests.browser.conftest import Site

Look = Callable[[Page, str], None]
EVIDENCE = b"%PDF-1.4 evidence\n" * 2000
REPORT_TEXT = "Stock is sold off the books every Friday."
ANSWER = "Thank you, we are looking into it."
NOTE = "Internal only: check the delivery notes."
REPLY = "More details: it started in January."


def nothing(_page: Page, _name: str) -> None:
    pass


def pdf(name: str, data: bytes) -> dict[str, Any]:
    return {"name": name, "mimeType": "application/pdf", "buffer": data}


# --- reporter -----------------------------------------------------------------------------
def make_report(page: Page, site: Site, look: Look = nothing, *, show_errors: bool = False) -> str:
    """From the portal to the receipt; returns the case key."""
    page.goto(f"/r/{site.slug}/")
    expect(page.get_by_role("heading", level=1)).to_contain_text(site.tenant_name)
    look(page, "portal")
    page.get_by_role("link", name="Start a report").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Make a report")
    look(page, "report-form")
    if show_errors:
        page.get_by_role("button", name="Send report").click()
        expect(page.get_by_role("alert")).to_contain_text("Please correct the following")
        expect(page.get_by_label("What happened?")).to_have_attribute("aria-invalid", "true")
        look(page, "report-form-errors")
    page.get_by_label("What is it about?").select_option(label=site.category)
    page.get_by_label("What happened?").fill(REPORT_TEXT)
    page.get_by_label("When did it happen?").fill("Every Friday since January")
    page.get_by_label("Where did it happen?").fill("The north warehouse")
    page.get_by_label("Who is involved?").fill("The shift manager")
    page.get_by_label("Documents or pictures (optional)").set_input_files(pdf("evidence.pdf", EVIDENCE))
    page.get_by_role("button", name="Send report").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your report has been received")
    key = page.get_by_test_id("case-key").inner_text().strip()
    assert re.fullmatch(r"[0-9A-Z]{4}(-[0-9A-Z]{4}){3}", key), key
    look(page, "receipt")
    return key


def open_case_with_key(page: Page, site: Site, key: str, look: Look = nothing, *, show_error: bool = False) -> None:
    page.goto(f"/r/{site.slug}/follow-up")
    look(page, "follow-up")
    if show_error:
        page.get_by_label("Your case key").fill("AAAA-BBBB-CCCC-DDDD")
        page.get_by_role("button", name="Open my report").click()
        expect(page.get_by_role("alert")).to_contain_text("This case key was not recognised")
        look(page, "follow-up-error")
    page.get_by_label("Your case key").fill(key.lower())  # typed carelessly: still accepted
    page.get_by_role("button", name="Open my report").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your report")
    look(page, "reporter-case")


def reply_as_reporter(page: Page, site: Site, look: Look = nothing) -> None:
    site.clock.advance(minutes=2)  # the thread is ordered by time; a frozen clock would tie
    page.get_by_label("Your message").fill(REPLY)
    page.get_by_role("button", name="Send message").click()
    expect(page.locator("ol.thread > li").last).to_contain_text(REPLY)
    look(page, "reporter-case-replied")


# --- staff --------------------------------------------------------------------------------
def sign_in(page: Page, site: Site, look: Look = nothing, *, first_time: bool, show_error: bool = False) -> None:
    """Password, then either enrolment (first time: code + recovery codes) or the TOTP check."""
    page.goto("/staff/login")
    look(page, "login")
    if show_error:
        page.get_by_label("E-mail address").fill(site.email)
        page.get_by_label("Password").fill("not the password")
        page.get_by_role("button", name="Continue").click()
        expect(page.get_by_role("alert")).to_contain_text("The e-mail address or password is wrong")
        look(page, "login-error")
    page.get_by_label("E-mail address").fill(site.email)
    page.get_by_label("Password").fill(site.password)
    page.get_by_role("button", name="Continue").click()
    if first_time:
        expect(page).to_have_url(re.compile(r"/staff/enrol$"))
        expect(page.locator(".secret")).to_have_text(site.totp_secret)
        look(page, "enrol")
        page.get_by_label("Code from your authenticator app").fill(site.next_code())
        page.get_by_role("button", name="Confirm").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Your recovery codes")
        expect(page.locator("ol.codes li")).to_have_count(10)
        look(page, "recovery-codes")
        page.get_by_role("link", name="I have saved them — continue").click()
    else:
        expect(page).to_have_url(re.compile(r"/staff/2fa$"))
        look(page, "second-factor")
        page.get_by_label("Code from your authenticator app").fill(site.next_code())
        page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/staff/queue$"))
    look(page, "queue")


def open_first_case(page: Page, look: Look = nothing) -> str:
    """From the queue to the first case; returns the case page's path."""
    page.goto("/staff/queue")
    expect(page.locator("tbody tr")).to_have_count(1)
    expect(page.locator("tbody")).to_contain_text("Acknowledge by")
    page.locator("tbody a").first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Case")
    expect(page.locator("main")).to_contain_text(REPORT_TEXT)
    look(page, "case")
    return urlsplit(page.url).path


def download_evidence(page: Page) -> bytes:
    with page.expect_download() as info:
        page.get_by_role("link", name="evidence.pdf").click()
    download = info.value
    assert download.suggested_filename == "evidence.pdf"
    return download.path().read_bytes()


def answer_case(page: Page, site: Site, look: Look = nothing) -> None:
    """Acknowledge, send the feedback to the reporter, leave an internal note."""
    site.clock.advance(minutes=10)  # within the 30-minute idle limit of staff sessions
    page.get_by_label("New status").select_option("acknowledged")
    page.get_by_role("button", name="Change status").click()
    expect(page.locator("dl.fields").first).to_contain_text("Acknowledged")
    site.clock.advance(minutes=5)
    page.get_by_label("Message to the reporter").fill(ANSWER)
    page.get_by_label("This message is the feedback").check()
    page.get_by_label("Attach files (optional)").set_input_files(pdf("questions.pdf", b"%PDF-1.4 questions\n"))
    page.get_by_role("button", name="Send to reporter").click()
    expect(page.locator("ol.thread").first).to_contain_text(ANSWER)
    page.get_by_label("Internal note").fill(NOTE)
    page.get_by_role("button", name="Add note").click()
    expect(page.locator("ol.thread").last).to_contain_text(NOTE)
    look(page, "case-answered")


def staff_pages(page: Page, site: Site, look: Look = nothing) -> None:
    """Account and administration pages of the signed-in admin."""
    page.get_by_role("link", name="My account").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("My account")
    look(page, "account")
    page.get_by_label("Current password").fill("wrong")
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("alert")).to_be_visible()
    look(page, "account-errors")
    page.get_by_role("link", name="Administration").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Administration")
    look(page, "admin-index")
    page.get_by_role("link", name="Users and roles").click()
    expect(page.locator("tbody")).to_contain_text(site.email)
    look(page, "admin-users")
    page.get_by_label("E-mail address").fill("second@example.com")
    page.get_by_label("Case handler").check()
    page.get_by_role("button", name="Create user").click()
    expect(page.get_by_role("status")).to_contain_text("second@example.com")
    look(page, "admin-users-created")
    page.goto(f"/admin/t/{site.slug}/categories")
    look(page, "admin-categories")
    page.get_by_label("New category").fill("Workplace safety")
    page.get_by_role("button", name="Add").click()
    expect(page.locator("tbody")).to_contain_text("Workplace safety")
    look(page, "admin-categories-added")


def visit_every_page(reporter: Page, staff: Page, site: Site, look: Look) -> None:
    """Every page type, with errors and with content, in the order people meet them."""
    reporter.goto("/")
    look(reporter, "landing")
    key = make_report(reporter, site, look, show_errors=True)
    open_case_with_key(reporter, site, key, look, show_error=True)  # before any answer: "no messages yet"
    sign_in(staff, site, look, first_time=True, show_error=True)
    open_first_case(staff, look)
    answer_case(staff, site, look)
    staff.get_by_role("button", name="Add note").click()  # empty: the note form comes back with its error
    expect(staff.get_by_role("alert")).to_contain_text("Internal note")
    staff.get_by_role("alert").get_by_role("link").click()
    expect(staff.get_by_label("Internal note")).to_be_focused()
    look(staff, "case-note-errors")
    open_case_with_key(reporter, site, key)
    look(reporter, "reporter-case-answered")
    reply_as_reporter(reporter, site, look)
    staff.reload()
    expect(staff.locator("ol.thread").first).to_contain_text(REPLY)
    look(staff, "case-replied")
    staff_pages(staff, site, look)
    response = staff.goto("/no-such-page")
    assert response is not None and response.status == 404
    look(staff, "not-found")
    staff.goto("/staff/account")
    staff.get_by_role("button", name="Sign out").click()
    expect(staff).to_have_url(re.compile(r"/staff/login$"))
    sign_in(staff, site, look, first_time=False)
