"""Reports received by phone or in a meeting (Directive 2019/1937 Art. 18), recorded by a handler:
sealed like any report, checked by the reporter with the case key, approved or corrected."""

from __future__ import annotations

import datetime as dt
import logging
import uuid

import pytest
import sqlalchemy as sa

from appliance.actors import CLI, Role
from appliance.audit.models import AuditEvent
from appliance.cases.models import Attachment, Case, OralRecord
from appliance.cases.new_reports import NewReportNotices
from appliance.cases.oral_reports import OralReport
from appliance.cases.reporting import Receipt
from appliance.errors import CaseLocked, Conflict, InvalidInput, KeyBindingInvalid, NotAReader, NotFound, TooLarge
from appliance.notify.mailer import Mailer
from appliance.services import Services
from appliance.tenants.questionnaire import YES_NO, Question
from appliance.tenants.questionnaires import Questionnaires
from tests.functional.conftest import Inbox, Org, ReaderFactory, StaffFactory, drain, upload
from tests.support import FrozenClock

pytestmark = pytest.mark.one_session

MINUTES = "MINUTES-MARKER-7c1f: the reporter said the depot sells stock off the books."
CORRECTION = "CORRECTION-MARKER-51aa: it was depot 4, not depot 3."
CLIENT = "reporter-client-oral"


def oral(org: Org, clock: FrozenClock, minutes: str = MINUTES, **changes: object) -> OralReport:
    values: dict[str, object] = {"category_id": org.category_id, "channel": "phone",
                                 "received_at": clock() - dt.timedelta(hours=2), "minutes": minutes, "consent": True}
    values.update(changes)
    return OralReport(**values)  # type: ignore[arg-type]


def record(services: Services, org: Org, clock: FrozenClock, **changes: object) -> Receipt:
    receipt = services.oral_reports.record(org.handler, org.tenant.id, oral(org, clock, **changes), None)
    services.session.commit()
    return receipt


def reporter_key(services: Services, org: Org, receipt: Receipt) -> bytes:
    opened = services.reporting.open_with_key(org.tenant, receipt.case_key.display, CLIENT)
    assert opened.private_key is not None
    return opened.private_key


def actions(services: Services) -> list[str]:
    return [e.action for e in services.session.execute(sa.select(AuditEvent).order_by(AuditEvent.seq)).scalars()]


# --- recording -----------------------------------------------------------------------------------
def test_a_recorded_report_is_sealed_like_any_report_and_awaits_the_reporters_review(
        services: Services, org_a: Org, clock: FrozenClock) -> None:
    receipt = services.oral_reports.record(org_a.handler, org_a.tenant.id, oral(org_a, clock, channel="meeting"),
                                           upload("call.ogg", b"OggS recording", "audio/ogg; codecs=opus"))
    services.session.commit()

    view = services.cases.open_case(org_a.handler, receipt.case_id)
    assert view.report.what == MINUTES
    assert view.received_at == clock() - dt.timedelta(hours=2)  # the deadlines run from the conversation
    record_view = services.oral_reports.for_handler(org_a.handler, receipt.case_id)
    assert record_view is not None
    assert (record_view.channel, record_view.review_state, record_view.recorded_by) == (
        "meeting", "pending", org_a.handler.user_id)
    assert record_view.consent_at == clock() and record_view.approved_at is None
    assert record_view.recording is not None and record_view.recording.content_type == "audio/ogg"
    assert drain(services.cases.download(org_a.handler, receipt.case_id, record_view.recording.id)) == b"OggS recording"

    # The reporter, with the key, reads the same minutes and can hear the recording.
    key = reporter_key(services, org_a, receipt)
    assert services.reporting.view(org_a.tenant, receipt.case_id, key).report.what == MINUTES
    mine = services.oral_reports.for_reporter(org_a.tenant, receipt.case_id, key)
    assert mine is not None and mine.awaiting_review and mine.recording is not None
    assert drain(services.reporting.download(org_a.tenant, receipt.case_id, key, mine.recording.id)) == b"OggS recording"
    assert "case.oral_recorded" in actions(services)


