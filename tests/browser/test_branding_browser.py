"""The organisation's branding in Chromium (issue 18): the administrator uploads a logo and sets
the intro, the privacy notice and the policy link on the Branding page, without JavaScript; the
portal shows the logo under the site's own strict CSP (it comes from the database, same origin),
the intro, the link by its host and the privacy notice from the footer. axe checks the admin page
and the portal's pages in English and in Swedish."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser import steps
from tests.browser.conftest import ContextFactory, Site
from tests.browser.test_accessibility import Axe
from tests.functional.branding_support import logo_png

pytestmark = [pytest.mark.browser, pytest.mark.parametrize("backend", ["sqlite"])]  # pages, not databases

INTRO = "Example AB's ombudsman reads every report.\n\nYou can write in English or Swedish."
NOTICE = "Example AB is the controller of the personal data in reports.\n\nWrite to privacy@example.com."
POLICY = "https://intranet.example.com/whistleblowing-policy"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'


def to_swedish(page: Page) -> None:
    page.locator("footer button[value=sv]").click()
    expect(page.locator("html")).to_have_attribute("lang", "sv")


def test_the_admin_brands_the_portal_and_reporters_see_it(new_context: ContextFactory, site: Site, tmp_path: Path,
                                                           artifacts: Path) -> None:
    axe = Axe()
    logo, svg = tmp_path / "logo.png", tmp_path / "logo.svg"
    logo.write_bytes(logo_png((180, 60)))
    svg.write_bytes(SVG)

    staff = new_context(bypass_csp=True).new_page()  # the CSP is bypassed only so that axe can be injected
    steps.sign_in(staff, site, first_time=True)
    staff.goto("/admin/")
    staff.get_by_role("link", name="Portal branding").click()
    expect(staff.get_by_role("heading", level=1)).to_contain_text("Portal branding")
    axe(staff, "admin-branding")
    staff.get_by_label("Logo").set_input_files(str(svg))
    staff.get_by_role("button", name="Upload logo").click()
    expect(staff.get_by_role("alert")).to_contain_text("Only PNG and JPEG images can be used")
    axe(staff, "admin-branding-logo-error")
    staff.get_by_label("Link to your reporting policy").fill("javascript:alert(1)")
    staff.get_by_role("button", name="Save texts").click()
    expect(staff.get_by_role("alert")).to_contain_text("Enter a complete https:// address")
    axe(staff, "admin-branding-text-error")
    staff.get_by_label("Logo").set_input_files(str(logo))
    staff.get_by_role("button", name="Upload logo").click()
    expect(staff.get_by_role("status")).to_contain_text("The new logo is shown on the portal.")
    staff.get_by_label("Introduction on the portal").fill(INTRO)
    staff.get_by_label("Privacy notice").fill(NOTICE)
    staff.get_by_label("Link to your reporting policy").fill(POLICY)
    staff.get_by_role("button", name="Save texts").click()
    expect(staff.get_by_role("status")).to_contain_text("Saved.")
    expect(staff.get_by_role("img", name="Current logo of Example AB")).to_be_visible()
    axe(staff, "admin-branding-saved")
    to_swedish(staff)
    expect(staff.get_by_role("heading", level=1)).to_contain_text("Portalens utseende")
    axe(staff, "admin-branding-sv")

    # The site's own CSP, not bypassed: the logo loads (same origin, from the database).
    reporter = new_context().new_page()
    reporter.goto(f"/r/{site.slug}/")
    image = reporter.get_by_role("img", name=site.tenant_name)
    expect(image).to_be_visible()
    assert image.evaluate("img => img.complete && img.naturalWidth") == 180
    expect(reporter.get_by_test_id("intro").locator("p")).to_have_count(2)
    link = reporter.get_by_role("link", name="Reporting policy on intranet.example.com")
    expect(link).to_have_attribute("href", POLICY)
    expect(link).to_have_attribute("rel", "noopener noreferrer")
    reporter.screenshot(path=artifacts / f"{site.backend}-branded-portal.png", full_page=True)

    for language in ("en", "sv"):
        page = new_context(bypass_csp=True).new_page()
        page.goto(f"/r/{site.slug}/")
        if language == "sv":
            to_swedish(page)
        expect(page.get_by_role("img", name=site.tenant_name)).to_be_visible()
        axe(page, f"portal-branded-{language}")
        page.get_by_test_id("privacy-link").click()
        expect(page).to_have_url(re.compile(rf"/r/{site.slug}/privacy$"))
        expect(page.get_by_test_id("privacy-notice")).to_contain_text("Example AB is the controller")
        axe(page, f"privacy-{language}")
        page.goto(f"/r/{site.slug}/report")
        expect(page.get_by_test_id("privacy-link")).to_be_visible()
        axe(page, f"report-branded-{language}")
    axe.assert_clean({"admin-branding", "admin-branding-logo-error", "admin-branding-text-error",
                      "admin-branding-saved", "admin-branding-sv"}
                     | {f"{n}-{lang}" for n in ("portal-branded", "privacy", "report-branded") for lang in ("en", "sv")})


def test_the_standard_privacy_notice_passes_axe(new_context: ContextFactory, site: Site) -> None:
    axe = Axe()
    page = new_context(bypass_csp=True).new_page()
    for language in ("en", "sv"):
        page.goto(f"/r/{site.slug}/privacy")
        if language == "sv":
            to_swedish(page)
        expect(page.get_by_test_id("standard-privacy-notice")).to_contain_text(site.tenant_name)
        axe(page, f"standard-privacy-{language}")
    axe.assert_clean({"standard-privacy-en", "standard-privacy-sv"})
