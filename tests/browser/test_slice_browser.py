"""The whole slice in Chromium with JavaScript switched off: the pages must work without it.

A reporter sends a report with a file, a handler signs in for the first time (password,
two-factor enrolment, recovery codes), downloads the file, acknowledges the case and
sends feedback; the reporter reads it with the case key and replies. Screenshots of the
key pages land in tests/browser/artifacts/ (desktop and a 390x844 phone).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from appliance.services import Services
from tests.browser import steps
from tests.browser.conftest import PHONE, ContextFactory, Site

pytestmark = pytest.mark.browser

VIEWPORTS: dict[str, dict[str, Any]] = {
    "desktop": {"viewport": {"width": 1280, "height": 800}},
    "phone": {"viewport": PHONE, "is_mobile": True, "has_touch": True, "device_scale_factor": 2},
}


def test_report_travels_to_handler_and_back(new_context: ContextFactory, site: Site, services: Services,
                                            artifacts: Path) -> None:
    walk_the_slice(new_context, site, services, artifacts, "desktop")


@pytest.mark.parametrize("backend", ["sqlite"])  # the layout does not depend on the database
def test_the_slice_on_a_phone(new_context: ContextFactory, site: Site, services: Services, artifacts: Path) -> None:
    walk_the_slice(new_context, site, services, artifacts, "phone")


def walk_the_slice(new_context: ContextFactory, site: Site, services: Services, artifacts: Path,
                   viewport: str) -> None:
    def shoot(page: Page, name: str) -> None:
        page.screenshot(path=artifacts / f"{site.backend}-{viewport}-{name}.png", full_page=True)

    reporter = new_context(java_script_enabled=False, **VIEWPORTS[viewport]).new_page()
    staff = new_context(java_script_enabled=False, **VIEWPORTS[viewport]).new_page()

    key = steps.make_report(reporter, site, shoot)

    steps.sign_in(staff, site, shoot, first_time=True)
    case_path = steps.open_first_case(staff, shoot)
    expect(staff.locator("main")).to_contain_text("The north warehouse")
    assert steps.download_evidence(staff) == steps.EVIDENCE
    steps.answer_case(staff, site, shoot)

    steps.open_case_with_key(reporter, site, key, shoot)
    thread = reporter.locator("ol.thread")
    expect(reporter.locator("main")).to_contain_text("Acknowledged")
    expect(thread).to_contain_text(steps.ANSWER)
    expect(thread.locator("li", has_text=steps.ANSWER)).to_contain_text("Feedback")
    expect(reporter.locator("main")).not_to_contain_text(steps.NOTE)
    with reporter.expect_download() as info:
        reporter.get_by_role("link", name="questions.pdf").click()
    assert info.value.path().read_bytes() == b"%PDF-1.4 questions\n"
    steps.reply_as_reporter(reporter, site, shoot)

    staff.goto(case_path)
    expect(staff.locator("ol.thread").first).to_contain_text(steps.REPLY)
    shoot(staff, "case-replied")
    services.session.commit()
    assert services.logbook.verify().ok