def test_an_ordinary_report_has_no_oral_record(services: Services, org_a: Org, file_report) -> None:  # type: ignore[no-untyped-def]
    receipt = file_report(org_a)
    assert services.oral_reports.for_handler(org_a.handler, receipt.case_id) is None
    assert services.oral_reports.for_reporter(org_a.tenant, receipt.case_id, receipt.private_key) is None
    with pytest.raises(NotFound):
        services.oral_reports.approve(org_a.tenant, receipt.case_id, receipt.private_key)


@pytest.mark.parametrize(("changes", "field"), [
    ({"consent": False}, "consent"),
    ({"channel": "fax"}, "channel"),
    ({"minutes": "   "}, "minutes"),
    ({"minutes": "x" * 20_001}, "minutes"),
    ({"minutes": "nul \x00 byte"}, "minutes"),
    ({"category_id": None}, "category"),
    ({"category_id": uuid.uuid4()}, "category"),
    ({"received_at": dt.datetime(2026, 3, 2, 8, 0)}, "received_at"),  # naive
    ({"received_at": "future"}, "received_at"),
    ({"received_at": "long ago"}, "received_at"),
])
def test_malformed_records_are_refused_with_the_field_named_and_nothing_stored(
        services: Services, org_a: Org, clock: FrozenClock, changes: dict[str, object], field: str) -> None:
    if changes.get("received_at") == "future":
        changes = {"received_at": clock() + dt.timedelta(minutes=5)}
    elif changes.get("received_at") == "long ago":
        changes = {"received_at": clock() - dt.timedelta(days=31)}
    before = services.session.execute(sa.text("SELECT count(*) FROM cases")).scalar_one()
    with pytest.raises(InvalidInput) as refused:
        services.oral_reports.record(org_a.handler, org_a.tenant.id, oral(org_a, clock, **changes), None)
    assert refused.value.field == field
    services.session.rollback()
    assert services.session.execute(sa.text("SELECT count(*) FROM cases")).scalar_one() == before


def test_a_recording_must_be_audio_or_video_and_within_the_limits(
        services: Services, org_a: Org, clock: FrozenClock) -> None:
    with pytest.raises(InvalidInput) as refused:
        services.oral_reports.record(org_a.handler, org_a.tenant.id, oral(org_a, clock),
                                     upload("notes.pdf", b"%PDF", "application/pdf"))
    assert refused.value.field == "recording"
    services.session.rollback()
    too_big = b"\0" * (services.limits.per_file + 1)
    with pytest.raises(TooLarge):
        services.oral_reports.record(org_a.handler, org_a.tenant.id, oral(org_a, clock),
                                     upload("call.wav", too_big, "audio/wav"))


# --- who may record and read ---------------------------------------------------------------------
def test_a_handler_of_another_tenant_can_neither_record_into_nor_see_it(
        services: Services, org_a: Org, org_b: Org, clock: FrozenClock) -> None:
    with pytest.raises(NotFound):
        services.oral_reports.record(org_b.handler, org_a.tenant.id, oral(org_a, clock), None)
    services.session.rollback()
    receipt = record(services, org_a, clock)
    with pytest.raises(NotFound):
        services.oral_reports.for_handler(org_b.handler, receipt.case_id)
    # Nor does the reporter side of the other tenant find it.
    with pytest.raises(NotFound):
        services.oral_reports.for_reporter(org_b.tenant, receipt.case_id, receipt.private_key)


