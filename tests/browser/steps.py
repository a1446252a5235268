"""What people do on the site, as a browser does it: click, type, choose files, submit.

Each step calls ``look(page, name)`` on every page state worth checking, so the same walk
serves the slice test (screenshots), the accessibility test (axe) and the script check.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from playwright.sync_api import Page, expect

from appliance.crypto import totp
from tests.browser.conftest import Site

Look = Callable[[Page, str], None]
EVIDENCE = b"%PDF-1.4 evidence\n" * 2000
REPORT_TEXT = "Stock is sold off the books every Friday."
ANSWER = "Thank you, we are looking into it."
NOTE = "Internal only: check the delivery notes."
REPLY = "More details: it started in January."
SECOND = "second@example.com"  # the handler staff_pages creates
SECOND_REPORT = "A second concern, sealed only to the second handler."


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
        secret = site.totp_secret  # shown in groups of four, for typing on a phone
        expect(page.locator(".secret")).to_have_text(" ".join(secret[i:i + 4] for i in range(0, len(secret), 4)))
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
    # The site's officer is a handler and an administrator: a page of links to each room first.
    expect(page).to_have_url(re.compile(r"/staff/rooms$"))
    look(page, "rooms")
    page.locator("main").get_by_role("link", name="Work queue").click()
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


def staff_pages(page: Page, site: Site, look: Look = nothing) -> str:
    """Account and administration pages of the signed-in admin; returns the initial password of
    the second handler it creates."""
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
    expect(page.get_by_test_id("users")).to_contain_text(site.email)
    look(page, "admin-users")
    page.get_by_label("E-mail address").fill("second@example.com")
    page.get_by_label("Case handler").check()
    page.get_by_role("button", name="Create user").click()
    expect(page.get_by_role("status")).to_contain_text("second@example.com")
    look(page, "admin-users-created")
    second_password = page.get_by_test_id("new-password").inner_text().strip()
    page.goto(f"/admin/t/{site.slug}/categories")
    look(page, "admin-categories")
    page.get_by_label("New category").fill("Workplace safety")
    page.get_by_role("button", name="Add").click()
    expect(page.locator("tbody")).to_contain_text("Workplace safety")
    look(page, "admin-categories-added")
    return second_password


def second_signs_in(staff: Page, password: str, secret: str | None, site: Site, look: Look = nothing) -> str:
    """The second handler signs in with a password an administrator set: two-factor (enrolment the
    first time), then their own password. Returns their TOTP secret."""
    staff.goto("/staff/login")
    staff.get_by_label("E-mail address").fill(SECOND)
    staff.get_by_label("Password").fill(password)
    staff.get_by_role("button", name="Continue").click()
    if secret is None:
        expect(staff).to_have_url(re.compile(r"/staff/enrol$"))
        secret = staff.get_by_test_id("totp-secret").inner_text().replace(" ", "")
        site.clock.advance(seconds=30)
        staff.get_by_label("Code from your authenticator app").fill(totp.current_code(secret, site.clock()))
        staff.get_by_role("button", name="Confirm").click()
        staff.get_by_role("link", name="I have saved them — continue").click()
    else:
        expect(staff).to_have_url(re.compile(r"/staff/2fa$"))
        site.clock.advance(seconds=30)
        staff.get_by_label("Code from your authenticator app").fill(totp.current_code(secret, site.clock()))
        staff.get_by_role("button", name="Sign in").click()
    expect(staff).to_have_url(re.compile(r"/staff/choose-password$"))
    look(staff, "choose-password")
    staff.get_by_label("Your new password").fill("too short")
    staff.get_by_label("New password again").fill("too short")
    staff.get_by_role("button", name="Save my password").click()
    expect(staff.get_by_role("alert")).to_be_visible()
    look(staff, "choose-password-errors")
    own = f"the second handler's own {secret[:6].lower()}"
    staff.get_by_label("Your new password").fill(own)
    staff.get_by_label("New password again").fill(own)
    staff.get_by_role("button", name="Save my password").click()
    expect(staff).to_have_url(re.compile(r"/staff/queue$"))
    return secret


def sign_out(staff: Page) -> None:
    staff.goto("/staff/account")
    staff.get_by_role("button", name="Sign out").click()
    expect(staff).to_have_url(re.compile(r"/staff/login$"))


def confirm_every_pending_change(staff: Page) -> None:
    staff.goto("/staff/readers")
    while staff.get_by_role("button", name="Confirm and sign").count():
        staff.get_by_role("button", name="Confirm and sign").first.click()
        expect(staff).to_have_url(re.compile(r"/staff/readers"))


def access_pages(reporter: Page, staff: Page, site: Site, second_password: str, look: Look = nothing) -> None:
    """Who can read what, as the signed-in admin+handler (the first reader) and the second handler:
    the Readers pages, the second handler's first own password, proposing and confirming them, a
    case sealed to someone else (locked), sharing and withdrawing access, a password reset and the
    confirmation of the new key. Ends signed in as the site's user again."""
    staff.goto(f"/admin/t/{site.slug}/readers")
    expect(staff.get_by_role("heading", level=1)).to_contain_text("Readers")
    expect(staff.locator("main")).to_contain_text(f"appliance keys escrow init --organisation {site.slug}")
    look(staff, "admin-readers")
    staff.goto("/staff/readers")
    expect(staff.get_by_test_id("my-fingerprint")).to_contain_text("Your key fingerprint:")
    look(staff, "readers")

    sign_out(staff)
    second_secret = second_signs_in(staff, second_password, None, site, look)
    sign_out(staff)
    sign_in(staff, site, first_time=False)

    # The administrator proposes the second handler and stops new reports to themselves;
    # as a reader, they confirm both on their Readers page (signing with their key).
    staff.goto(f"/admin/t/{site.slug}/readers")
    staff.get_by_label("Handler").select_option(label=SECOND)
    staff.get_by_role("button", name="Propose").click()
    staff.get_by_role("button", name="Stop sending them new reports").click()
    expect(staff.get_by_test_id("pending")).to_contain_text(SECOND)
    look(staff, "admin-readers-pending")
    staff.goto("/staff/readers")
    expect(staff.get_by_test_id("pending")).to_contain_text(f"Add {SECOND} as a reader")
    look(staff, "readers-pending")
    confirm_every_pending_change(staff)
    expect(staff.get_by_test_id("readers")).to_contain_text(SECOND)

    # A new report reaches only the second handler: for this user it is locked.
    reporter.goto(f"/r/{site.slug}/report")
    reporter.get_by_label("What is it about?").select_option(label=site.category)
    reporter.get_by_label("What happened?").fill(SECOND_REPORT)
    reporter.get_by_role("button", name="Send report").click()
    expect(reporter.get_by_role("heading", level=1)).to_have_text("Your report has been received")
    staff.goto("/staff/queue")
    locked_row = staff.locator("tbody tr", has=staff.get_by_test_id("locked"))
    expect(locked_row).to_have_count(1)
    look(staff, "queue-locked")
    locked_row.locator("a").first.click()
    expect(staff.get_by_role("heading", level=1)).to_contain_text("Case")
    expect(staff.locator("main")).to_contain_text("This case is not shared with you.")
    expect(staff.locator("main")).to_contain_text(SECOND)
    expect(staff.locator("main")).not_to_contain_text(SECOND_REPORT)
    look(staff, "case-locked")

    # The first case: share it with the second handler, withdraw it, try to withdraw the last copy.
    staff.goto("/staff/queue")
    staff.locator("tbody tr", has_text="Acknowledged").locator("a").first.click()
    expect(staff.locator("main")).to_contain_text(REPORT_TEXT)
    staff.get_by_label("Share with").select_option(label=SECOND)
    staff.get_by_role("button", name="Share the case").click()
    expect(staff.get_by_test_id("holders")).to_contain_text(SECOND)
    look(staff, "case-shared")
    staff.get_by_role("button", name=f"Remove access: {SECOND}").click()
    expect(staff.get_by_test_id("holders")).not_to_contain_text(SECOND)
    staff.get_by_role("button", name=f"Remove access: {site.email}").click()
    expect(staff.get_by_role("alert")).to_contain_text("This is the last handler who can open the case")
    look(staff, "case-access-error")

    # An administrator resets the second handler's password: warned before, told after.
    staff.goto(f"/admin/t/{site.slug}/users")
    staff.get_by_role("link", name=f"Reset password: {SECOND}").click()
    expect(staff.get_by_test_id("reset-warning")).to_contain_text("will lose access to the cases shared with them")
    look(staff, "admin-reset-password")
    staff.get_by_role("button", name="Reset password").click()
    expect(staff.get_by_test_id("reset-done")).to_contain_text("will lose access to the cases shared with them")
    look(staff, "admin-reset-done")
    password = staff.get_by_test_id("new-password").inner_text().strip()

    # The second handler chooses their own password again (a new key) and finds the case locked.
    sign_out(staff)
    second_signs_in(staff, password, second_secret, site)
    # Both cases are locked for them now: the one they shared before, and the one sealed to the old key.
    expect(staff.locator("tbody tr", has=staff.get_by_test_id("locked"))).to_have_count(2)
    expect(staff.locator("caption")).to_contain_text("Locked: you hold no key to the case.")
    look(staff, "queue-keys-reset")
    staff.locator("tbody tr", has_text="Received").locator("a").first.click()
    expect(staff.locator("main")).to_contain_text("Your password was reset, so the key that opened this case is gone.")
    expect(staff.locator("main")).not_to_contain_text(SECOND_REPORT)
    look(staff, "case-locked-key-reset")
    staff.get_by_role("link", name="My account").click()
    expect(staff.get_by_test_id("keys-reset")).to_contain_text("Your password was reset on")
    look(staff, "account-keys-reset")
    staff.goto("/staff/readers")
    expect(staff.locator("main")).to_contain_text("You have a new key since your password was reset.")
    look(staff, "readers-new-key")
    sign_out(staff)
    sign_in(staff, site, first_time=False)
    confirm_every_pending_change(staff)  # the first reader confirms the second handler's new key


