"""The handler's side on real databases: queue, status flow, messages, notes, isolation."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Callable

import pytest
import sqlalchemy as sa

from appliance.actors import CLI, Role, StaffPrincipal
from appliance.audit.models import AuditEvent
from appliance.cases.service import ACK_MESSAGE, QueueFilter
from appliance.errors import CaseLocked, InvalidInput, NotFound
from appliance.services import Services
from tests.functional.conftest import Org, ReportFactory, StaffFactory, count_rows, drain, upload
from tests.support import FrozenClock

# One session each, in a transaction rolled back at the end (tests/conftest.py).
pytestmark = pytest.mark.one_session

CLIENT = "reporter-client"


def queue_ids(services: Services, principal: StaffPrincipal, **filters: object) -> set[uuid.UUID]:
    return {row.id for row in services.cases.queue(principal, QueueFilter(**filters))}  # type: ignore[arg-type]


def advance_to_investigating(services: Services, principal: StaffPrincipal, case_id: uuid.UUID,
                             clock: FrozenClock) -> None:
    for status in ("acknowledged", "assessing", "investigating"):
        services.cases.change_status(principal, case_id, status)
        clock.advance(minutes=1)


# --- queue ----------------------------------------------------------------------------------
def test_handler_sees_new_case_in_queue_without_decrypting(
        services: Services, org_a: Org, file_report: ReportFactory) -> None:
    receipt = file_report(org_a)
    unwraps_before = count_rows(services.session, "audit_events")

    (row,) = services.cases.queue(org_a.handler, QueueFilter())

    assert (row.id, row.tenant_id, row.status, row.category_id) == (
        receipt.case_id, org_a.tenant.id, "received", org_a.category_id)
    assert row.assignee_id is None and not row.unread_reporter_message
    assert count_rows(services.session, "audit_events") == unwraps_before  # metadata only: no key unwrapped


def test_queue_filters_by_status_category_tenant_and_overdue(
        services: Services, clock: FrozenClock, org_a: Org, file_report: ReportFactory) -> None:
    old = file_report(org_a, category_id=org_a.category_id)
    clock.advance(days=6)
    recent = file_report(org_a, category_id=org_a.other_category_id)
    h = org_a.handler

    assert queue_ids(services, h) == {old.case_id, recent.case_id}
    assert queue_ids(services, h, category_id=org_a.other_category_id) == {recent.case_id}
    assert queue_ids(services, h, tenant_id=org_a.tenant.id) == {old.case_id, recent.case_id}
    assert queue_ids(services, h, tenant_id=uuid.uuid4()) == set()
    assert queue_ids(services, h, overdue_only=True) == set()

    clock.advance(days=2)  # old: 8 days unacknowledged; recent: 2 days
    assert queue_ids(services, h, overdue_only=True) == {old.case_id}
    (row,) = [r for r in services.cases.queue(h, QueueFilter()) if r.id == old.case_id]
    assert row.deadlines.acknowledge_overdue and not row.deadlines.feedback_overdue

    services.cases.change_status(h, old.case_id, "acknowledged")
    assert queue_ids(services, h, overdue_only=True) == set()
    assert queue_ids(services, h, status="acknowledged") == {old.case_id}
    assert queue_ids(services, h, status="received") == {recent.case_id}
    with pytest.raises(InvalidInput):
        services.cases.queue(h, QueueFilter(status="archived"))

    services.cases.change_status(h, recent.case_id, "acknowledged")
    clock.advance(days=95)  # past three months after acknowledgement, no feedback given
    assert queue_ids(services, h, overdue_only=True) == {old.case_id, recent.case_id}
    services.cases.post_message(h, old.case_id, "We are looking into it.", [], is_feedback=True)
    assert queue_ids(services, h, overdue_only=True) == {recent.case_id}


def test_queue_flags_unread_reporter_messages(
        services: Services, clock: FrozenClock, org_a: Org, file_report: ReportFactory) -> None:
    receipt = file_report(org_a)
    clock.advance(minutes=5)
    services.reporting.reply(org_a.tenant, receipt.case_id, receipt.private_key, "One more thing.", [])

    assert services.cases.queue(org_a.handler, QueueFilter())[0].unread_reporter_message
    clock.advance(minutes=5)
    services.cases.open_case(org_a.handler, receipt.case_id)
    assert not services.cases.queue(org_a.handler, QueueFilter())[0].unread_reporter_message


# --- reading -------------------------------------------------------------------------------------
def test_open_case_decrypts_report_attachments_and_thread(
        services: Services, clock: FrozenClock, org_a: Org, file_report: ReportFactory) -> None:
    evidence = os.urandom(70_000)
    receipt = file_report(org_a, what="Safety checks are faked.", when="Every Friday", where="Line 2",
                          people="Shift lead", contact="anon@example.net", uploads=[upload("log.pdf", evidence)])
    clock.advance(minutes=1)
    services.reporting.reply(org_a.tenant, receipt.case_id, receipt.private_key, "Photos follow.",
                             [upload("p.jpg", b"\xff\xd8jpeg", "image/jpeg")])

    case = services.cases.open_case(org_a.handler, receipt.case_id)

    assert (case.report.what, case.report.when, case.report.where, case.report.people, case.report.contact) == (
        "Safety checks are faked.", "Every Friday", "Line 2", "Shift lead", "anon@example.net")
    (info,) = case.report_attachments
    assert drain(services.cases.download(org_a.handler, receipt.case_id, info.id)) == evidence
    (message,) = case.thread
    assert (message.author, message.body) == ("reporter", "Photos follow.")
    assert drain(services.cases.download(org_a.handler, receipt.case_id, message.attachments[0].id)) == b"\xff\xd8jpeg"
    assert case.notes == () and case.conclusions == ""


def test_the_case_file_gathers_the_case_with_digests_and_status_history(
        services: Services, clock: FrozenClock, org_a: Org, org_b: Org, file_report: ReportFactory,
        make_staff: StaffFactory) -> None:
    evidence = os.urandom(200_000)  # several chunks: the digest is of the whole plaintext
    receipt = file_report(org_a, what="Invoices are split to stay under the limit.", uploads=[upload("e.pdf", evidence)])
    clock.advance(minutes=5)
    services.cases.change_status(org_a.handler, receipt.case_id, "acknowledged")
    services.cases.post_message(org_a.handler, receipt.case_id, "Thanks.", [upload("a.txt", b"reply file", "text/plain")])
    services.cases.add_note(org_a.handler, receipt.case_id, "Check the ledger.")

    plain = services.cases.case_file(org_a.handler, receipt.case_id, with_notes=False)
    full = services.cases.case_file(org_a.handler, receipt.case_id, with_notes=True)

    assert plain.case.notes == () and [n.body for n in full.case.notes] == ["Check the ledger."]
    assert plain.case.report.what == "Invoices are split to stay under the limit."
    assert [(d.info.filename, d.sha256) for d in plain.attachments] == [
        ("e.pdf", hashlib.sha256(evidence).hexdigest()), ("a.txt", hashlib.sha256(b"reply file").hexdigest())]
    (change,) = plain.status_history
    assert (change.before, change.after, change.user_id) == ("received", "acknowledged", org_a.handler.user_id)
    assert plain.exported_at == clock()
    exports = services.session.execute(sa.select(AuditEvent.object_id, AuditEvent.detail).where(
        AuditEvent.action == "case.exported_pdf").order_by(AuditEvent.seq)).all()
    assert exports == [(str(receipt.case_id), None), (str(receipt.case_id), "with-notes")]
    # Nobody else gets one: another tenant's handler, a same-tenant admin.
    with pytest.raises(NotFound):
        services.cases.case_file(org_b.handler, receipt.case_id, with_notes=True)
    with pytest.raises(NotFound):
        services.cases.case_file(org_a.admin, receipt.case_id, with_notes=True)
    colleague = make_staff((org_a.tenant, Role.HANDLER))  # a handler without a copy of this case
    with pytest.raises(CaseLocked):
        services.cases.case_file(colleague, receipt.case_id, with_notes=True)


# --- status flow ---------------------------------------------------------------------------------
def test_status_flow_to_closed(services: Services, clock: FrozenClock, org_a: Org, file_report: ReportFactory) -> None:
    receipt = file_report(org_a)
    h = org_a.handler

    clock.advance(days=1)
    services.cases.change_status(h, receipt.case_id, "acknowledged")
    reporter = services.reporting.view(org_a.tenant, receipt.case_id, receipt.private_key)
    assert reporter.status == "acknowledged"
    (ack,) = reporter.thread
    assert (ack.author, ack.body) == ("system", ACK_MESSAGE)
    assert services.cases.open_case(h, receipt.case_id).acknowledged_at == clock()

    for status in ("assessing", "investigating"):
        clock.advance(days=1)
        services.cases.change_status(h, receipt.case_id, status)
        assert services.cases.open_case(h, receipt.case_id).status == status

    with pytest.raises(InvalidInput) as missing_outcome:
        services.cases.change_status(h, receipt.case_id, "closed", conclusions="Confirmed.")
    assert missing_outcome.value.field == "outcome"
    with pytest.raises(InvalidInput) as missing_conclusions:
        services.cases.change_status(h, receipt.case_id, "closed", outcome="substantiated", conclusions="  ")
    assert missing_conclusions.value.field == "conclusions"
    with pytest.raises(InvalidInput):
        services.cases.change_status(h, receipt.case_id, "closed", outcome="guilty", conclusions="Confirmed.")
    assert services.cases.open_case(h, receipt.case_id).status == "investigating"

    clock.advance(days=1)
    services.cases.change_status(h, receipt.case_id, "closed", outcome="substantiated",
                                 conclusions="Confirmed; the supplier contract was ended.")
    services.session.commit()
    closed = services.cases.open_case(h, receipt.case_id)
    assert (closed.status, closed.outcome, closed.closed_at) == ("closed", "substantiated", clock())
    assert closed.conclusions == "Confirmed; the supplier contract was ended."
    assert not closed.deadlines.overdue
    reporter = services.reporting.view(org_a.tenant, receipt.case_id, receipt.private_key)
    assert reporter.status == "closed"
    assert "supplier contract" not in repr(reporter)

    events = services.session.execute(sa.select(AuditEvent.detail).where(
        AuditEvent.action == "case.status_changed", AuditEvent.object_id == str(receipt.case_id)
    ).order_by(AuditEvent.seq)).scalars().all()
    assert events == ["received->acknowledged", "acknowledged->assessing", "assessing->investigating",
                      "investigating->closed"]


def test_reopening_clears_the_outcome(services: Services, clock: FrozenClock, org_a: Org,
                                      file_report: ReportFactory) -> None:
    receipt = file_report(org_a)
    advance_to_investigating(services, org_a.handler, receipt.case_id, clock)
    services.cases.change_status(org_a.handler, receipt.case_id, "closed", outcome="withdrawn", conclusions="Withdrawn.")

    services.cases.change_status(org_a.handler, receipt.case_id, "assessing")

    case = services.cases.open_case(org_a.handler, receipt.case_id)
    assert (case.status, case.outcome, case.closed_at) == ("assessing", None, None)


@pytest.mark.parametrize(("path", "illegal"), [
    ((), "closed"), ((), "assessing"), ((), "investigating"), ((), "received"), ((), "archived"),
    (("acknowledged",), "received"), (("acknowledged",), "investigating"),
    (("acknowledged", "assessing", "investigating"), "acknowledged"),
    (("acknowledged", "assessing", "investigating"), "assessing"),
])
def test_illegal_transitions_are_refused(services: Services, clock: FrozenClock, org_a: Org, file_report: ReportFactory,
                                         path: tuple[str, ...], illegal: str) -> None:
    receipt = file_report(org_a)
    for status in path:
        services.cases.change_status(org_a.handler, receipt.case_id, status)

    with pytest.raises(InvalidInput) as refused:
        services.cases.change_status(org_a.handler, receipt.case_id, illegal, outcome="referred", conclusions="x")

    assert refused.value.field == "status"
    assert services.cases.open_case(org_a.handler, receipt.case_id).status == (path[-1] if path else "received")


# --- messages and notes -----------------------------------------------------------------------
def test_feedback_message_reaches_the_reporter(
        services: Services, clock: FrozenClock, org_a: Org, file_report: ReportFactory) -> None:
    receipt = file_report(org_a)
    services.cases.change_status(org_a.handler, receipt.case_id, "acknowledged")
    clock.advance(days=20)
    reply_file = os.urandom(3000)

    services.cases.post_message(org_a.handler, receipt.case_id, "Interim feedback: audit started.",
                                [upload("plan.pdf", reply_file)], is_feedback=True)
    services.session.commit()

    case = services.cases.open_case(org_a.handler, receipt.case_id)
    assert case.feedback_at == clock()
    view = services.reporting.view(org_a.tenant, receipt.case_id, receipt.private_key)
    assert [(m.author, m.body, m.is_feedback) for m in view.thread] == [
        ("system", ACK_MESSAGE, False), ("handler", "Interim feedback: audit started.", True)]
    (info,) = view.thread[1].attachments
    assert drain(services.reporting.download(org_a.tenant, receipt.case_id, receipt.private_key, info.id)) == reply_file
    assert view.report_attachments == ()  # a handler's file is not part of the report

    clock.advance(days=1)
    services.cases.post_message(org_a.handler, receipt.case_id, "Second feedback.", [], is_feedback=True)
    assert services.cases.open_case(org_a.handler, receipt.case_id).feedback_at == case.feedback_at


def test_plain_message_does_not_count_as_feedback(services: Services, org_a: Org, file_report: ReportFactory) -> None:
    receipt = file_report(org_a)
    services.cases.post_message(org_a.handler, receipt.case_id, "Can you tell us which depot?", [])

    assert services.cases.open_case(org_a.handler, receipt.case_id).feedback_at is None
    (message,) = services.reporting.view(org_a.tenant, receipt.case_id, receipt.private_key).thread
    assert (message.body, message.is_feedback) == ("Can you tell us which depot?", False)


def test_notes_are_never_shown_to_the_reporter(
        services: Services, clock: FrozenClock, org_a: Org, file_report: ReportFactory) -> None:
    receipt = file_report(org_a)
    note = "Internal: the reporter is probably in team B, keep quiet-7f3c"
    services.cases.add_note(org_a.handler, receipt.case_id, note)
    clock.advance(minutes=1)
    services.cases.post_message(org_a.handler, receipt.case_id, "Thanks, noted.", [])
    services.session.commit()

    (seen,) = services.cases.open_case(org_a.handler, receipt.case_id).notes
    assert (seen.body, seen.author_user_id) == (note, org_a.handler.user_id)
    view = services.reporting.view(org_a.tenant, receipt.case_id, receipt.private_key)
    assert "quiet-7f3c" not in repr(view)
    assert [m.body for m in view.thread] == ["Thanks, noted."]
    with pytest.raises(InvalidInput):
        services.cases.add_note(org_a.handler, receipt.case_id, " ")


# --- assignment -------------------------------------------------------------------------------
def test_assign_only_to_active_handlers_of_the_same_tenant(
        services: Services, org_a: Org, org_b: Org, make_staff: StaffFactory, file_report: ReportFactory) -> None:
    receipt = file_report(org_a)
    colleague = make_staff((org_a.tenant, Role.HANDLER))
    auditor = make_staff((org_a.tenant, Role.AUDITOR), (org_a.tenant, Role.ADMIN))
    gone = make_staff((org_a.tenant, Role.HANDLER))
    services.users.set_disabled(gone.user_id, True, CLI)

    services.cases.assign(org_a.handler, receipt.case_id, colleague.user_id)
    assert services.cases.open_case(org_a.handler, receipt.case_id).assignee_id == colleague.user_id

    for candidate in (org_b.handler.user_id, auditor.user_id, gone.user_id, uuid.uuid4()):
        with pytest.raises(InvalidInput) as refused:
            services.cases.assign(org_a.handler, receipt.case_id, candidate)
        assert refused.value.field == "assignee"
    assert services.cases.open_case(org_a.handler, receipt.case_id).assignee_id == colleague.user_id

    services.cases.assign(org_a.handler, receipt.case_id, None)
    assert services.cases.open_case(org_a.handler, receipt.case_id).assignee_id is None


# --- isolation -----------------------------------------------------------------------------------
def every_operation(services: Services, principal: StaffPrincipal, case_id: uuid.UUID,
                    attachment_id: uuid.UUID) -> dict[str, Callable[[], object]]:
    cases = services.cases
    return {
        "open_case": lambda: cases.open_case(principal, case_id),
        "change_status": lambda: cases.change_status(principal, case_id, "acknowledged"),
        "assign": lambda: cases.assign(principal, case_id, principal.user_id),
        "unassign": lambda: cases.assign(principal, case_id, None),
        "post_message": lambda: cases.post_message(principal, case_id, "Hello from outside", []),
        "add_note": lambda: cases.add_note(principal, case_id, "a note from outside"),
        "download": lambda: cases.download(principal, case_id, attachment_id),
    }


def test_handler_of_another_tenant_cannot_touch_a_case(
        services: Services, org_a: Org, org_b: Org, make_staff: StaffFactory, file_report: ReportFactory) -> None:
    receipt = file_report(org_a, uploads=[upload("e.pdf", b"evidence")])
    (info,) = services.cases.open_case(org_a.handler, receipt.case_id).report_attachments
    services.session.commit()
    state_before = {t: count_rows(services.session, t) for t in ("case_messages", "case_notes", "attachments")}
    # Also a handler in B who holds every other role in A.
    mixed = make_staff((org_b.tenant, Role.HANDLER), (org_a.tenant, Role.ADMIN), (org_a.tenant, Role.AUDITOR),
                       (org_a.tenant, Role.ANALYST), (org_a.tenant, Role.INSIDER_MANAGER))

    for outsider in (org_b.handler, mixed):
        assert queue_ids(services, outsider) == set()
        assert queue_ids(services, outsider, tenant_id=org_a.tenant.id) == set()
        for name, operation in every_operation(services, outsider, receipt.case_id, info.id).items():
            with pytest.raises(NotFound) as hidden:
                operation()
            assert hidden.value.kind == "case", name

    services.session.commit()
    assert {t: count_rows(services.session, t) for t in state_before} == state_before
    case = services.cases.open_case(org_a.handler, receipt.case_id)
    assert (case.status, case.assignee_id, case.thread, case.notes) == ("received", None, (), ())
    outsider_ids = {str(org_b.handler.user_id), str(mixed.user_id)}
    actors = set(services.session.execute(
        sa.select(AuditEvent.actor_id).where(AuditEvent.object_id == str(receipt.case_id))).scalars())
    assert not actors & outsider_ids


@pytest.mark.parametrize("role", [Role.AUDITOR, Role.ANALYST, Role.ADMIN, Role.INSIDER_MANAGER])
def test_other_roles_in_the_same_tenant_see_no_cases(
        services: Services, org_a: Org, make_staff: StaffFactory, file_report: ReportFactory, role: Role) -> None:
    receipt = file_report(org_a, uploads=[upload("e.pdf", b"evidence")])
    (info,) = services.cases.open_case(org_a.handler, receipt.case_id).report_attachments
    principal = make_staff((org_a.tenant, role))

    assert services.cases.queue(principal, QueueFilter()) == []
    assert services.cases.queue(principal, QueueFilter(tenant_id=org_a.tenant.id)) == []
    for operation in every_operation(services, principal, receipt.case_id, info.id).values():
        with pytest.raises(NotFound):
            operation()


def test_principal_with_no_roles_sees_nothing(services: Services, org_a: Org, file_report: ReportFactory) -> None:
    receipt = file_report(org_a)
    nobody = StaffPrincipal(uuid.uuid4())

    assert services.cases.queue(nobody, QueueFilter()) == []
    with pytest.raises(NotFound):
        services.cases.open_case(nobody, receipt.case_id)


def test_tampered_or_foreign_attachment_ids_are_not_found(
        services: Services, org_a: Org, org_b: Org, file_report: ReportFactory) -> None:
    first = file_report(org_a, uploads=[upload("first.pdf", b"one")])
    second = file_report(org_a, uploads=[upload("second.pdf", b"two")])
    other_tenant = file_report(org_b, uploads=[upload("third.pdf", b"three")])
    (second_file,) = services.cases.open_case(org_a.handler, second.case_id).report_attachments
    (foreign_file,) = services.cases.open_case(org_b.handler, other_tenant.case_id).report_attachments

    for attachment_id in (uuid.uuid4(), second_file.id, foreign_file.id):
        with pytest.raises(NotFound) as hidden:
            services.cases.download(org_a.handler, first.case_id, attachment_id)
        assert hidden.value.kind == "attachment"
        with pytest.raises(NotFound):
            services.reporting.download(org_a.tenant, first.case_id, first.private_key, attachment_id)


def test_unknown_case_id_is_not_found(services: Services, org_a: Org) -> None:
    with pytest.raises(NotFound):
        services.cases.open_case(org_a.handler, uuid.uuid4())
    with pytest.raises(NotFound):
        services.reporting.view(org_a.tenant, uuid.uuid4(), None)