def test_a_handler_who_is_not_a_reader_cannot_read_the_minutes_or_record(
        services: Services, org_a: Org, clock: FrozenClock, make_staff: StaffFactory,
        make_reader: ReaderFactory) -> None:
    outsider = make_staff((org_a.tenant, Role.HANDLER))
    receipt = record(services, org_a, clock)
    with pytest.raises(CaseLocked):
        services.oral_reports.for_handler(outsider, receipt.case_id)
    with pytest.raises(CaseLocked):
        services.cases.open_case(outsider, receipt.case_id)
    services.session.rollback()
    # Not on the reader list: their record would be sealed past them, so it is refused outright.
    with pytest.raises(NotAReader):
        services.oral_reports.record(outsider, org_a.tenant.id, oral(org_a, clock), None)
    services.session.rollback()
    # A reader who does not receive new reports is not sealed to either.
    silent = make_reader(org_a, receives=False)
    with pytest.raises(NotAReader):
        services.oral_reports.record(silent, org_a.tenant.id, oral(org_a, clock), None)


# --- the reporter's review -----------------------------------------------------------------------
def test_the_reporter_approves_with_the_key_once(services: Services, org_a: Org, clock: FrozenClock) -> None:
    receipt = record(services, org_a, clock)
    clock.advance(days=1)
    key = reporter_key(services, org_a, receipt)
    services.oral_reports.approve(org_a.tenant, receipt.case_id, key)
    services.session.commit()
    seen = services.oral_reports.for_handler(org_a.handler, receipt.case_id)
    assert seen is not None and (seen.review_state, seen.approved_at, seen.corrected_at) == ("approved", clock(), None)
    # A replayed approval (or a late correction) is refused: the approval stands as given.
    with pytest.raises(Conflict):
        services.oral_reports.approve(org_a.tenant, receipt.case_id, key)
    with pytest.raises(Conflict):
        services.oral_reports.correct(org_a.tenant, receipt.case_id, key, CORRECTION)
    assert actions(services).count("case.record_approved") == 1


def test_approval_needs_the_cases_own_key(services: Services, org_a: Org, clock: FrozenClock) -> None:
    receipt = record(services, org_a, clock)
    other = record(services, org_a, clock)
    with pytest.raises(CaseLocked):  # no key at all (a pending copy)
        services.oral_reports.approve(org_a.tenant, receipt.case_id, None)
    with pytest.raises(KeyBindingInvalid):  # another case's key
        services.oral_reports.approve(org_a.tenant, receipt.case_id, other.private_key)
    seen = services.oral_reports.for_handler(org_a.handler, receipt.case_id)
    assert seen is not None and seen.review_state == "pending"


