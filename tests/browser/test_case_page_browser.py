"""The handler's case page in Chromium (issue 18): on a desktop the report and the messages are the
main column with status, deadlines and the actions beside it; on a phone one column, nothing
sideways; every action comes back to its section with a confirmation a screen reader finds
(role=status). axe in English and Swedish."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser import steps
from tests.browser.conftest import ContextFactory, Site
from tests.browser.test_accessibility import Axe

pytestmark = [pytest.mark.browser, pytest.mark.parametrize("backend", ["sqlite"])]  # pages, not databases

DESKTOP: dict[str, Any] = {"viewport": {"width": 1280, "height": 800}}
PHONE: dict[str, Any] = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}


def box(page: Page, selector: str) -> dict[str, float]:
    found = page.locator(selector).bounding_box()
    assert found is not None, selector
    return found


def fits_the_width(page: Page) -> None:
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], width  # type: ignore[index]


def to_swedish(page: Page) -> None:
    page.locator("footer button[value=sv]").click()
    expect(page.locator("html")).to_have_attribute("lang", "sv")


def page_height(page: Page) -> int:
    return int(page.evaluate("() => document.documentElement.scrollHeight"))


def confirmed(page: Page, section: str, code: str, text: str) -> None:
    """Back at the section acted on, with the confirmation shown once, inside it."""
    expect(page).to_have_url(re.compile(rf"\?done={code}#{section}$"))
    expect(page.get_by_role("status")).to_have_count(1)
    expect(page.locator(f"#{section}").get_by_role("status")).to_have_text(text)
    expect(page.locator(f"#{section}-heading")).to_be_in_viewport()


def test_the_case_page_on_a_desktop_and_on_a_phone(new_context: ContextFactory, site: Site, artifacts: Path) -> None:
    axe = Axe()
    reporter = new_context().new_page()
    steps.make_report(reporter, site)

    desk = new_context(bypass_csp=True, **DESKTOP).new_page()  # the CSP is bypassed only so axe can be injected
    steps.sign_in(desk, site, first_time=True)
    case_path = steps.open_first_case(desk)
    main, facts, side = box(desk, ".case-main"), box(desk, ".case-facts"), box(desk, ".case-side")
    assert facts["x"] >= main["x"] + main["width"] and side["x"] >= main["x"] + main["width"]  # beside, not below
    assert abs(facts["y"] - main["y"]) < 5 and side["y"] >= facts["y"] + facts["height"] - 1
    fits_the_width(desk)
    print(f"case page height at 1280 px: {page_height(desk)} px")
    axe(desk, "case-desktop")

    site.clock.advance(minutes=5)
    desk.get_by_label("New status").select_option("acknowledged")
    desk.get_by_role("button", name="Change status").click()
    confirmed(desk, "status", "status", "The status has been changed.")
    expect(desk.get_by_test_id("current-status")).to_have_text("Acknowledged")
    axe(desk, "case-status-changed")
    site.clock.advance(minutes=2)
    desk.get_by_label("Message to the reporter").fill(steps.ANSWER)
    desk.get_by_role("button", name="Send to reporter").click()
    confirmed(desk, "thread", "message", "Your message has been sent to the reporter.")
    expect(desk.get_by_test_id("message-author")).to_have_text(f"Handler: {site.email}")
    desk.screenshot(path=artifacts / "case-page-desktop.png", full_page=True)
    desk.get_by_role("button", name="Add note").click()  # empty: the error, at the notes, no confirmation
    expect(desk.get_by_role("alert")).to_contain_text("Internal note")
    expect(desk.get_by_role("status")).to_have_count(0)
    desk.get_by_label("Internal note").fill(steps.NOTE)
    desk.get_by_role("button", name="Add note").click()
    confirmed(desk, "notes", "note", "The note has been added.")
    desk.get_by_role("link", name="Who can open it").click()
    expect(desk).to_have_url(re.compile("#access$"))

    to_swedish(desk)
    expect(desk.get_by_test_id("case-nav")).to_contain_text("Status och tidsfrister")
    axe(desk, "case-desktop-sv")
    site.clock.advance(minutes=2)
    desk.get_by_label("Intern anteckning").fill("Ytterligare en anteckning.")
    desk.locator("#notes form button[type=submit]").click()
    confirmed(desk, "notes", "note", "Anteckningen har lagts till.")
    axe(desk, "case-note-added-sv")

    phone = new_context(bypass_csp=True, **PHONE).new_page()
    steps.sign_in(phone, site, first_time=False)
    phone.goto(case_path)
    fits_the_width(phone)
    facts, main, side = box(phone, ".case-facts"), box(phone, ".case-main"), box(phone, ".case-side")
    assert facts["y"] < main["y"] < side["y"]  # one column: status and deadlines, the report and messages, actions
    assert abs(facts["x"] - main["x"]) < 5 and abs(main["x"] - side["x"]) < 5
    print(f"case page height at 390 px: {page_height(phone)} px")
    axe(phone, "case-phone")
    phone.get_by_label("Message to the reporter").fill("A second answer, from a phone.")
    site.clock.advance(minutes=2)
    phone.get_by_role("button", name="Send to reporter").click()
    confirmed(phone, "thread", "message", "Your message has been sent to the reporter.")
    fits_the_width(phone)
    phone.screenshot(path=artifacts / "case-page-phone.png", full_page=True)
    axe(phone, "case-phone-message-sent")
    axe.assert_clean({"case-desktop", "case-status-changed", "case-desktop-sv", "case-note-added-sv", "case-phone",
                      "case-phone-message-sent"})