def name_persons(staff: Page, look: Look) -> None:
    """A handler names the person concerned (after one refused attempt), without JavaScript's help."""
    staff.get_by_label("E-mail address (optional)").fill("not an address")
    staff.get_by_role("button", name="Name this person in the case").click()
    expect(staff.get_by_role("alert")).to_contain_text("Enter an e-mail address")
    look(staff, "case-person-errors")
    staff.get_by_label("Name", exact=True).fill("Alex Example")
    staff.get_by_label("E-mail address (optional)").fill("alex@example.com")
    staff.get_by_label("Role in the case").select_option("concerned")
    staff.get_by_role("button", name="Name this person in the case").click()
    expect(staff.get_by_test_id("subjects")).to_contain_text("Alex Example")
    look(staff, "case-person-named")


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
    name_persons(staff, look)
    open_case_with_key(reporter, site, key)
    look(reporter, "reporter-case-answered")
    reply_as_reporter(reporter, site, look)
    staff.reload()
    expect(staff.locator("ol.thread").first).to_contain_text(REPLY)
    look(staff, "case-replied")
    second_password = staff_pages(staff, site, look)
    access_pages(reporter, staff, site, second_password, look)
    response = staff.goto("/no-such-page")
    assert response is not None and response.status == 404
    look(staff, "not-found")
    staff.goto("/staff/account")
    staff.get_by_role("button", name="Sign out").click()
    expect(staff).to_have_url(re.compile(r"/staff/login$"))
    sign_in(staff, site, look, first_time=False)


