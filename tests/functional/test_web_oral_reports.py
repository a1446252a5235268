"""Reports received by phone or in a meeting through the web: the handler records, the reporter
approves or corrects with the case key, the handler sees the review (Directive 2019/1937 Art. 18)."""

from __future__ import annotations

import datetime as dt
import io
import logging
import re
import uuid

import pytest
import sqlalchemy as sa

from appliance.actors import Role
from appliance.cases.models import Case, CasePrivateKeySeal
from appliance.readers.models import ReaderChange
from appliance.tenants.models import ReportingChannel
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


# --- the reporting channel an oral report is recorded for ---------------------------------------
def _second_channel_read_by_target(world: World) -> uuid.UUID:
    """A second channel of alpha whose only reader is ``world.target`` (proposed, then confirmed)."""
    admin = world.staff_browser(world.alpha.staff[Role.ADMIN])
    assert admin.post("/admin/t/alpha/channels", {"name": "Subsidiary <b>x</b>", "intro": ""}).status_code == 303
    with world.ctx.sessions() as session:
        channel = session.execute(sa.select(ReportingChannel.id).where(
            ReportingChannel.tenant_id == world.alpha.tenant_id, ReportingChannel.is_default.is_(False))).scalar_one()
    response = admin.post(f"/admin/t/alpha/channels/{channel}/readers", {"members": [str(world.target.user_id)]},
                          form_url=f"/admin/t/alpha/channels/{channel}")
    assert response.status_code in (302, 303), admin.text()
    with world.ctx.sessions() as session:
        change = session.execute(sa.select(ReaderChange.id).where(
            ReaderChange.tenant_id == world.alpha.tenant_id, ReaderChange.kind == "channel",
            ReaderChange.state == "pending")).scalar_one()
    handler = world.staff_browser(world.alpha.staff[Role.HANDLER])
    response = handler.post(f"/staff/readers/alpha/changes/{change}/confirm", form_url="/staff/readers")
    assert response.status_code == 303, handler.text()
    return channel


def _sealed_to(world: World, case_id: str) -> set[uuid.UUID]:
    with world.ctx.sessions() as session:
        return set(session.execute(sa.select(CasePrivateKeySeal.user_id).where(
            CasePrivateKeySeal.case_id == uuid.UUID(case_id), CasePrivateKeySeal.kind == "handler")).scalars())


def test_an_oral_report_for_a_second_channel_reaches_only_its_readers(world: World) -> None:
    channel = _second_channel_read_by_target(world)
    target = world.staff_browser(world.target)
    form = target.get(NEW).get_data(as_text=True)
    assert 'name="reporting_channel"' in form and "Subsidiary &lt;b&gt;x&lt;/b&gt;" in form and "<b>x</b>" not in form
    _key, case_id = record(world, target, reporting_channel=str(channel))
    assert _sealed_to(world, case_id) == {world.target.user_id}
    with world.ctx.sessions() as session:
        case = session.get_one(Case, uuid.UUID(case_id))
        assert case.reporting_channel_id == channel
    page = target.get(f"/staff/cases/{case_id}").get_data(as_text=True)
    assert MINUTES in page and 'data-testid="reporting-channel">Subsidiary &lt;b&gt;x&lt;/b&gt;' in page
    # The default channel's handler, not a reader of this channel: not in their queue, not readable,
    # and they cannot record one for it (it would not be sealed to them).
    handler = world.staff_browser(world.alpha.staff[Role.HANDLER])
    assert case.reference not in handler.get("/staff/queue").get_data(as_text=True)
    assert MINUTES not in handler.get(f"/staff/cases/{case_id}").get_data(as_text=True)
    before = count(world.ctx, "cases")
    response = handler.post(NEW, {"category": str(world.alpha.category_id), "channel": "phone",
                                  "reporting_channel": str(channel), "minutes": MINUTES, "consent": "y",
                                  "received_at": (world.clock() - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")},
                            content_type="multipart/form-data")
    assert response.status_code == 400 and 'data-testid="not-sealed"' in handler.text()
    assert count(world.ctx, "cases") == before


def test_an_oral_report_without_a_chosen_channel_goes_to_the_default_one(world: World) -> None:
    handler = world.staff_browser(world.alpha.staff[Role.HANDLER])
    assert 'name="reporting_channel"' not in handler.get(NEW).get_data(as_text=True)  # one channel: no choice
    _key, case_id = record(world, handler)
    with world.ctx.sessions() as session:
        case = session.get_one(Case, uuid.UUID(case_id))
        default = session.execute(sa.select(ReportingChannel.id).where(
            ReportingChannel.tenant_id == world.alpha.tenant_id, ReportingChannel.is_default.is_(True))).scalar_one()
    assert case.reporting_channel_id == default
    assert world.alpha.staff[Role.HANDLER].user_id in _sealed_to(world, case_id)


@pytest.mark.parametrize("tampered", ["beta", "made-up", "not-a-uuid", "closed"])
def test_an_oral_report_for_a_channel_that_is_not_one_of_the_organisation_is_refused(
        world: World, tampered: str) -> None:
    channel = _second_channel_read_by_target(world)
    with world.ctx.sessions() as session:
        beta = session.execute(sa.select(ReportingChannel.id).where(
            ReportingChannel.tenant_id == world.beta.tenant_id)).scalars().first()
    if tampered == "closed":
        admin = world.staff_browser(world.alpha.staff[Role.ADMIN])
        response = admin.post(f"/admin/t/alpha/channels/{channel}/toggle", {},
                              form_url=f"/admin/t/alpha/channels/{channel}")
        assert response.status_code in (302, 303), admin.text()
    value = {"beta": str(beta) if beta else str(uuid.uuid4()), "made-up": str(uuid.uuid4()),
             "not-a-uuid": "../../etc", "closed": str(channel)}[tampered]
    target = world.staff_browser(world.target)
    before = count(world.ctx, "cases")
    response = target.post(NEW, {"category": str(world.alpha.category_id), "channel": "phone",
                                 "reporting_channel": value, "minutes": MINUTES, "consent": "y",
                                 "received_at": (world.clock() - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")},
                           content_type="multipart/form-data")
    assert response.status_code == 400
    assert "Choose an open channel of the organisation the category belongs to." in target.text()
    assert count(world.ctx, "cases") == before