def test_the_reporter_corrects_then_approves_the_corrected_record(
        services: Services, org_a: Org, clock: FrozenClock, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    receipt = record(services, org_a, clock)
    key = reporter_key(services, org_a, receipt)
    with pytest.raises(InvalidInput):
        services.oral_reports.correct(org_a.tenant, receipt.case_id, key, "  ")
    with pytest.raises(InvalidInput):
        services.oral_reports.correct(org_a.tenant, receipt.case_id, key, "y" * 20_001)
    clock.advance(hours=3)
    corrected_at = clock()
    services.oral_reports.correct(org_a.tenant, receipt.case_id, key, CORRECTION)
    services.session.commit()

    seen = services.oral_reports.for_handler(org_a.handler, receipt.case_id)
    assert seen is not None
    assert (seen.review_state, seen.corrected_at, seen.correction) == ("corrected", corrected_at, CORRECTION)
    assert services.cases.summary(org_a.handler, receipt.case_id).unread_reporter_message
    with pytest.raises(Conflict):  # one correction; further remarks go in messages
        services.oral_reports.correct(org_a.tenant, receipt.case_id, key, "another")

    clock.advance(hours=1)
    services.oral_reports.approve(org_a.tenant, receipt.case_id, key)
    services.session.commit()
    seen = services.oral_reports.for_handler(org_a.handler, receipt.case_id)
    assert seen is not None
    assert (seen.review_state, seen.approved_at, seen.corrected_at, seen.correction) == (
        "approved", clock(), corrected_at, CORRECTION)

    # The correction is sealed; no log line or logbook event carries the minutes or the correction.
    stored = services.session.execute(sa.text("SELECT correction_sealed FROM oral_records")).scalar_one()
    assert b"CORRECTION-MARKER" not in bytes(stored)
    events = services.session.execute(sa.select(AuditEvent)).scalars().all()
    assert {"case.oral_recorded", "case.record_corrected", "case.record_approved"} <= {e.action for e in events}
    for event in events:
        text = repr([getattr(event, c) for c in ("action", "object_type", "object_id", "detail", "actor_id")])
        assert "MARKER" not in text and receipt.case_key.display not in text
    assert "MARKER" not in caplog.text and receipt.case_key.display not in caplog.text


def test_deleting_the_case_takes_the_record_and_its_recording(
        services: Services, org_a: Org, clock: FrozenClock) -> None:
    receipt = services.oral_reports.record(org_a.handler, org_a.tenant.id, oral(org_a, clock),
                                           upload("call.ogg", b"OggS", "audio/ogg"))
    key = reporter_key(services, org_a, receipt)
    services.oral_reports.correct(org_a.tenant, receipt.case_id, key, CORRECTION)
    services.session.commit()
    services.retention.delete_case(receipt.case_id, "test", CLI)
    services.session.commit()
    for model, column in ((OralRecord, OralRecord.case_id), (Attachment, Attachment.case_id), (Case, Case.id)):
        assert services.session.execute(sa.select(sa.func.count()).select_from(model).where(
            column == receipt.case_id)).scalar_one() == 0


def test_a_record_of_an_older_call_is_announced_to_the_readers_without_content(
        services: Services, org_a: Org, clock: FrozenClock, inbox: tuple[Inbox, int]) -> None:
    """Received (the call) three days ago, recorded now: still announced once as a new report."""
    handler_inbox, port = inbox
    receipt = record(services, org_a, clock, received_at=clock() - dt.timedelta(days=3))
    notices = NewReportNotices(services.session, services.users, services.case_access,
                               Mailer(f"smtp://127.0.0.1:{port}", "appliance@example.com"), clock, "https://appliance.test")
    assert notices.send() == 1
    assert notices.send() == 0  # once per case
    (raw,) = handler_inbox.messages
    assert str(receipt.case_id).encode() in raw and b"MINUTES-MARKER" not in raw


def test_the_channels_offered_are_the_tenants_own_and_another_tenants_is_refused(
        services: Services, org_a: Org, org_b: Org, clock: FrozenClock) -> None:
    channels = services.oral_reports.channels(org_a.handler, org_a.tenant.id)
    assert [c.tenant_id for c in channels] == [org_a.tenant.id] and channels[0].is_default
    with pytest.raises(NotFound):
        services.oral_reports.channels(org_a.handler, org_b.tenant.id)
    [foreign] = services.oral_reports.channels(org_b.handler, org_b.tenant.id)
    with pytest.raises(InvalidInput) as refused:
        record(services, org_a, clock, reporting_channel_id=foreign.id)
    assert refused.value.field == "reporting_channel"
    receipt = record(services, org_a, clock, reporting_channel_id=channels[0].id)
    assert services.session.get_one(Case, receipt.case_id).reporting_channel_id == channels[0].id


def test_an_oral_report_is_recorded_on_a_channel_whose_questionnaire_has_required_questions(
        services: Services, org_a: Org, clock: FrozenClock) -> None:
    # The questions were never asked on the phone: nothing is required, no version is kept.
    channel = services.channels.default(org_a.tenant.id)
    Questionnaires(services.session, services.logbook, services.ctx.clock).publish(
        channel, [Question("harmed", YES_NO, "Were you harmed?", required=True)], CLI)
    receipt = record(services, org_a, clock)
    case = services.session.get_one(Case, receipt.case_id)
    assert case.questionnaire_version_id is None and case.answers_sealed is None
    assert services.cases.open_case(org_a.handler, case.id).answers == ()
