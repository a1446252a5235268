"""The /insiders/ room and the insiders' own public pages, walked as a browser does it.

The walk finds its way by form actions, field ids, roles and test ids, never by visible words, so
the same walk runs in English and in Swedish; ``look(page, name)`` is called on every page state
worth checking (axe, the script check). Codes are the hand-over codes shown on screen.
"""

from __future__ import annotations

import datetime as dt
import re

from playwright.sync_api import Page, expect

from tests.browser.conftest import Site
from tests.browser.steps import Look, nothing

SUBMIT = "main form button[type=submit]"
CODE = re.compile(r"[0-9A-Z]{4}(-[0-9A-Z]{4}){4}")
WRONG_CODE = "AAAA-BBBB-CCCC-DDDD-EEEE"
OBLIGATIONS, DETAILS = "insider-obligations", "insider-details"


def room(site: Site, suffix: str = "") -> str:
    return f"/insiders/t/{site.slug}/{suffix}"


def moment(site: Site, **delta: float) -> str:
    """A time as a datetime-local field takes it (the room's default zone is UTC, like the lists)."""
    return (site.clock() + dt.timedelta(**delta)).strftime("%Y-%m-%dT%H:%M")


def submit(page: Page, form: str) -> None:
    page.locator(f"main form[action$='{form}'] button[type=submit]").first.click()


def shows_errors(page: Page) -> None:
    expect(page.get_by_role("alert").first).to_be_visible()
    expect(page.locator("[aria-invalid=true]").first).to_be_visible()


def landing(page: Page, site: Site, look: Look = nothing) -> None:
    page.goto("/insiders/")
    expect(page.get_by_test_id("insider-lists")).to_be_visible()
    look(page, "insiders-landing")
    page.goto(room(site))
    expect(page.locator("main h2")).to_have_text(site.tenant_name)
    look(page, "insiders-tenant")


def disclosure_pages(page: Page, site: Site, look: Look = nothing) -> None:
    """A decision to delay disclosure: the empty list, the form with errors, the record, an amendment."""
    page.goto(room(site, "disclosures"))
    expect(page.get_by_test_id("disclosures")).to_be_visible()
    look(page, "disclosures")
    page.goto(room(site, "disclosures/new"))
    page.locator(SUBMIT).click()
    shows_errors(page)
    look(page, "disclosure-new-errors")
    page.locator("#subject").fill("Talks about a takeover of Target AB")
    page.locator("#first_existed_at").fill(moment(site, days=-3))
    page.locator("#decided_at").fill(moment(site, days=-2))
    page.locator("#planned_disclosure_at").fill(moment(site, days=14))
    for name in ("conditions_met", "monitoring", "confidentiality"):
        page.locator(f"#{name}").fill(f"Written down: {name}")
    page.locator("#persons_decision").fill("Eva Chair")
    page.locator("#persons_monitoring").fill("Lars Counsel")
    page.locator(SUBMIT).click()
    expect(page.get_by_test_id("version-1")).to_be_visible()
    look(page, "disclosure")
    page.locator("main a[href$='/amend']").click()
    expect(page.locator("#change_note")).to_be_visible()
    look(page, "disclosure-amend")
    page.locator("#change_note").fill("The planned disclosure moved")
    page.locator(SUBMIT).click()
    expect(page.get_by_test_id("version-2")).to_be_visible()
    look(page, "disclosure-amended")
    page.goto(room(site, "disclosures"))
    expect(page.locator("[data-testid=disclosures] tbody tr")).to_have_count(1)
    look(page, "disclosures-listed")


def pdmr_pages(page: Page, site: Site, look: Look = nothing) -> None:
    """The register: empty, the form with errors, a PDMR, an associate, a notification and a code."""
    page.goto(room(site, "pdmrs"))
    expect(page.get_by_test_id("pdmrs")).to_be_visible()
    look(page, "pdmrs")
    submit(page, "/pdmrs")
    shows_errors(page)
    look(page, "pdmrs-errors")
    page.locator("#pdmr-name").fill("Eva Chair")
    page.locator("#pdmr-email").fill("eva@example.org")
    page.locator("#pdmr-detail").fill("Chair of the board")
    submit(page, "/pdmrs")
    expect(page.get_by_role("status")).to_be_visible()
    look(page, "pdmrs-added")
    page.locator("#associate-name").fill("Max Chair")
    page.locator("#associate-email").fill("max@example.org")
    page.locator("#associate-detail").fill("Spouse")
    submit(page, "/pdmrs/associates")
    expect(page.locator("[data-testid=pdmrs] tbody tr")).to_have_count(2)
    look(page, "pdmrs-associate-added")
    submit(page, "/pdmrs/notify")
    expect(page.get_by_role("status")).to_be_visible()
    submit(page, "/pdmrs/code")
    expect(page.get_by_test_id("issued-code")).to_have_text(CODE)
    look(page, "pdmrs-code-issued")


