"""Consent to disclose the reporter's identity and redaction, as a browser does it (no JavaScript
needed): the handler asks and redacts on the case page and the redaction page, the reporter
answers on the follow-up page. Each step calls ``look(page, name)`` on the states worth checking."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser.steps import REPORT_TEXT, Look, nothing

RECIPIENTS = "The group's external auditor, Jane Roe"
PURPOSE = "To interview you as a witness in the audit."
SECRET = "every Friday"  # a passage of steps.REPORT_TEXT
REASON = "The day is not relevant to the case."
EXPLAINED = "The police have asked for your name in their investigation; the law obliges us to give it."
WITHHELD = "The person concerned would be warned and could destroy evidence."


def open_form(staff: Page, testid: str) -> None:
    """The case page folds the consent and disclosure forms away; a refused form comes back open."""
    details = staff.get_by_test_id(testid)
    if details.get_attribute("open") is None:
        details.locator("summary").click()
    expect(details).to_have_attribute("open", "")


def disclose_on_a_legal_ground(staff: Page, look: Look = nothing, *, informed: bool) -> None:
    """On the case page: a disclosure on a legal ground without the Art. 16(3) choice is refused;
    then the reporter is informed (the explanation goes to them) or not (a sealed reason)."""
    def fill_ground() -> None:
        open_form(staff, "disclosure-form")
        staff.get_by_label("Disclosed to").fill(RECIPIENTS)
        staff.get_by_label("On what basis?").select_option(label="Legal ground: an investigation by a national authority")
        staff.get_by_label("The legal ground, explained (when not on consent)").fill("A request from the police.")
    fill_ground()
    staff.get_by_role("button", name="Record the disclosure").click()
    expect(staff.get_by_role("alert").first).to_contain_text("Say whether the reporter is informed")
    look(staff, "case-disclosure-notice-errors")
    fill_ground()
    if informed:
        staff.get_by_label("Yes: send them the explanation below as a message").check()
        staff.get_by_label("Explanation for the reporter (when informing them)").fill(EXPLAINED)
    else:
        staff.get_by_label("No: informing them would jeopardise").check()
        staff.get_by_label("Why would informing the reporter jeopardise").fill(WITHHELD)
    staff.get_by_role("button", name="Record the disclosure").click()
    expect(staff.get_by_test_id("disclosure-informed" if informed else "disclosure-withheld").first).to_be_visible()
    look(staff, "case-disclosed-informed" if informed else "case-disclosed-withheld")


def ask_for_consent(staff: Page, look: Look = nothing, *, show_errors: bool = False) -> None:
    """On the case page: ask the reporter (after one refused empty attempt)."""
    open_form(staff, "consent-form")
    if show_errors:
        staff.get_by_role("button", name="Ask the reporter for consent").click()
        expect(staff.get_by_role("alert").first).to_contain_text("Please correct the following")
        look(staff, "case-consent-errors")
    staff.get_by_label("To whom would the identity be disclosed?").fill(RECIPIENTS)
    staff.get_by_label("Why?", exact=True).fill(PURPOSE)
    staff.get_by_role("button", name="Ask the reporter for consent").click()
    expect(staff.get_by_test_id("consent-requests")).to_contain_text("Waiting for the reporter")
    look(staff, "case-consent-asked")


def answer_consent(reporter: Page, look: Look = nothing, *, consent: bool) -> None:
    """On the follow-up page (signed in with the case key): read the request and answer it."""
    requests = reporter.get_by_test_id("consent-requests")
    expect(requests).to_contain_text(RECIPIENTS)
    expect(requests).to_contain_text(PURPOSE)
    look(reporter, "reporter-consent-asked")
    reporter.get_by_role("button", name="Yes, I consent" if consent else "No, I do not consent").click()
    expect(reporter.get_by_test_id("consent-answer")).to_contain_text("You consented" if consent else "You refused")
    look(reporter, "reporter-consent-answered")


def record_disclosure(staff: Page, look: Look = nothing, *, on_consent: bool) -> None:
    """On the case page: a disclosure with no basis is refused; then on the consent or a legal ground."""
    open_form(staff, "disclosure-form")
    staff.get_by_label("Disclosed to").fill(RECIPIENTS)
    staff.get_by_role("button", name="Record the disclosure").click()
    expect(staff.get_by_role("alert").first).to_contain_text("Choose a consent the reporter gave")
    look(staff, "case-disclosure-errors")
    staff.get_by_label("Disclosed to").fill(RECIPIENTS)
    if on_consent:
        staff.get_by_label("On what basis?").select_option(index=1)
    else:
        staff.get_by_label("On what basis?").select_option(label="Legal ground: judicial proceedings")
        staff.get_by_label("The legal ground, explained (when not on consent)").fill("Order of the district court.")
        staff.get_by_label("No: informing them would jeopardise").check()
        staff.get_by_label("Why would informing the reporter jeopardise").fill(WITHHELD)
    staff.get_by_role("button", name="Record the disclosure").click()
    expected = "On the reporter" if on_consent else "Legal ground: judicial proceedings"
    expect(staff.get_by_test_id("disclosures")).to_contain_text(expected)
    look(staff, "case-disclosed")


def redact_passage(staff: Page, look: Look = nothing, *, show_errors: bool = False, purge: bool = False) -> None:
    """From the case page to the redaction page; take SECRET out of the report's text."""
    staff.get_by_role("link", name="Redact a passage or a file").click()
    expect(staff.get_by_role("heading", level=1)).to_have_text("Redact a passage or a file")
    expect(staff.get_by_test_id("report-texts")).to_contain_text(REPORT_TEXT)
    look(staff, "redact")
    staff.get_by_label("Which text or file?").select_option("report:what")
    if show_errors:
        staff.get_by_label("The exact passage to redact (leave empty for a file)").fill("not in the text")
        staff.get_by_label("Why is it redacted?").fill(REASON)
        staff.get_by_role("button", name="Redact", exact=True).click()
        expect(staff.get_by_role("alert")).to_contain_text("Copy a passage exactly")
        look(staff, "redact-errors")
    staff.get_by_label("The exact passage to redact (leave empty for a file)").fill(SECRET)
    staff.get_by_label("Why is it redacted?").fill(REASON)
    staff.get_by_label("What happens to the original?").select_option("purge" if purge else "retain")
    staff.get_by_role("button", name="Redact", exact=True).click()
    expect(staff.get_by_test_id("redactions")).to_contain_text(REASON)
    expect(staff.locator("main")).to_contain_text("Stock is sold off the books [redacted].")
    look(staff, "case-redacted")


def purge_redaction(staff: Page, look: Look = nothing) -> None:
    staff.get_by_test_id("redactions").get_by_role("button", name="Destroy the original").click()
    expect(staff.get_by_test_id("redactions")).to_contain_text("Original destroyed")
    look(staff, "case-redaction-purged")
