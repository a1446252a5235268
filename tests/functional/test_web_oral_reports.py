"""Reports received by phone or in a meeting through the web: the handler records, the reporter
approves or corrects with the case key, the handler sees the review (Directive 2019/1937 Art. 18)."""

from __future__ import annotations

import datetime as dt
import io
import logging
import re

import pytest

from appliance.actors import Role
from tests.functional.world import World, audit_details, count
from tests.web import CASE_KEY, Browser

NEW = "/staff/oral-reports/new"
MINUTES = "ORAL-MINUTES-MARKER: cash is taken from the till every Friday."
CORRECTION = "ORAL-CORRECTION-MARKER: it was Thursdays, not Fridays."
CASE_ID = re.compile(r'href="/staff/cases/([0-9a-f-]{36})"')


def record(world: World, browser: Browser, **changes: object) -> tuple[str, str]:
    """Post the form as the handler; (case key, case id) from the receipt."""
    data: dict[str, object] = {
        "category": str(world.alpha.category_id), "channel": "phone",
        "received_at": (world.clock() - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
        "minutes": MINUTES, "consent": "y",
        "recording": (io.BytesIO(b"ID3 recorded call"), "call.mp3", "audio/mpeg"),
    }
    data.update(changes)
    response = browser.post(NEW, {k: v for k, v in data.items() if v is not None}, content_type="multipart/form-data")
    assert response.status_code == 200, browser.text()
    page = browser.text()
    key, case_id = CASE_KEY.search(page), CASE_ID.search(page)
    assert key and case_id
    return key.group(1), case_id.group(1)


def reporter(world: World, key: str) -> Browser:
    browser = world.browser("192.0.2.44")
    response = browser.post(f"/r/{world.alpha.slug}/follow-up", {"case_key": key})
    assert response.status_code == 303, browser.text()
    return browser


def test_handler_records_the_reporter_approves_with_the_key_and_the_handler_sees_it(
        world: World, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    handler = world.staff_browser(world.alpha.staff[Role.HANDLER])
    queue = handler.get("/staff/queue").get_data(as_text=True)
    assert f'href="{NEW}"' in queue and "Record a report received by phone or in a meeting" in queue
    form = handler.get(NEW).get_data(as_text=True)
    assert 'name="consent"' in form and 'enctype="multipart/form-data"' in form

    key, case_id = record(world, handler)
    receipt = handler.text()
    assert "The reporter&#39;s case key" in receipt or "The reporter's case key" in receipt
    case_page = handler.get(f"/staff/cases/{case_id}").get_data(as_text=True)
    assert MINUTES in case_page and "Pending: the reporter has not yet checked the record." in case_page
    assert "call.mp3" in case_page and key not in case_page  # the key is shown once, on the receipt only

    browser = reporter(world, key)
    page = browser.get(f"/r/{world.alpha.slug}/case").get_data(as_text=True)
    assert MINUTES in page and "I approve this record" in page and "Submit my corrections" in page
    approved = browser.post(f"/r/{world.alpha.slug}/case/record/approve", form_url=f"/r/{world.alpha.slug}/case")
    assert approved.status_code == 303 and approved.headers["Location"].endswith("#record")
    page = browser.get(f"/r/{world.alpha.slug}/case").get_data(as_text=True)
    assert 'data-testid="record-approved"' in page and "Submit my corrections" not in page

    # A replayed approval is refused; the approval stands once.
    replay = browser.post(f"/r/{world.alpha.slug}/case/record/approve", form_url=f"/r/{world.alpha.slug}/case")
    assert replay.status_code == 409 and "You have already approved this record." in browser.text()

    case_page = handler.get(f"/staff/cases/{case_id}").get_data(as_text=True)
    assert "Approved" in case_page and "Pending: the reporter" not in case_page
    assert audit_details(world.ctx, "case.record_approved") == [None]
    assert audit_details(world.ctx, "case.oral_recorded") == ["channel=phone recording=1"]
    assert MINUTES not in caplog.text and key not in caplog.text


def test_the_reporter_corrects_and_the_handler_reads_the_correction(
        world: World, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    handler = world.staff_browser(world.alpha.staff[Role.HANDLER])
    key, case_id = record(world, handler, channel="meeting", recording=None)
    browser = reporter(world, key)
    case_url = f"/r/{world.alpha.slug}/case"

    empty = browser.post(f"{case_url}/record/correct", {"correction": " "}, form_url=case_url)
    assert empty.status_code == 400
    corrected = browser.post(f"{case_url}/record/correct", {"correction": f"<script>x</script>{CORRECTION}"},
                             form_url=case_url)
    assert corrected.status_code == 303
    page = browser.get(case_url).get_data(as_text=True)
    assert CORRECTION in page and "Approve the record with my corrections" in page and "<script>x" not in page
    again = browser.post(f"{case_url}/record/correct", {"correction": "more"}, form_url=case_url)
    assert again.status_code == 409

    case_page = handler.get(f"/staff/cases/{case_id}").get_data(as_text=True)
    assert CORRECTION in case_page and "Corrected" in case_page and "&lt;script&gt;" in case_page

    assert browser.post(f"{case_url}/record/approve", form_url=case_url).status_code == 303
    case_page = handler.get(f"/staff/cases/{case_id}").get_data(as_text=True)
    assert "with the correction below" in case_page and CORRECTION in case_page
    assert audit_details(world.ctx, "case.record_approved") == ["after-correction"]
    assert CORRECTION not in caplog.text and MINUTES not in caplog.text


def test_the_form_says_what_is_missing_and_stores_nothing(world: World) -> None:
    handler = world.staff_browser(world.alpha.staff[Role.HANDLER])
    before = count(world.ctx, "cases")
    for changes, message in (
            ({"consent": None}, "Confirm that the reporter consented"),
            ({"received_at": (world.clock() + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")},
             "within the last 30 days"),
            ({"recording": (io.BytesIO(b"%PDF"), "notes.pdf", "application/pdf")}, "audio or video file"),
            ({"minutes": ""}, "Minutes or transcript"),
            ({"category": str(world.beta_case.id)}, "What is it about?")):
        data: dict[str, object] = {
            "category": str(world.alpha.category_id), "channel": "phone",
            "received_at": world.clock().strftime("%Y-%m-%dT%H:%M"), "minutes": MINUTES, "consent": "y"}
        data.update(changes)
        response = handler.post(NEW, {k: v for k, v in data.items() if v is not None},
                                content_type="multipart/form-data")
        assert response.status_code == 400, changes
        assert message in handler.text(), changes
    assert count(world.ctx, "cases") == before
    assert handler.post(NEW, {"minutes": MINUTES}, csrf=False).status_code == 400  # no CSRF token


def test_other_tenants_and_other_reporters_cannot_reach_the_record(world: World) -> None:
    handler = world.staff_browser(world.alpha.staff[Role.HANDLER])
    key, case_id = record(world, handler)
    beta = world.staff_browser(world.beta.staff[Role.HANDLER])
    assert beta.get(f"/staff/cases/{case_id}").status_code == 404
    # beta's handler cannot choose alpha's categories: the form offers only beta's.
    response = beta.post(NEW, {"category": str(world.alpha.category_id), "channel": "phone", "minutes": MINUTES,
                               "received_at": world.clock().strftime("%Y-%m-%dT%H:%M"), "consent": "y"},
                         content_type="multipart/form-data")
    assert response.status_code == 400
    # The reporter of an ordinary case has no record to approve; the oral case is untouched.
    other = world.reporter_browser(world.alpha, world.alpha_case)
    case_url = f"/r/{world.alpha.slug}/case"
    assert "I approve this record" not in other.get(case_url).get_data(as_text=True)
    assert other.post(f"{case_url}/record/approve", form_url=case_url).status_code == 404
    # A staff member without the handler role gets no form.
    auditor = world.staff_browser(world.alpha.staff[Role.AUDITOR])
    assert auditor.get(NEW).status_code in (403, 404)
    assert "Pending: the reporter" in handler.get(f"/staff/cases/{case_id}").get_data(as_text=True)
    assert key