def calendar_pages(page: Page, site: Site, look: Look = nothing) -> None:
    page.goto(room(site, "calendar"))
    expect(page.get_by_test_id("announcements")).to_be_visible()
    look(page, "calendar")
    submit(page, "/calendar")
    shows_errors(page)
    look(page, "calendar-errors")
    page.locator("#label").fill("Q1 2027")
    page.locator("#announce_on").fill((site.clock() + dt.timedelta(days=60)).date().isoformat())
    submit(page, "/calendar")
    expect(page.locator("[data-testid=announcements] tbody tr")).to_have_count(1)
    look(page, "calendar-added")


def notice_pages(page: Page, site: Site, look: Look = nothing) -> None:
    page.goto(room(site, "notices"))
    expect(page.locator(f"#{OBLIGATIONS}-text_en")).to_be_visible()
    look(page, "notices")
    page.locator("#pdmr-obligations-text_en").fill("Our own wording of the PDMRs' obligations.")
    submit(page, "/notices/pdmr-obligations")
    expect(page.get_by_role("status")).to_be_visible()
    look(page, "notices-saved")


def open_section(page: Page, site: Site, code: str, look: Look = nothing) -> str:
    """The sections page, its form with errors, a new event section; returns the section's path."""
    page.goto(room(site, "lists"))
    expect(page.get_by_test_id("sections")).to_be_visible()
    look(page, "lists")
    submit(page, "/lists")
    shows_errors(page)
    look(page, "lists-errors")
    page.locator("#code").fill(code)
    page.locator("#description").fill("A takeover bid for Target AB")
    page.locator("#identified_at").fill(moment(site, hours=-2))
    submit(page, "/lists")
    expect(page.get_by_test_id("insiders")).to_be_visible()
    look(page, "section")
    return re.sub(r"^https?://[^/]+", "", page.url)


def add_insider(page: Page, site: Site, look: Look = nothing, *, first_name: str = "Anna",
                surname: str = "Lind") -> None:
    """The add form once with errors, then an insider who is asked for their own details."""
    submit(page, "/insiders")
    shows_errors(page)
    look(page, "section-add-errors")
    page.locator("#first_name").fill(first_name)
    page.locator("#surname").fill(surname)
    page.locator("#professional_phone").fill("+46 8 123 456 78")
    page.locator("#email").fill("anna@example.org")
    page.locator("#company_name_address").fill("Issuer AB, Box 1, Stockholm")
    page.locator("#function_reason").fill("CFO, prepares the bid")
    page.locator("#obtained").fill(moment(site, hours=-1))
    page.locator("#self_service").check()
    submit(page, "/insiders")
    expect(page.locator("[data-testid=insiders] tbody tr")).to_have_count(1)
    look(page, "section-added")


def hand_over_code(page: Page, purpose: str, look: Look = nothing) -> str:
    """The code shown once for handing over in person (the mailed one no longer works)."""
    page.locator(f"main form[action$='/code']:has(input[name=purpose][value={purpose}]) button").click()
    code = page.get_by_test_id("issued-code")
    expect(code).to_have_text(CODE)
    look(page, f"section-code-{purpose}")
    return code.inner_text().strip()


def confirm_notice(person: Page, site: Site, code: str, look: Look = nothing) -> None:
    """/r/<slug>/acknowledge: a wrong code, the notice (once without the tick), the thanks."""
    person.goto(f"/r/{site.slug}/acknowledge")
    look(person, "acknowledge")
    person.locator("#code").fill(WRONG_CODE)
    person.locator(SUBMIT).click()
    shows_errors(person)
    look(person, "acknowledge-refused")
    person.locator("#code").fill(code)
    person.locator(SUBMIT).click()
    expect(person.get_by_test_id("notice")).to_be_visible()
    look(person, "acknowledge-notice")
    person.locator(SUBMIT).click()
    shows_errors(person)
    look(person, "acknowledge-notice-errors")
    person.locator("input[name=read]").check()
    person.locator(SUBMIT).click()
    expect(person.get_by_test_id("confirmed")).to_be_visible()
    look(person, "acknowledged")


def fill_own_details(person: Page, site: Site, code: str, look: Look = nothing) -> None:
    """/r/<slug>/my-details: the code, the form with a wrong phone number, the thanks, the used code."""
    person.goto(f"/r/{site.slug}/my-details")
    look(person, "my-details")
    person.locator("#code").fill(code)
    person.locator(SUBMIT).click()
    expect(person.get_by_test_id("own-details")).to_be_visible()
    look(person, "my-details-form")
    person.locator("#national_id").fill("19800101-1234")
    person.locator("#date_of_birth").fill("1980-01-01")
    person.locator("#personal_phone").fill("not a phone")
    person.locator("#home_address").fill("Storgatan 1, 111 22 Stockholm, Sweden")
    person.locator(SUBMIT).click()
    shows_errors(person)
    look(person, "my-details-form-errors")
    person.locator("#personal_phone").fill("+46 70 111 22 33")
    person.locator(SUBMIT).click()
    expect(person.get_by_test_id("details-saved")).to_be_visible()
    look(person, "my-details-done")
    person.goto(f"/r/{site.slug}/my-details")
    person.locator("#code").fill(code)  # used once: refused now
    person.locator(SUBMIT).click()
    shows_errors(person)
    look(person, "my-details-refused")


