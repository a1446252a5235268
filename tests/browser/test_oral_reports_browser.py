"""A report received by phone, in Chromium without JavaScript (Directive 2019/1937 Art. 18): the
handler records it and hands over the case key; the reporter checks the minutes with the key and
approves them, or corrects them; the handler sees the review on the case page."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from appliance.services import Services
from tests.browser import steps
from tests.browser.conftest import ContextFactory, Site

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("correct", [False, True], ids=["approve", "correct-then-approve"])
def test_handler_records_reporter_reviews_with_the_key_handler_sees_it(
        new_context: ContextFactory, site: Site, services: Services, artifacts: Path, correct: bool) -> None:
    def shoot(page: Page, name: str) -> None:
        page.screenshot(path=artifacts / f"{site.backend}-oral-{name}.png", full_page=True)

    staff = new_context(java_script_enabled=False).new_page()
    reporter = new_context(java_script_enabled=False).new_page()
    steps.sign_in(staff, site, first_time=True)
    key = steps.record_oral_report(staff, site, shoot)
    case_path = staff.url

    steps.review_oral_record(reporter, site, key, shoot, correct=correct)
    staff.goto(case_path)
    review = staff.get_by_test_id("review-state")
    if correct:
        expect(review).to_contain_text("Corrected")
        expect(staff.get_by_test_id("correction")).to_contain_text(steps.ORAL_CORRECTION)
        site.clock.advance(minutes=1)
        reporter.get_by_role("button", name="Approve the record with my corrections").click()
        expect(reporter.get_by_test_id("record-approved")).to_contain_text("Your corrections are part of it.")
        staff.reload()
        expect(review).to_contain_text("with the correction below")
    expect(review).to_contain_text("Approved")
    shoot(staff, "case-reviewed")
    with staff.expect_download() as info:
        staff.get_by_role("link", name="call.mp3").click()
    assert info.value.path().read_bytes() == b"ID3 the call"
    services.session.commit()
    assert services.logbook.verify().ok