# --- reports received orally (Directive 2019/1937 Art. 18) ----------------------------------
ORAL_MINUTES = "Minutes of the call: the till is short every Friday evening."
ORAL_CORRECTION = "It was Thursday evenings, not Fridays."


def record_oral_report(page: Page, site: Site, look: Look = nothing, *, show_errors: bool = False) -> str:
    """From the queue, a handler records a report received by phone; returns the reporter's case key."""
    page.goto("/staff/queue")
    page.get_by_role("link", name="Record a report received by phone or in a meeting").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Record a report received by phone or in a meeting")
    look(page, "oral-form")
    page.get_by_label("What is it about?").select_option(label=site.category)
    page.get_by_label("How was it received?").select_option("phone")
    page.get_by_label("When was it received?").fill(
        (site.clock() - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("Minutes or transcript").fill(ORAL_MINUTES)
    page.get_by_label("Recording (optional)").set_input_files(
        {"name": "call.mp3", "mimeType": "audio/mpeg", "buffer": b"ID3 the call"})
    if show_errors:  # without the reporter's consent nothing is recorded
        page.get_by_role("button", name="Seal the record and show the case key").click()
        expect(page.get_by_role("alert")).to_contain_text("Confirm that the reporter consented")
        look(page, "oral-form-errors")
        page.get_by_label("Recording (optional)").set_input_files(
            {"name": "call.mp3", "mimeType": "audio/mpeg", "buffer": b"ID3 the call"})
    page.get_by_label("The reporter consented to this record").check()
    page.get_by_role("button", name="Seal the record and show the case key").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("The report has been recorded")
    key = page.get_by_test_id("case-key").inner_text().strip()
    assert re.fullmatch(r"[0-9A-Z]{4}(-[0-9A-Z]{4}){3}", key), key
    look(page, "oral-receipt")
    page.get_by_role("link", name="Go to the case").click()
    expect(page.get_by_test_id("review-state")).to_contain_text("Pending")
    look(page, "oral-case")
    return key


def review_oral_record(page: Page, site: Site, key: str, look: Look = nothing, *, correct: bool) -> None:
    """The reporter opens the case with the key, reads the minutes and approves or corrects them."""
    open_case_with_key(page, site, key)
    expect(page.get_by_test_id("minutes")).to_contain_text(ORAL_MINUTES)
    look(page, "reporter-oral-record")
    site.clock.advance(minutes=2)
    if correct:
        page.get_by_label("Your corrections").fill(ORAL_CORRECTION)
        page.get_by_role("button", name="Submit my corrections").click()
        expect(page.get_by_test_id("my-correction")).to_contain_text(ORAL_CORRECTION)
        look(page, "reporter-oral-corrected")
    else:
        page.get_by_role("button", name="I approve this record").click()
        expect(page.get_by_test_id("record-approved")).to_be_visible()
        look(page, "reporter-oral-approved")