def change_insider(page: Page, section: str, look: Look = nothing) -> None:
    """The change-or-cease page, its change form with errors, a recorded change."""
    page.goto(section)
    page.locator("[data-testid=insiders] a[href$='/change']").first.click()
    expect(page.locator("#changed_at")).to_be_visible()
    look(page, "insider-change")
    page.locator("#function_reason").fill("")
    submit(page, "/change")
    shows_errors(page)
    look(page, "insider-change-errors")
    page.locator("#function_reason").fill("CEO, negotiates the bid")
    submit(page, "/change")
    expect(page).to_have_url(re.compile(r"changed=1"))


def history_pages(page: Page, site: Site, section: str, look: Look = nothing) -> None:
    """As at now, a diff over the last day, a malformed moment, a transmission (with errors)."""
    page.goto(f"{section}/history?since={moment(site, days=-1)}&until={moment(site)}")
    expect(page.get_by_test_id("as-at")).to_be_visible()
    expect(page.get_by_test_id("diff")).to_be_visible()
    look(page, "history")
    page.goto(f"{section}/history?as_at=yesterday")
    shows_errors(page)
    look(page, "history-errors")
    page.goto(f"{section}/history")
    page.locator("#transmitted_on").fill("")
    submit(page, "/transmitted")
    shows_errors(page)
    look(page, "transmission-errors")
    page.locator("#transmitted_on").fill(site.clock().date().isoformat())
    submit(page, "/transmitted")
    expect(page.get_by_test_id("transmitted")).to_be_visible()
    look(page, "transmission-done")


def close_section(page: Page, section: str, look: Look = nothing) -> None:
    """The close form, the confirmation naming who ceases, the closed section."""
    page.goto(f"{section}/close")
    expect(page.locator("#reason")).to_be_visible()
    look(page, "close")
    page.locator("#reason").select_option("disclosed")
    submit(page, "/close")
    expect(page.get_by_test_id("close-confirm")).to_be_visible()
    look(page, "close-confirm")
    submit(page, "/close")
    expect(page).to_have_url(re.compile(r"closed="))
    expect(page.locator("#first_name")).to_have_count(0)  # no add form on a closed section
    look(page, "section-closed")


def insider_room(staff: Page, person: Page, site: Site, look: Look = nothing) -> None:
    """Every page of the room and the insiders' public pages, signed in as an insider manager."""
    landing(staff, site, look)
    disclosure_pages(staff, site, look)
    pdmr_pages(staff, site, look)
    calendar_pages(staff, site, look)
    notice_pages(staff, site, look)
    section = open_section(staff, site, "FALCON", look)
    add_insider(staff, site, look)
    site.clock.advance(minutes=1)
    notice_code = hand_over_code(staff, OBLIGATIONS, look)
    details_code = hand_over_code(staff, DETAILS, look)
    confirm_notice(person, site, notice_code, look)
    fill_own_details(person, site, details_code, look)
    site.clock.advance(minutes=1)
    staff.goto(section)
    expect(staff.locator("[data-testid^=ack-] strong")).to_have_count(0)  # "not confirmed yet" is strong
    look(staff, "section-complete")
    site.clock.advance(minutes=1)
    change_insider(staff, section, look)
    look(staff, "section-changed")
    site.clock.advance(minutes=1)
    staff.goto(section.replace("/lists/", "/sections/") + "/proposals")
    expect(staff.locator("#proposed-title")).to_be_visible()
    look(staff, "proposals-empty")
    history_pages(staff, site, section, look)
    site.clock.advance(minutes=1)
    close_section(staff, section, look)
    staff.goto(room(site, "lists"))
    expect(staff.locator("[data-testid=sections] tbody tr")).to_have_count(1)
    look(staff, "lists-closed")


EVERY_INSIDER_PAGE = {
    "insiders-landing", "insiders-tenant", "disclosures", "disclosure-new-errors", "disclosure", "disclosure-amend",
    "disclosure-amended", "disclosures-listed", "pdmrs", "pdmrs-errors", "pdmrs-added", "pdmrs-associate-added",
    "pdmrs-code-issued", "calendar", "calendar-errors", "calendar-added", "notices", "notices-saved", "lists",
    "lists-errors", "section", "section-add-errors", "section-added", f"section-code-{OBLIGATIONS}",
    f"section-code-{DETAILS}", "acknowledge", "acknowledge-refused", "acknowledge-notice",
    "acknowledge-notice-errors", "acknowledged", "my-details", "my-details-form", "my-details-form-errors",
    "my-details-done", "my-details-refused", "section-complete", "insider-change", "insider-change-errors",
    "section-changed", "proposals-empty", "history", "history-errors", "transmission-errors", "transmission-done",
    "close", "close-confirm", "section-closed", "lists-closed",
}
