"""Closing at triage and the work queue on a phone (issue 18), in Chromium: a duplicate closed
without an acknowledgement through the case page and its confirmation page; then the queue at
390 px shows each case as a card (no column off-screen, no sideways scrolling) and keeps its
table semantics. axe checks the queue and the case page, in English and in Swedish, at desktop
and phone width."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from appliance.cases.reporting import NewReport
from appliance.services import Services
from tests.browser import steps
from tests.browser.conftest import PHONE, ContextFactory, Site
from tests.browser.test_accessibility import Axe
from tests.functional.queue_support import insert_cases

pytestmark = [pytest.mark.browser, pytest.mark.parametrize("backend", ["sqlite"])]  # pages, not databases

DESKTOP: dict[str, Any] = {"viewport": {"width": 1280, "height": 800}}
CARD = """() => [...document.querySelectorAll("table.queue tbody tr")].map(tr => {
  const box = tr.getBoundingClientRect();
  const cells = [...tr.querySelectorAll("td[data-label]")];
  return {display: getComputedStyle(tr).display, left: box.left, right: box.right,
          labels: cells.map(td => getComputedStyle(td, "::before").content)};
})"""


def fits_the_width(page: Page) -> None:
    """Nothing sticks out sideways: the page does not scroll horizontally."""
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], width  # type: ignore[index]


def file_two_reports(services: Services, site: Site) -> tuple[str, str]:
    tenant = services.tenants.by_slug(site.slug)
    category = services.tenants.categories(tenant.id)[0]
    references = []
    for what in ("Stock is sold off the books.", "The same stock sold off the books, reported again."):
        receipt = services.reporting.submit(tenant, NewReport(category.id, what), [])
        references.append(receipt.reference)
        site.clock.advance(minutes=5)
    # a few more cases for the queue, one overdue, with long assignee-less rows
    now = site.clock()
    insert_cases(services, tenant.id, category.id, [(now - dt.timedelta(days=9), None, None, "received"),
                                                   (now - dt.timedelta(days=20), now - dt.timedelta(days=19), None,
                                                    "assessing")])
    services.session.commit()
    return references[0], references[1]


def test_close_a_duplicate_then_the_queue_on_a_phone(new_context: ContextFactory, site: Site,
                                                     services: Services) -> None:
    earlier, duplicate = file_two_reports(services, site)
    axe = Axe()
    page = new_context(bypass_csp=True, **DESKTOP).new_page()
    steps.sign_in(page, site, first_time=True)
    expect(page.locator("table.queue tbody tr")).to_have_count(4)
    assert page.locator("table.queue tbody tr").first.evaluate("tr => getComputedStyle(tr).display") == "table-row"
    axe(page, "queue-en")

    page.get_by_role("link", name=duplicate).click()
    expect(page.get_by_test_id("triage")).to_contain_text("For spam and duplicates only.")
    axe(page, "case-en")
    page.get_by_role("button", name="Close without acknowledgement…").click()  # nothing chosen yet
    expect(page.get_by_role("alert")).to_contain_text("Choose why the report is closed.")
    axe(page, "case-triage-errors-en")
    page.get_by_label("A duplicate of an earlier report").check()
    page.get_by_label("Reference of the earlier case").fill("zzzz-zzzz")
    page.get_by_role("button", name="Close without acknowledgement…").click()
    expect(page.get_by_role("alert")).to_contain_text("No case you can open has this reference")
    page.get_by_label("A duplicate of an earlier report").check()
    page.get_by_label("Reference of the earlier case").fill(earlier.lower())
    page.get_by_role("button", name="Close without acknowledgement…").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"Close case {duplicate} without acknowledgement?")
    expect(page.get_by_test_id("triage-warning")).to_contain_text(f"Closed as a duplicate of case {earlier}.")
    axe(page, "triage-confirm-en")
    page.get_by_role("button", name="Close without acknowledgement", exact=True).click()
    expect(page.get_by_test_id("closed-at-triage")).to_contain_text(f"as a duplicate of case {earlier}")
    expect(page.locator("main")).to_contain_text("Duplicate of an earlier report")
    axe(page, "case-closed-en")

    page.locator("footer button[value=sv]").click()
    expect(page.locator("html")).to_have_attribute("lang", "sv")
    axe(page, "case-closed-sv")
    page.get_by_test_id("duplicate-of").click()
    expect(page.get_by_test_id("triage")).to_be_visible()  # the earlier case, still to acknowledge
    axe(page, "case-sv")

    page.set_viewport_size(PHONE)
    page.goto("/staff/queue?status=all")
    rows = page.locator("table.queue tbody tr")
    expect(rows).to_have_count(4)
    fits_the_width(page)
    cards = page.evaluate(CARD)
    assert all(c["display"] == "block" and c["left"] >= 0 and c["right"] <= PHONE["width"] for c in cards), cards
    # each value under its column's name, a caption screen readers skip (the header names it)
    assert [label.split(" / ")[0] for label in cards[0]["labels"]] == [
        '"Mottaget"', '"Kategori"', '"Status"', '"Nästa tidsfrist"', '"Ansvarig"'], cards[0]["labels"]
    # still one table with its six column headers for a screen reader
    expect(page.get_by_role("table")).to_have_count(1)
    expect(page.get_by_role("columnheader")).to_have_count(6)
    expect(page.get_by_role("cell")).to_have_count(4 * 6)
    axe(page, "queue-phone-sv")
    page.locator("footer button[value=en]").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.goto("/staff/queue?status=all")
    fits_the_width(page)
    axe(page, "queue-phone-en")
    page.get_by_role("link", name=duplicate).click()
    fits_the_width(page)
    axe(page, "case-closed-phone-en")
    axe.assert_clean({"queue-en", "case-en", "case-triage-errors-en", "triage-confirm-en", "case-closed-en",
                      "case-closed-sv", "case-sv", "queue-phone-sv", "queue-phone-en", "case-closed-phone-en"})
