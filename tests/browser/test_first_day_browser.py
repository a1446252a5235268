"""The first day of a reporter, a handler and an administrator (issue 18), in Chromium (the
pages carry no JavaScript; only axe is injected): error pages inside the organisation's portal,
the warning before the last case-key attempt, the page after signing out, two-factor enrolment
on a phone, the users page that asks before it takes access away, and the readers page saying
once who receives new reports. axe checks every page state, in English and in Swedish, at
desktop and at phone (375 px) width."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from appliance.actors import CLI, Role
from appliance.crypto.case_keys import CaseKey
from appliance.errors import AuthenticationFailed
from appliance.services import Services
from tests.browser import steps
from tests.browser.conftest import ContextFactory, Site
from tests.browser.test_accessibility import Axe

pytestmark = [pytest.mark.browser, pytest.mark.parametrize("backend", ["sqlite"])]  # pages, not databases

PHONE_375: dict[str, Any] = {"viewport": {"width": 375, "height": 812}, "is_mobile": True, "has_touch": True}
DESKTOP: dict[str, Any] = {"viewport": {"width": 1280, "height": 800}}


def context(new_context: ContextFactory, size: dict[str, Any]) -> Page:
    """A fresh profile; the CSP is bypassed only so that axe can be injected."""
    return new_context(bypass_csp=True, **size).new_page()


def to_swedish(page: Page) -> None:
    page.locator("footer button[value=sv]").click()
    expect(page.locator("html")).to_have_attribute("lang", "sv")


def fits_the_width(page: Page) -> None:
    """Nothing sticks out sideways (a phone would scroll the whole page)."""
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], width  # type: ignore[index]


def test_error_pages_keep_the_portal_and_the_staff_frame(new_context: ContextFactory, site: Site) -> None:
    axe = Axe()
    for language in ("en", "sv"):
        page = context(new_context, PHONE_375 if language == "sv" else DESKTOP)
        page.goto(f"/r/{site.slug}/")
        if language == "sv":
            to_swedish(page)
        response = page.goto(f"/r/{site.slug}/no-such-page")
        assert response is not None and response.status == 404
        expect(page.locator("header .brand")).to_contain_text(site.tenant_name)
        back = page.get_by_test_id("back")
        expect(back).to_have_attribute("href", f"/r/{site.slug}/")
        axe(page, f"reporter-404-{language}")
        if language == "sv":
            fits_the_width(page)
        back.click()
        expect(page.get_by_role("heading", level=1)).to_contain_text(site.tenant_name)
        response = page.goto("/staff/no-such-page")
        assert response is not None and response.status == 404
        expect(page.locator("header .brand")).to_have_text("Case handling" if language == "en" else re.compile(".+"))
        expect(page.get_by_test_id("back")).to_have_attribute("href", "/staff/")
        axe(page, f"staff-404-{language}")
    axe.assert_clean({f"{n}-{lang}" for n in ("reporter-404", "staff-404") for lang in ("en", "sv")})


def test_the_follow_up_warns_before_the_last_attempt(new_context: ContextFactory, site: Site,
                                                     services: Services) -> None:
    tenant = services.tenants.by_slug(site.slug)
    threshold = services.ctx.settings.lockout_case_key_threshold
    for _ in range(threshold - 2):  # earlier wrong keys from this browser's address, as the server sees it
        with pytest.raises(AuthenticationFailed):
            services.reporting.open_with_key(tenant, CaseKey.new().display, "127.0.0.1")
    services.session.commit()
    axe = Axe()
    page = context(new_context, PHONE_375)
    page.goto(f"/r/{site.slug}/follow-up")
    expect(page.get_by_test_id("last-attempt")).to_have_count(0)
    page.get_by_label("Your case key").fill(CaseKey.new().display)
    page.get_by_role("button", name="Open my report").click()
    expect(page.get_by_role("alert")).to_contain_text("This case key was not recognised")
    expect(page.get_by_test_id("last-attempt")).to_contain_text("One attempt left before a pause of 1 minute(s).")
    axe(page, "follow-up-last-attempt")
    fits_the_width(page)
    to_swedish(page)
    expect(page.get_by_test_id("last-attempt")).to_contain_text("Ett försök kvar")
    axe(page, "follow-up-last-attempt-sv")
    page.get_by_label(re.compile("ärendenyckel", re.I)).fill(CaseKey.new().display)
    page.locator("main form button[type=submit]").click()
    expect(page.get_by_test_id("key-paused")).to_be_visible()
    axe(page, "follow-up-paused-sv")
    page.get_by_label(re.compile("ärendenyckel", re.I)).fill(CaseKey.new().display)
    page.locator("main form button[type=submit]").click()
    expect(page.get_by_test_id("refused")).to_be_visible()  # the 429 page, in the organisation's portal
    expect(page.locator("header .brand")).to_contain_text(site.tenant_name)
    axe(page, "follow-up-refused-sv")
    axe.assert_clean({"follow-up-last-attempt", "follow-up-last-attempt-sv", "follow-up-paused-sv",
                      "follow-up-refused-sv"})


def test_signing_out_ends_on_the_closed_session_page(new_context: ContextFactory, site: Site,
                                                     artifacts: Path) -> None:
    axe = Axe()
    page = context(new_context, PHONE_375)
    key = steps.make_report(page, site)
    steps.open_case_with_key(page, site, key)
    page.get_by_role("button", name="Sign out of my report").click()
    expect(page).to_have_url(re.compile(rf"/r/{site.slug}/signed-out$"))
    expect(page.get_by_test_id("signed-out")).to_contain_text("Your session is closed.")
    expect(page.get_by_test_id("follow-up-url")).to_have_text(site.url(f"/r/{site.slug}/follow-up"))
    expect(page.locator("main")).to_contain_text("clear the browser")
    expect(page.locator("main")).not_to_contain_text(key)
    axe(page, "signed-out")
    fits_the_width(page)
    page.screenshot(path=artifacts / "first-day-signed-out-phone.png", full_page=True)
    to_swedish(page)
    expect(page.get_by_role("heading", level=1)).to_have_text("Du har loggat ut")
    axe(page, "signed-out-sv")
    page.go_back()  # Back shows nothing of the report: the case page needs the key again
    page.goto(f"/r/{site.slug}/case")
    expect(page).to_have_url(re.compile(rf"/r/{site.slug}/follow-up$"))
    axe.assert_clean({"signed-out", "signed-out-sv"})


def test_enrolment_on_a_phone(new_context: ContextFactory, site: Site, artifacts: Path) -> None:
    axe = Axe()
    page = context(new_context, PHONE_375)
    page.goto("/staff/login")
    page.get_by_label("E-mail address").fill(site.email)
    page.get_by_label("Password").fill(site.password)
    page.get_by_role("button", name="Continue").click()
    expect(page).to_have_url(re.compile(r"/staff/enrol$"))
    grouped = page.get_by_test_id("totp-secret").inner_text()
    assert re.fullmatch(r"([A-Z2-7]{4} )*[A-Z2-7]{1,4}", grouped), grouped
    assert grouped.replace(" ", "") == site.totp_secret
    href = page.get_by_test_id("otpauth").get_attribute("href") or ""
    assert href.startswith("otpauth://totp/") and f"secret={site.totp_secret}" in href
    axe(page, "enrol-phone")
    fits_the_width(page)
    page.screenshot(path=artifacts / "first-day-enrol-phone.png", full_page=True)
    to_swedish(page)
    expect(page.get_by_test_id("otpauth")).to_have_text("Lägg till kontot i min autentiseringsapp")
    axe(page, "enrol-phone-sv")
    axe.assert_clean({"enrol-phone", "enrol-phone-sv"})


def test_the_users_page_asks_before_it_takes_access_away(new_context: ContextFactory, site: Site,
                                                         services: Services, artifacts: Path) -> None:
    tenant = services.tenants.by_slug(site.slug)
    colleague, _ = services.users.create_user("colleague@example.com", "another long passphrase", [
        (tenant.id, Role.AUDITOR), (tenant.id, Role.ANALYST)], CLI, with_totp=True, chosen_by_user=True)
    services.session.commit()
    axe = Axe()
    for language, size in (("en", DESKTOP), ("en", PHONE_375), ("sv", PHONE_375)):
        name = f"{language}-{'phone' if size is PHONE_375 else 'desktop'}"
        page = context(new_context, size)
        steps.sign_in(page, site, first_time=name == "en-desktop")
        if language == "sv":
            to_swedish(page)
        page.goto(f"/admin/t/{site.slug}/users")
        users = page.get_by_test_id("user")
        expect(users).to_have_count(2)
        mine = users.filter(has_text=site.email)
        expect(mine.get_by_test_id("own-account")).to_be_visible()
        expect(mine.locator("a.danger")).to_have_count(0)
        theirs = users.filter(has_text="colleague@example.com")
        # Revoke each of their two roles (until one is revoked below), disable, reset two-factor, reset password.
        expect(theirs.locator("a.danger")).to_have_count(5 if name == "en-desktop" else 4)
        expect(theirs.locator("select option:checked")).to_have_attribute("value", "")
        expect(page.get_by_test_id("role-help").locator("dd")).to_have_count(len(Role))
        for card in users.all():  # no blank rows: every card has its address and its state
            box = card.bounding_box()
            assert box is not None and box["height"] > 40
        axe(page, f"admin-users-{name}")
        fits_the_width(page)
        page.screenshot(path=artifacts / f"first-day-users-{name}.png", full_page=True)
        if name == "en-desktop":
            theirs.get_by_role("button", name="Grant: colleague@example.com").click()
            expect(page.get_by_role("alert")).to_contain_text("Choose the role to grant, then press Grant.")
            axe(page, "admin-users-no-role")
            theirs.get_by_role("link", name="Disable: colleague@example.com").click()
            expect(page.get_by_role("heading", level=1)).to_have_text("Disable the account of colleague@example.com?")
            axe(page, "admin-confirm-disable")
            page.get_by_role("link", name="Cancel").click()
            theirs.get_by_role("link", name="Revoke: Auditor, colleague@example.com").click()
            expect(page.get_by_test_id("removal-warning")).to_be_visible()
            axe(page, "admin-confirm-revoke")
            page.get_by_role("button", name="Revoke the role").click()
            expect(theirs.locator("ul.roles")).to_contain_text("Analyst")
            expect(theirs.locator("ul.roles")).not_to_contain_text("Auditor")
        if language == "sv":
            theirs.locator("a.danger").first.click()
            expect(page.get_by_role("button", name=re.compile("."))).not_to_have_count(0)
            axe(page, "admin-confirm-sv-phone")
            fits_the_width(page)
    assert services.users.get(colleague.id).disabled_at is None  # cancelled, never confirmed
    axe.assert_clean({"admin-users-en-desktop", "admin-users-en-phone", "admin-users-sv-phone", "admin-users-no-role",
                      "admin-confirm-disable", "admin-confirm-revoke", "admin-confirm-sv-phone"})


def test_the_readers_page_says_once_who_receives_new_reports(new_context: ContextFactory, site: Site) -> None:
    axe = Axe()
    page = context(new_context, DESKTOP)
    steps.sign_in(page, site, first_time=True)
    page.goto(f"/admin/t/{site.slug}/readers")
    expect(page.get_by_test_id("who-receives")).to_have_text("Every reader on this list receives new reports.")
    axe(page, "admin-readers-who-receives")
    to_swedish(page)
    expect(page.get_by_test_id("who-receives")).to_have_text("Varje läsare på listan tar emot nya rapporter.")
    axe(page, "admin-readers-who-receives-sv")
    axe.assert_clean({"admin-readers-who-receives", "admin-readers-who-receives-sv"})
