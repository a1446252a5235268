"""Consent to disclose the reporter's identity, and redaction (Directive 2019/1937 Art. 16-17),
through the domain services: asked, given, refused, answered once; disclosures only on consent
or a legal ground; redactions every view reads, originals kept sealed or purged."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from appliance.audit.models import AuditEvent
from appliance.cases.models import (
    Attachment,
    AttachmentChunk,
    Case,
    IdentityConsentRequest,
    IdentityDisclosure,
    Redaction,
)
from appliance.cases.redaction import REDACTED
from appliance.cases.reporter_notices import ReporterNotices
from appliance.cases.reporting import Receipt
from appliance.errors import CaseLocked, Conflict, DecryptionFailed, InvalidInput, NotFound
from appliance.notify.mailer import Mailer
from appliance.services import Services
from tests.functional.conftest import Inbox, Org, ReaderFactory, ReportFactory, drain, upload

pytestmark = pytest.mark.one_session

NAMES = "RECIPIENT-MARKER-3b9e: the group's external auditor Jane Roe"
PURPOSE = "PURPOSE-MARKER-d210: to interview the reporter as a witness"
GROUND = "GROUND-MARKER-77aa: order of the district court"
SECRET = "PASSAGE-MARKER-5e0c Anna Andersson"
REASON = "REASON-MARKER-c4d1 not relevant to the case"
EXPLAINED = "EXPLAINED-MARKER-6f12: the court ordered your name to be given"
WITHHELD = "WITHHELD-MARKER-0a9d: the suspect would destroy evidence"
CLIENT = "reporter-client-consent"


def reporter_key(services: Services, org: Org, receipt: Receipt) -> bytes:
    opened = services.reporting.open_with_key(org.tenant, receipt.case_key.display, CLIENT)
    assert opened.private_key is not None
    return opened.private_key


def logbook(services: Services) -> list[AuditEvent]:
    return list(services.session.execute(sa.select(AuditEvent).order_by(AuditEvent.seq)).scalars())


def assert_no_markers_in_logbook(services: Services) -> None:
    for event in logbook(services):
        text = f"{event.action} {event.detail or ''} {event.object_id or ''}"
        for marker in (NAMES, PURPOSE, GROUND, SECRET, REASON, EXPLAINED, WITHHELD, "Jane Roe", "Anna Andersson"):
            assert marker not in text


# --- consent -------------------------------------------------------------------------------------
def test_consent_asked_given_and_the_disclosure_recorded_on_it(
        services: Services, org_a: Org, file_report: ReportFactory) -> None:
    receipt = file_report(org_a)
    request_id = services.identity_consents.request(org_a.handler, receipt.case_id, NAMES, PURPOSE)
    services.session.commit()

    key = reporter_key(services, org_a, receipt)
    [asked] = services.identity_consents.for_reporter(org_a.tenant, receipt.case_id, key)
    assert (asked.recipients, asked.purpose, asked.state) == (NAMES, PURPOSE, "pending")
    services.identity_consents.answer(org_a.tenant, receipt.case_id, key, request_id, True)
    services.session.commit()

    overview = services.identity_consents.for_handler(org_a.handler, receipt.case_id)
    [answered] = overview.requests
    assert answered.state == "given" and answered.answered_at is not None
    services.identity_consents.record_disclosure(org_a.handler, receipt.case_id, NAMES, consent_id=request_id)
    services.session.commit()
    [disclosure] = services.identity_consents.for_handler(org_a.handler, receipt.case_id).disclosures
    assert (disclosure.consent_id, disclosure.legal_ground, disclosure.recipients) == (request_id, None, NAMES)

    # Names and purposes are sealed: not in the row, not in the logbook.
    row = services.session.get_one(IdentityConsentRequest, request_id)
    assert NAMES.encode() not in bytes(row.recipients_sealed) and PURPOSE.encode() not in bytes(row.purpose_sealed)
    actions = [e.action for e in logbook(services)]
    assert {"case.consent_requested", "case.consent_answered", "case.identity_disclosed"} <= set(actions)
    assert_no_markers_in_logbook(services)


def test_consent_refused_blocks_a_disclosure_on_it_but_not_one_on_a_legal_ground(
        services: Services, org_a: Org, file_report: ReportFactory) -> None:
    receipt = file_report(org_a)
    request_id = services.identity_consents.request(org_a.handler, receipt.case_id, NAMES, PURPOSE)
    key = reporter_key(services, org_a, receipt)
    services.identity_consents.answer(org_a.tenant, receipt.case_id, key, request_id, False)
    services.session.commit()

    with pytest.raises(InvalidInput) as refused:
        services.identity_consents.record_disclosure(org_a.handler, receipt.case_id, NAMES, consent_id=request_id)
    assert refused.value.field == "basis"
    with pytest.raises(InvalidInput):  # neither consent nor ground
        services.identity_consents.record_disclosure(org_a.handler, receipt.case_id, NAMES)
    with pytest.raises(InvalidInput):  # a ground without its explanation
        services.identity_consents.record_disclosure(org_a.handler, receipt.case_id, NAMES, legal_ground="judicial")
    with pytest.raises(InvalidInput):  # a ground that is not one
        services.identity_consents.record_disclosure(org_a.handler, receipt.case_id, NAMES, legal_ground="whim",
                                                     ground=GROUND)
    services.identity_consents.record_disclosure(org_a.handler, receipt.case_id, NAMES, legal_ground="judicial",
                                                 ground=GROUND, notice="withheld", withheld_reason=WITHHELD)
    services.session.commit()
    [disclosure] = services.identity_consents.for_handler(org_a.handler, receipt.case_id).disclosures
    assert (disclosure.legal_ground, disclosure.ground, disclosure.consent_id) == ("judicial", GROUND, None)
    assert "basis=ground:judicial reporter=withheld" in next(
        e.detail or "" for e in logbook(services) if e.action == "case.identity_disclosed")
    assert_no_markers_in_logbook(services)


@pytest.mark.parametrize("bad", [
    {},  # no choice: Art. 16(3) needs one
    {"notice": "maybe"},  # a choice that is not one
    {"notice": "informed"},  # informed without the explanation
    {"notice": "informed", "explanation": "   "},
    {"notice": "withheld"},  # withheld without its reason
    {"notice": "withheld", "withheld_reason": " \n "},
    {"notice": "withheld", "withheld_reason": "x" * 2_001},
])
def test_a_disclosure_on_a_legal_ground_needs_the_reporter_informed_or_a_reason_not_to(
        services: Services, org_a: Org, file_report: ReportFactory, bad: dict[str, str]) -> None:
    receipt = file_report(org_a)
    with pytest.raises(InvalidInput) as refused:
        services.identity_consents.record_disclosure(org_a.handler, receipt.case_id, NAMES, legal_ground="judicial",
                                                     ground=GROUND, **bad)
    assert refused.value.field in {"notice", "explanation", "withheld_reason"}
    assert services.identity_consents.for_handler(org_a.handler, receipt.case_id).disclosures == ()
    key = reporter_key(services, org_a, receipt)
    assert services.reporting.view(org_a.tenant, receipt.case_id, key).thread == ()


def test_informing_the_reporter_sends_the_explanation_on_their_thread_and_the_notice_mail(
        services: Services, org_a: Org, file_report: ReportFactory, inbox: tuple[Inbox, int]) -> None:
    mailbox, port = inbox
    receipt = file_report(org_a, notify="told@example.com")
    services.identity_consents.record_disclosure(org_a.handler, receipt.case_id, NAMES, legal_ground="investigation",
                                                 ground=GROUND, notice="informed", explanation=EXPLAINED)
    services.session.commit()

    [disclosure] = services.identity_consents.for_handler(org_a.handler, receipt.case_id).disclosures
    assert (disclosure.reporter_notice, disclosure.withheld_reason) == ("informed", "")
    key = reporter_key(services, org_a, receipt)
    [message] = services.reporting.view(org_a.tenant, receipt.case_id, key).thread
    assert (message.author, message.body) == ("handler", EXPLAINED)
    sent = ReporterNotices(services.session, services.data_keys, Mailer(f"smtp://127.0.0.1:{port}", "a@example.com"),
                           services.ctx.clock, "https://whistle.example.com").send()
    assert sent == 1
    (raw,) = mailbox.messages
    assert EXPLAINED.encode() not in raw and b"EXPLAINED-MARKER" not in raw
    details = [e.detail or "" for e in logbook(services) if e.action == "case.identity_disclosed"]
    assert details and "reporter=informed" in details[0]
    assert_no_markers_in_logbook(services)


def test_withholding_seals_the_reason_and_the_reporter_reads_nothing(
        services: Services, org_a: Org, file_report: ReportFactory) -> None:
    receipt = file_report(org_a)
    disclosure_id = services.identity_consents.record_disclosure(
        org_a.handler, receipt.case_id, NAMES, legal_ground="judicial", ground=GROUND, notice="withheld",
        withheld_reason=WITHHELD)
    services.session.commit()

    [disclosure] = services.identity_consents.for_handler(org_a.handler, receipt.case_id).disclosures
    assert (disclosure.reporter_notice, disclosure.withheld_reason) == ("withheld", WITHHELD)
    key = reporter_key(services, org_a, receipt)
    assert services.reporting.view(org_a.tenant, receipt.case_id, key).thread == ()
    assert services.identity_consents.for_reporter(org_a.tenant, receipt.case_id, key) == ()
    # An active insider with SQL and no master key: the reason is not in the row.
    row = services.session.get_one(IdentityDisclosure, disclosure_id)
    assert row.withheld_reason_sealed is not None and WITHHELD.encode() not in bytes(row.withheld_reason_sealed)
    raw = services.session.execute(sa.text("SELECT withheld_reason_sealed FROM identity_disclosures")).scalar_one()
    assert b"WITHHELD-MARKER" not in bytes(raw)
    # ... and cannot move it to another disclosure row: the sealed place binds it to its own row.
    other_id = services.identity_consents.record_disclosure(
        org_a.handler, receipt.case_id, NAMES, legal_ground="judicial", ground=GROUND, notice="withheld",
        withheld_reason="another reason")
    services.session.get_one(IdentityDisclosure, other_id).withheld_reason_sealed = row.withheld_reason_sealed
    services.session.flush()
    with pytest.raises(DecryptionFailed):
        services.identity_consents.for_handler(org_a.handler, receipt.case_id)
    assert "basis=ground:judicial reporter=withheld" in next(
        e.detail or "" for e in logbook(services) if e.action == "case.identity_disclosed")
    assert_no_markers_in_logbook(services)


def test_an_answer_counts_once_and_only_for_the_reporter_of_that_case(
        services: Services, org_a: Org, org_b: Org, file_report: ReportFactory) -> None:
    receipt, other = file_report(org_a), file_report(org_a)
    request_id = services.identity_consents.request(org_a.handler, receipt.case_id, NAMES, PURPOSE)
    services.session.commit()
    key, other_key = reporter_key(services, org_a, receipt), reporter_key(services, org_a, other)

    with pytest.raises(NotFound):  # the reporter of another case, with a tampered request id
        services.identity_consents.answer(org_a.tenant, other.case_id, other_key, request_id, True)
    with pytest.raises(NotFound):  # another tenant's portal
        services.identity_consents.answer(org_b.tenant, receipt.case_id, key, request_id, True)
    with pytest.raises(CaseLocked):  # no key
        services.identity_consents.answer(org_a.tenant, receipt.case_id, None, request_id, True)
    with pytest.raises(NotFound):
        services.identity_consents.answer(org_a.tenant, receipt.case_id, key, uuid.uuid4(), True)
    services.identity_consents.answer(org_a.tenant, receipt.case_id, key, request_id, False)
    services.session.commit()
    with pytest.raises(Conflict):  # replayed, or changed afterwards
        services.identity_consents.answer(org_a.tenant, receipt.case_id, key, request_id, True)
    assert services.identity_consents.for_reporter(org_a.tenant, receipt.case_id, key)[0].state == "refused"


def test_handlers_without_the_case_or_of_another_tenant_cannot_ask_or_read(
        services: Services, org_a: Org, org_b: Org, file_report: ReportFactory, make_reader: ReaderFactory) -> None:
    receipt = file_report(org_a)
    outsider = make_reader(org_a, receives=False)  # a handler of the tenant without a key to this case
    with pytest.raises(CaseLocked):
        services.identity_consents.request(outsider, receipt.case_id, NAMES, PURPOSE)
    with pytest.raises(CaseLocked):
        services.identity_consents.for_handler(outsider, receipt.case_id)
    with pytest.raises(NotFound):
        services.identity_consents.request(org_b.handler, receipt.case_id, NAMES, PURPOSE)
    with pytest.raises(InvalidInput):
        services.identity_consents.request(org_a.handler, receipt.case_id, "", PURPOSE)
    with pytest.raises(InvalidInput):
        services.identity_consents.request(org_a.handler, receipt.case_id, NAMES, "x" * 2001)


# --- redaction ------------------------------------------------------------------------------------
def test_a_redacted_passage_is_what_handlers_the_reporter_and_the_case_file_read(
        services: Services, org_a: Org, file_report: ReportFactory) -> None:
    receipt = file_report(org_a, what=f"The stock was sold by {SECRET} at night.", people=f"{SECRET}, the manager")
    services.cases.post_message(org_a.handler, receipt.case_id, f"Did {SECRET} act alone?", [])
    services.cases.add_note(org_a.handler, receipt.case_id, f"Check {SECRET}'s expenses.")
    services.session.commit()
    view = services.cases.open_case(org_a.handler, receipt.case_id)
    message, note = view.thread[-1], view.notes[0]

    for target, ref in (("report", "what"), ("report", "people"), ("message", str(message.id)),
                        ("note", str(note.id))):
        services.redactions.redact_text(org_a.handler, receipt.case_id, target, ref, SECRET, REASON, purge=False)
    services.session.commit()

    view = services.cases.open_case(org_a.handler, receipt.case_id)
    assert view.report.what == f"The stock was sold by {REDACTED} at night."
    assert view.report.people == f"{REDACTED}, the manager"
    assert view.thread[-1].body == f"Did {REDACTED} act alone?"
    assert view.notes[0].body == f"Check {REDACTED}'s expenses."
    key = reporter_key(services, org_a, receipt)
    mine = services.reporting.view(org_a.tenant, receipt.case_id, key)
    assert SECRET not in repr(mine)
    case_file = services.cases.case_file(org_a.handler, receipt.case_id, with_notes=True)
    assert SECRET not in repr(case_file) and REDACTED in case_file.case.report.what

    redactions = services.redactions.for_handler(org_a.handler, receipt.case_id)
    assert sorted((r.target, r.field or "", r.disposition, r.reason) for r in redactions) == [
        ("message", "", "retained", REASON), ("note", "", "retained", REASON),
        ("report", "people", "retained", REASON), ("report", "what", "retained", REASON)]
    assert_no_markers_in_logbook(services)


def test_a_passage_that_is_not_there_or_a_tampered_target_is_refused(
        services: Services, org_a: Org, org_b: Org, file_report: ReportFactory) -> None:
    receipt, other = file_report(org_a), file_report(org_a)
    services.cases.post_message(org_a.handler, other.case_id, "a message of another case", [])
    services.session.commit()
    other_message = services.cases.open_case(org_a.handler, other.case_id).thread[-1]
    redact = services.redactions.redact_text
    with pytest.raises(InvalidInput):
        redact(org_a.handler, receipt.case_id, "report", "what", "not in the text", REASON, purge=True)
    with pytest.raises(InvalidInput):
        redact(org_a.handler, receipt.case_id, "report", "what", "warehouse", "", purge=True)
    with pytest.raises(InvalidInput):
        redact(org_a.handler, receipt.case_id, "report", "case_key_index", "warehouse", REASON, purge=True)
    with pytest.raises(InvalidInput):
        redact(org_a.handler, receipt.case_id, "case", "what", "warehouse", REASON, purge=True)
    with pytest.raises(NotFound):  # another case's message
        redact(org_a.handler, receipt.case_id, "message", str(other_message.id), "message", REASON, purge=True)
    with pytest.raises(NotFound):
        redact(org_a.handler, receipt.case_id, "note", "not-a-uuid", "x", REASON, purge=True)
    with pytest.raises(NotFound):  # another tenant's handler
        redact(org_b.handler, receipt.case_id, "report", "what", "warehouse", REASON, purge=True)
    with pytest.raises(NotFound):
        services.redactions.redact_attachment(org_a.handler, receipt.case_id, uuid.uuid4(), REASON, purge=True)
    with pytest.raises(NotFound):
        services.redactions.purge(org_a.handler, receipt.case_id, uuid.uuid4())


def test_a_purge_destroys_the_passage_and_a_second_purge_is_refused(
        services: Services, org_a: Org, file_report: ReportFactory) -> None:
    receipt = file_report(org_a, what=f"Sold by {SECRET}.")
    redaction_id = services.redactions.redact_text(org_a.handler, receipt.case_id, "report", "what", SECRET,
                                                   REASON, purge=False)
    services.session.commit()
    assert services.session.get_one(Redaction, redaction_id).removed_sealed is not None

    services.redactions.purge(org_a.handler, receipt.case_id, redaction_id)
    services.session.commit()
    row = services.session.get_one(Redaction, redaction_id)
    assert (row.removed_sealed, row.disposition) == (None, "purged") and row.purged_at is not None
    with pytest.raises(Conflict):
        services.redactions.purge(org_a.handler, receipt.case_id, redaction_id)
    events = [e for e in logbook(services) if e.action == "case.redaction_purged"]
    assert len(events) == 1 and events[0].detail == f"redaction={redaction_id} target=report"
    assert_no_markers_in_logbook(services)


def test_a_redacted_attachment_is_listed_and_downloaded_by_nobody_and_purged_its_chunks_go(
        services: Services, org_a: Org, file_report: ReportFactory) -> None:
    receipt = file_report(org_a, uploads=[upload("evidence.pdf", b"%PDF-1.4 " + SECRET.encode())])
    [attachment] = services.cases.open_case(org_a.handler, receipt.case_id).report_attachments
    redaction_id = services.redactions.redact_attachment(org_a.handler, receipt.case_id, attachment.id, REASON,
                                                         purge=False)
    services.session.commit()

    assert services.cases.open_case(org_a.handler, receipt.case_id).report_attachments == ()
    assert services.cases.case_file(org_a.handler, receipt.case_id, with_notes=False).attachments == ()
    with pytest.raises(NotFound):
        services.cases.download(org_a.handler, receipt.case_id, attachment.id)
    key = reporter_key(services, org_a, receipt)
    assert services.reporting.view(org_a.tenant, receipt.case_id, key).report_attachments == ()
    with pytest.raises(NotFound):
        drain(services.reporting.download(org_a.tenant, receipt.case_id, key, attachment.id))
    with pytest.raises(NotFound):  # once redacted, not again
        services.redactions.redact_attachment(org_a.handler, receipt.case_id, attachment.id, REASON, purge=True)
    chunks = sa.select(sa.func.count()).select_from(AttachmentChunk).where(
        AttachmentChunk.attachment_id == attachment.id)
    assert services.session.execute(chunks).scalar_one() > 0  # retained: still sealed to the case

    services.redactions.purge(org_a.handler, receipt.case_id, redaction_id)
    services.session.commit()
    assert services.session.execute(chunks).scalar_one() == 0
    row = services.session.get_one(Attachment, attachment.id)
    assert (row.size_bytes, row.chunk_count, row.file_key_sealed) == (0, 0, None)


def test_redaction_needs_a_key_to_the_case(
        services: Services, org_a: Org, file_report: ReportFactory, make_reader: ReaderFactory) -> None:
    receipt = file_report(org_a)
    outsider = make_reader(org_a, receives=False)
    with pytest.raises(CaseLocked):
        services.redactions.redact_text(outsider, receipt.case_id, "report", "what", "warehouse", REASON, purge=True)
    with pytest.raises(CaseLocked):
        services.redactions.for_handler(outsider, receipt.case_id)
    assert services.session.get_one(Case, receipt.case_id).what_sealed is not None
