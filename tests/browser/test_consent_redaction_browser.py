"""Consent to disclose the reporter's identity and redaction in Chromium without JavaScript
(Directive 2019/1937 Art. 16-17), and axe (WCAG 2.1 AA) on every new page state."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect

from appliance.services import Services
from tests.browser import consent_steps, steps
from tests.browser.conftest import ContextFactory, Site
from tests.browser.test_accessibility import Axe

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("consent", [True, False], ids=["given", "refused"])
def test_consent_asked_answered_and_a_disclosure_recorded_without_javascript(
        new_context: ContextFactory, site: Site, services: Services, artifacts: Path, consent: bool) -> None:
    def shoot(page: Page, name: str) -> None:
        page.screenshot(path=artifacts / f"{site.backend}-consent-{name}.png", full_page=True)

    reporter = new_context(java_script_enabled=False).new_page()
    staff = new_context(java_script_enabled=False).new_page()
    key = steps.make_report(reporter, site)
    steps.sign_in(staff, site, first_time=True)
    case_path = steps.open_first_case(staff)
    consent_steps.ask_for_consent(staff, shoot)
    steps.open_case_with_key(reporter, site, key)
    consent_steps.answer_consent(reporter, shoot, consent=consent)
    # The answer counts once: the buttons are gone.
    expect(reporter.get_by_role("button", name="Yes, I consent")).to_have_count(0)
    staff.goto(case_path)
    expect(staff.get_by_test_id("consent-state")).to_have_text("Consent given" if consent else "Consent refused")
    consent_steps.record_disclosure(staff, shoot, on_consent=consent)
    services.session.commit()
    assert services.logbook.verify().ok


def test_a_reporter_informed_before_a_disclosure_on_a_legal_ground_reads_why(
        new_context: ContextFactory, site: Site, artifacts: Path) -> None:
    def shoot(page: Page, name: str) -> None:
        page.screenshot(path=artifacts / f"{site.backend}-inform-{name}.png", full_page=True)

    reporter = new_context(java_script_enabled=False).new_page()
    staff = new_context(java_script_enabled=False).new_page()
    key = steps.make_report(reporter, site)
    steps.sign_in(staff, site, first_time=True)
    steps.open_first_case(staff)
    consent_steps.disclose_on_a_legal_ground(staff, shoot, informed=True)
    consent_steps.disclose_on_a_legal_ground(staff, shoot, informed=False)
    steps.open_case_with_key(reporter, site, key)
    expect(reporter.locator("main")).to_contain_text(consent_steps.EXPLAINED)
    expect(reporter.locator("main")).not_to_contain_text(consent_steps.WITHHELD)
    shoot(reporter, "reporter-informed")


def test_a_redaction_is_what_the_handler_and_the_reporter_read_and_the_original_can_be_destroyed(
        new_context: ContextFactory, site: Site, artifacts: Path) -> None:
    def shoot(page: Page, name: str) -> None:
        page.screenshot(path=artifacts / f"{site.backend}-redaction-{name}.png", full_page=True)

    reporter = new_context(java_script_enabled=False).new_page()
    staff = new_context(java_script_enabled=False).new_page()
    key = steps.make_report(reporter, site)
    steps.sign_in(staff, site, first_time=True)
    steps.open_first_case(staff)
    consent_steps.redact_passage(staff, shoot, show_errors=True)
    consent_steps.purge_redaction(staff, shoot)
    steps.open_case_with_key(reporter, site, key)
    expect(reporter.locator("main")).not_to_contain_text(consent_steps.SECRET)
    reporter.get_by_text("What you reported").click()
    expect(reporter.locator("main")).to_contain_text("Stock is sold off the books [redacted].")


NEW_PAGES = {"case-consent-errors", "case-consent-asked", "reporter-consent-asked", "reporter-consent-answered",
             "case-disclosure-errors", "case-disclosed", "redact", "redact-errors", "case-redacted",
             "case-redaction-purged", "case-disclosure-notice-errors", "case-disclosed-informed",
             "case-disclosed-withheld", "reporter-informed"}


@pytest.mark.parametrize("backend", ["sqlite"])  # the flows above run on both databases
@pytest.mark.parametrize("language", ["en", "sv"])
def test_consent_and_redaction_pages_pass_axe(new_context: ContextFactory, site: Site, language: str) -> None:
    axe = Axe()
    reporter = new_context(bypass_csp=True).new_page()
    staff = new_context(bypass_csp=True).new_page()
    key = steps.make_report(reporter, site)
    steps.sign_in(staff, site, first_time=True)
    case_path = _first_case(staff)
    if language == "en":
        consent_steps.ask_for_consent(staff, axe, show_errors=True)
        steps.open_case_with_key(reporter, site, key)
        consent_steps.answer_consent(reporter, axe, consent=True)
        staff.goto(case_path)
        consent_steps.record_disclosure(staff, axe, on_consent=True)
        consent_steps.disclose_on_a_legal_ground(staff, axe, informed=True)
        consent_steps.disclose_on_a_legal_ground(staff, axe, informed=False)
        reporter.goto(f"/r/{site.slug}/case")
        expect(reporter.locator("main")).to_contain_text(consent_steps.EXPLAINED)
        axe(reporter, "reporter-informed")
        consent_steps.redact_passage(staff, axe, show_errors=True)
        consent_steps.purge_redaction(staff, axe)
        axe.assert_clean(NEW_PAGES)
    else:
        for page in (reporter, staff):  # chosen with the footer's language form
            page.goto("/")
            page.locator("footer button[value=sv]").click()
            expect(page.locator("html")).to_have_attribute("lang", "sv")
        _swedish_walk(reporter, staff, site, key, case_path, axe)
        axe.assert_clean({"sv-case", "sv-redact", "sv-case-redacted", "sv-reporter-consent-asked",
                          "sv-case-disclosure-notice-errors", "sv-case-disclosed", "sv-reporter-informed"})


# --- the Swedish walk: by form field names, not English labels --------------------------------
def _first_case(page: Page) -> str:
    page.goto("/staff/queue")
    page.locator("tbody a").first.click()
    expect(page.locator("main")).to_contain_text(steps.REPORT_TEXT)
    return urlsplit(page.url).path


def _swedish_walk(reporter: Page, staff: Page, site: Site, key: str, case_path: str, axe: Axe) -> None:
    staff.goto(case_path)
    consent_steps.open_form(staff, "consent-form")
    staff.locator("textarea[name=recipients]").first.fill(consent_steps.RECIPIENTS)
    staff.locator("textarea[name=purpose]").fill(consent_steps.PURPOSE)
    staff.locator("form[action$='/consent#identity'] button[type=submit]").click()
    expect(staff.get_by_test_id("consent-requests")).to_contain_text(consent_steps.RECIPIENTS)
    axe(staff, "sv-case")
    staff.goto(f"{case_path}/redact")
    axe(staff, "sv-redact")
    staff.locator("select[name=target]").select_option("report:what")
    staff.locator("textarea[name=passage]").fill(consent_steps.SECRET)
    staff.locator("textarea[name=reason]").fill(consent_steps.REASON)
    staff.locator("main form button[type=submit]").click()
    expect(staff.get_by_test_id("redactions")).to_contain_text(consent_steps.REASON)
    axe(staff, "sv-case-redacted")
    reporter.goto(f"/r/{site.slug}/follow-up")
    reporter.locator("input[name=case_key]").fill(key)
    reporter.locator("main form button[type=submit]").click()
    expect(reporter.get_by_test_id("consent-requests")).to_contain_text(consent_steps.RECIPIENTS)
    axe(reporter, "sv-reporter-consent-asked")
    # A disclosure on a legal ground: refused without the Art. 16(3) choice, then the reporter informed.
    staff.goto(case_path)
    consent_steps.open_form(staff, "disclosure-form")
    form = staff.locator("form[action$='/disclosures#identity']")
    form.locator("textarea[name=recipients]").fill(consent_steps.RECIPIENTS)
    form.locator("select[name=basis]").select_option("ground:investigation")
    form.locator("textarea[name=ground]").fill("A request from the police.")
    form.locator("button[type=submit]").click()
    expect(staff.locator("#disclosure-notice .error")).to_be_visible()
    axe(staff, "sv-case-disclosure-notice-errors")
    form = staff.locator("form[action$='/disclosures#identity']")
    form.locator("textarea[name=recipients]").fill(consent_steps.RECIPIENTS)
    form.locator("select[name=basis]").select_option("ground:investigation")
    form.locator("textarea[name=ground]").fill("A request from the police.")
    form.locator("input[name=notice][value=informed]").check()
    form.locator("textarea[name=explanation]").fill(consent_steps.EXPLAINED)
    form.locator("button[type=submit]").click()
    expect(staff.get_by_test_id("disclosure-informed")).to_be_visible()
    axe(staff, "sv-case-disclosed")
    reporter.goto(f"/r/{site.slug}/case")
    expect(reporter.locator("main")).to_contain_text(consent_steps.EXPLAINED)
    axe(reporter, "sv-reporter-informed")
