"""Closing at triage on real databases: spam and duplicates closed from RECEIVED without an
acknowledgement, the earlier case named by a reference the handler may open (nothing else, and
one answer for "none" and "another tenant's"), no deadline left running, the logbook without
content, the reporter told in one line, and a reopened case back at the acknowledgement."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from appliance.actors import Role
from appliance.audit.models import AuditEvent
from appliance.cases.deadlines import NO_DEADLINE
from appliance.cases.models import Case
from appliance.cases.queue_filter import QueueFilter
from appliance.cases.reminders import ReminderService
from appliance.cases.triage import ITSELF, MALFORMED, NO_SUCH_CASE, NOT_A_DUPLICATE
from appliance.errors import CaseLocked, InvalidInput, NotFound
from appliance.services import Services
from tests.functional.conftest import Org, ReaderFactory, ReportFactory, StaffFactory
from tests.support import FrozenClock, add_reader

pytestmark = pytest.mark.one_session

SPAM = "Cheap watches mkTriageSpam4410, click here."


def logbook(services: Services, case_id: uuid.UUID) -> list[tuple[str, str | None]]:
    return [tuple(row) for row in services.session.execute(  # type: ignore[misc]
        sa.select(AuditEvent.action, AuditEvent.detail).where(AuditEvent.object_id == str(case_id))
        .order_by(AuditEvent.seq))]


def test_spam_is_closed_without_an_acknowledgement_and_no_deadline_runs(
        services: Services, clock: FrozenClock, org_a: Org, file_report: ReportFactory) -> None:
    receipt = file_report(org_a, what=SPAM)

    services.cases.close_at_triage(org_a.handler, receipt.case_id, "not-a-report")
    services.session.commit()

    case = services.cases.open_case(org_a.handler, receipt.case_id)
    assert (case.status, case.outcome, case.closed_at, case.acknowledged_at) == ("closed", "not-a-report", clock(), None)
    assert case.duplicate_of is None and case.thread == ()  # no acknowledgement message
    clock.advance(days=30)  # long past the 7 days: nothing is overdue
    assert not services.cases.open_case(org_a.handler, receipt.case_id).deadlines.overdue
    assert services.session.get_one(Case, receipt.case_id).next_due_at == NO_DEADLINE
    assert receipt.case_id not in {r.id for r in services.cases.queue(org_a.handler, QueueFilter(overdue_only=True))}
    assert receipt.case_id not in {r.id for r in services.cases.queue(org_a.handler, QueueFilter(open_only=True))}
    reminders = ReminderService(services.session, services.users, None, clock, "https://example.test")  # type: ignore[arg-type]
    assert receipt.case_id not in {due.case_id for due, _tenant, _assignee in reminders.due()}  # no reminder mail
    events = logbook(services, receipt.case_id)
    assert ("case.status_changed", "received->closed") in events
    assert ("case.closed_at_triage", "not-a-report") in events
    assert not any("mkTriageSpam4410" in (detail or "") for _action, detail in events)


def test_a_duplicate_names_the_earlier_case_and_the_logbook_its_reference(
        services: Services, org_a: Org, file_report: ReportFactory) -> None:
    earlier, again = file_report(org_a), file_report(org_a, what="The same stock sold off the books, again.")
    typed = earlier.reference.lower().replace("-", " ")  # as a handler might type it

    assert services.cases.check_triage(org_a.handler, again.case_id, "duplicate", typed) == earlier.reference
    assert services.cases.open_case(org_a.handler, again.case_id).status == "received"  # the check changes nothing
    services.cases.close_at_triage(org_a.handler, again.case_id, "duplicate", typed)
    services.session.commit()

    case = services.cases.open_case(org_a.handler, again.case_id)
    assert (case.status, case.outcome) == ("closed", "duplicate")
    assert case.duplicate_of is not None
    assert (case.duplicate_of.id, case.duplicate_of.reference) == (earlier.case_id, earlier.reference)
    assert ("case.closed_at_triage", f"duplicate-of={earlier.reference}") in logbook(services, again.case_id)
    assert services.cases.open_case(org_a.handler, earlier.case_id).status == "received"  # the earlier one untouched


@pytest.mark.parametrize("reference", ["", "   ", "ABCD", "ABCD-12345", "ABCI-1234", "<script>x</script>",
                                       "A" * 100, "ABCD_1234", "abcd-12\x00", "ÅBCD-1234"])
def test_a_malformed_reference_is_refused(services: Services, org_a: Org, file_report: ReportFactory,
                                          reference: str) -> None:
    receipt = file_report(org_a)
    with pytest.raises(InvalidInput) as refused:
        services.cases.close_at_triage(org_a.handler, receipt.case_id, "duplicate", reference)
    assert (refused.value.field, refused.value.reason) == ("duplicate_of", MALFORMED)
    assert services.cases.open_case(org_a.handler, receipt.case_id).status == "received"


def test_unknown_other_tenant_and_unreadable_references_get_one_answer(
        services: Services, org_a: Org, org_b: Org, file_report: ReportFactory, make_staff: StaffFactory,
        make_reader: ReaderFactory) -> None:
    # A handler of both tenants, reader in both: B's case is one they can open, but not A's duplicate.
    both = make_staff((org_a.tenant, Role.HANDLER), (org_b.tenant, Role.HANDLER))
    add_reader(services, org_a.tenant.id, org_a.handler, both.user_id)
    add_reader(services, org_b.tenant.id, org_b.handler, both.user_id)
    services.session.commit()
    colleague = make_reader(org_a)
    mine, in_b, locked = file_report(org_a), file_report(org_b), file_report(org_a)
    services.cases.unshare(org_a.handler, locked.case_id, colleague.user_id)  # colleague holds no key to it
    services.session.commit()
    assert services.cases.can_read(both, in_b.case_id)

    answers = set()
    for principal, reference in [(org_a.handler, "ZZZZ-ZZZZ"), (org_a.handler, in_b.reference),
                                 (both, in_b.reference), (colleague, locked.reference)]:
        with pytest.raises(InvalidInput) as refused:
            services.cases.close_at_triage(principal, mine.case_id, "duplicate", reference)
        answers.add((refused.value.field, refused.value.reason, str(refused.value)))
    assert answers == {("duplicate_of", NO_SUCH_CASE, str(InvalidInput("duplicate_of", NO_SUCH_CASE)))}
    assert in_b.reference not in str(answers)
    assert services.cases.open_case(org_a.handler, mine.case_id).status == "received"


def test_a_case_is_not_a_duplicate_of_itself_and_spam_names_no_case(
        services: Services, org_a: Org, file_report: ReportFactory) -> None:
    receipt, other = file_report(org_a), file_report(org_a)
    with pytest.raises(InvalidInput) as itself:
        services.cases.close_at_triage(org_a.handler, receipt.case_id, "duplicate", receipt.reference)
    with pytest.raises(InvalidInput) as named:
        services.cases.close_at_triage(org_a.handler, receipt.case_id, "not-a-report", other.reference)
    assert (itself.value.reason, named.value.reason) == (ITSELF, NOT_A_DUPLICATE)


@pytest.mark.parametrize("outcome", ["", "substantiated", "withdrawn", "DUPLICATE", "spam", "closed"])
def test_triage_takes_only_its_two_outcomes(services: Services, org_a: Org, file_report: ReportFactory,
                                            outcome: str) -> None:
    receipt = file_report(org_a)
    with pytest.raises(InvalidInput) as refused:
        services.cases.close_at_triage(org_a.handler, receipt.case_id, outcome)
    assert refused.value.field == "outcome"


@pytest.mark.parametrize("path", [("acknowledged",), ("acknowledged", "assessing"),
                                  ("acknowledged", "assessing", "investigating")])
def test_only_a_received_case_is_closed_at_triage(services: Services, org_a: Org, file_report: ReportFactory,
                                                  path: tuple[str, ...]) -> None:
    receipt = file_report(org_a)
    for status in path:
        services.cases.change_status(org_a.handler, receipt.case_id, status)
    with pytest.raises(InvalidInput) as refused:
        services.cases.close_at_triage(org_a.handler, receipt.case_id, "not-a-report")
    assert refused.value.field == "status"
    assert services.cases.open_case(org_a.handler, receipt.case_id).status == path[-1]


def test_the_normal_path_closes_with_neither_triage_outcome(
        services: Services, org_a: Org, file_report: ReportFactory) -> None:
    receipt = file_report(org_a)
    for status in ("acknowledged", "assessing"):
        services.cases.change_status(org_a.handler, receipt.case_id, status)
    for outcome in ("duplicate", "not-a-report"):
        with pytest.raises(InvalidInput) as refused:
            services.cases.change_status(org_a.handler, receipt.case_id, "closed", outcome=outcome, conclusions="x")
        assert refused.value.field == "outcome"
    with pytest.raises(InvalidInput):  # and a received case still cannot close by the status form
        services.cases.change_status(org_a.handler, file_report(org_a).case_id, "closed", outcome="duplicate",
                                     conclusions="x")


def test_other_tenants_other_roles_and_handlers_without_a_key_cannot_close(
        services: Services, org_a: Org, org_b: Org, file_report: ReportFactory, make_reader: ReaderFactory) -> None:
    receipt = file_report(org_a)
    outsider = make_reader(org_a, receives=False)  # a handler of A who holds no key to the case
    with pytest.raises(NotFound):
        services.cases.close_at_triage(org_b.handler, receipt.case_id, "not-a-report")
    with pytest.raises(NotFound):
        services.cases.close_at_triage(org_a.admin, receipt.case_id, "not-a-report")
    with pytest.raises(NotFound):
        services.cases.check_triage(org_b.handler, receipt.case_id, "not-a-report")
    with pytest.raises(CaseLocked):
        services.cases.close_at_triage(outsider, receipt.case_id, "not-a-report")
    with pytest.raises(CaseLocked):
        services.cases.check_triage(outsider, receipt.case_id, "not-a-report")
    assert services.cases.open_case(org_a.handler, receipt.case_id).status == "received"


def test_reopening_makes_it_a_received_report_to_acknowledge(
        services: Services, clock: FrozenClock, org_a: Org, file_report: ReportFactory) -> None:
    earlier, again = file_report(org_a), file_report(org_a)
    services.cases.close_at_triage(org_a.handler, again.case_id, "duplicate", earlier.reference)
    clock.advance(days=10)
    with pytest.raises(InvalidInput):  # never acknowledged: it does not skip to assessing
        services.cases.change_status(org_a.handler, again.case_id, "assessing")

    services.cases.change_status(org_a.handler, again.case_id, "received")

    case = services.cases.open_case(org_a.handler, again.case_id)
    assert (case.status, case.outcome, case.closed_at, case.duplicate_of) == ("received", None, None, None)
    assert case.deadlines.acknowledge_overdue  # received 10 days ago: the acknowledgement is due now
    services.cases.change_status(org_a.handler, again.case_id, "acknowledged")
    assert services.cases.open_case(org_a.handler, again.case_id).acknowledged_at == clock()
    assert [d for a, d in logbook(services, again.case_id) if a == "case.status_changed"] == [
        "received->closed", "closed->received", "received->acknowledged"]


def test_an_acknowledged_closed_case_still_reopens_to_assessing(
        services: Services, org_a: Org, file_report: ReportFactory) -> None:
    receipt = file_report(org_a)
    for status in ("acknowledged", "assessing"):
        services.cases.change_status(org_a.handler, receipt.case_id, status)
    services.cases.change_status(org_a.handler, receipt.case_id, "closed", outcome="out-of-scope", conclusions="x")
    with pytest.raises(InvalidInput):
        services.cases.change_status(org_a.handler, receipt.case_id, "received")
    services.cases.change_status(org_a.handler, receipt.case_id, "assessing")


def test_the_reporter_is_told_the_outcome_and_nothing_else(
        services: Services, org_a: Org, file_report: ReportFactory) -> None:
    earlier, again, spam, normal = file_report(org_a), file_report(org_a), file_report(org_a), file_report(org_a)
    services.cases.close_at_triage(org_a.handler, again.case_id, "duplicate", earlier.reference)
    services.cases.close_at_triage(org_a.handler, spam.case_id, "not-a-report")
    for status in ("acknowledged", "assessing"):
        services.cases.change_status(org_a.handler, normal.case_id, status)
    services.cases.change_status(org_a.handler, normal.case_id, "closed", outcome="substantiated", conclusions="x")

    duplicate_view = services.reporting.view(org_a.tenant, again.case_id, again.private_key)
    assert (duplicate_view.status, duplicate_view.closed_at_triage) == ("closed", "duplicate")
    assert earlier.reference not in repr(duplicate_view) and str(earlier.case_id) not in repr(duplicate_view)
    assert services.reporting.view(org_a.tenant, spam.case_id, spam.private_key).closed_at_triage == "not-a-report"
    assert services.reporting.view(org_a.tenant, normal.case_id, normal.private_key).closed_at_triage is None
    assert services.reporting.view(org_a.tenant, earlier.case_id, earlier.private_key).closed_at_triage is None
