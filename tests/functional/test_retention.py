"""Retention on both databases: exactly the cases due are deleted, nothing under a legal hold,
a dry run lists the same set, and a deleted case leaves no row that names it in any table.

Time moves only with the FrozenClock: cases are filed, acknowledged and closed at chosen
moments, then the clock is set to the moment of the run.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable

import pytest
import sqlalchemy as sa

import appliance.models
from appliance.actors import CLI, SYSTEM, Actor
from appliance.audit.models import AuditEvent
from appliance.context import AppContext
from appliance.crypto.fields import Place
from appliance.db import GUID
from appliance.errors import Conflict, InvalidInput, NotFound
from appliance.job_runs.models import JobRun
from appliance.jobs.definitions import job_specs
from appliance.jobs.scheduler import Scheduler
from appliance.keys.secrets import checkpoint_key
from appliance.notify.models import ReminderSent
from appliance.operations.retention_run import RetentionReport, run_retention
from appliance.persons.models import Person
from appliance.persons.service import PersonDetails
from appliance.retention.models import LegalHold
from appliance.retention.service import CLOSED, UNACKNOWLEDGED
from appliance.services import Services
from tests.functional.conftest import Org, ReportFactory, upload
from tests.support import FrozenClock

START = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
NOW = START + dt.timedelta(days=731)

CaseFactory = Callable[..., uuid.UUID]


@pytest.fixture
def filed(services: Services, clock: FrozenClock, file_report: ReportFactory) -> CaseFactory:
    """filed(org, at, state) -> case id: a report received at ``at`` and left ``received``,
    ``acknowledged`` (the same moment) or ``closed`` (acknowledged and closed at ``at``)."""

    def make(org: Org, at: dt.datetime, state: str = "closed", **report: object) -> uuid.UUID:
        clock.now = at
        receipt = file_report(org, **report)
        if state in ("acknowledged", "closed"):
            services.cases.change_status(org.handler, receipt.case_id, "acknowledged")
        if state == "closed":
            services.cases.change_status(org.handler, receipt.case_id, "closed", outcome="substantiated",
                                         conclusions="Confirmed; the contract was ended.")
        services.session.commit()
        return receipt.case_id

    return make


def run(ctx: AppContext, clock: FrozenClock, dry_run: bool, actor: Actor = CLI, **kw: object) -> RetentionReport:
    clock.now = NOW
    return run_retention(ctx, actor, dry_run, **kw)  # type: ignore[arg-type]


def ids(report: RetentionReport) -> set[uuid.UUID]:
    return {case.case_id for case in report.cases}


def existing(ctx: AppContext, *case_ids: uuid.UUID) -> set[uuid.UUID]:
    with ctx.sessions() as session:
        return set(session.execute(sa.select(appliance.models.Case.id).where(
            appliance.models.Case.id.in_(case_ids))).scalars())


# --- what is due -----------------------------------------------------------------------------
def test_deletes_exactly_the_cases_past_the_policy_and_the_dry_run_lists_the_same(
        ctx: AppContext, services: Services, clock: FrozenClock, org_a: Org, filed: CaseFactory) -> None:
    closed_731 = filed(org_a, START)
    closed_729 = filed(org_a, START + dt.timedelta(days=2))
    received_731 = filed(org_a, START, "received")
    received_366 = filed(org_a, NOW - dt.timedelta(days=366), "received")
    received_364 = filed(org_a, NOW - dt.timedelta(days=364), "received")
    acknowledged_731 = filed(org_a, START, "acknowledged")  # open and acknowledged: kept however old
    every = {closed_731, closed_729, received_731, received_366, received_364, acknowledged_731}

    dry = run(ctx, clock, dry_run=True)
    assert ids(dry) == {closed_731, received_731, received_366}
    reasons = {case.case_id: (case.reason, case.since) for case in dry.cases}
    assert reasons[closed_731] == (CLOSED, START)
    assert reasons[received_366] == (UNACKNOWLEDGED, NOW - dt.timedelta(days=366))
    assert dry.deleted == [] and existing(ctx, *every) == every  # a dry run deletes nothing
    assert dry.as_dict()["cases"] == {"due": 3, "deleted": None, "kept": 0, "failed": 0}

    real = run(ctx, clock, dry_run=False)
    assert set(real.deleted) == ids(dry) == ids(real)
    assert existing(ctx, *every) == {closed_729, received_364, acknowledged_731}
    assert run(ctx, clock, dry_run=True).cases == []  # nothing left to do
    clock_after = NOW + dt.timedelta(days=2)
    with ctx.sessions() as session:
        assert {d.case_id for d in Services(ctx, session).retention.due(clock_after)} == {closed_729, received_364}


def test_the_policy_is_per_tenant_and_no_unacknowledged_limit_keeps_them(
        ctx: AppContext, services: Services, clock: FrozenClock, org_a: Org, org_b: Org, filed: CaseFactory) -> None:
    a_closed = filed(org_a, NOW - dt.timedelta(days=100))
    a_received = filed(org_a, START, "received")
    b_closed = filed(org_b, NOW - dt.timedelta(days=100))
    b_received = filed(org_b, START, "received")
    services.retention.set_policy(org_a.tenant.id, 90, None, CLI)
    services.session.commit()
    assert services.retention.policy(org_a.tenant.id).closed_case_days == 90
    assert services.retention.policy(org_b.tenant.id).is_default
    services.session.rollback()

    report = run(ctx, clock, dry_run=False)
    assert set(report.deleted) == {a_closed, b_received}
    assert existing(ctx, a_received, b_closed) == {a_received, b_closed}


# --- legal holds -----------------------------------------------------------------------------
def test_case_and_tenant_holds_block_deletion_until_released(
        ctx: AppContext, services: Services, clock: FrozenClock, org_a: Org, org_b: Org, filed: CaseFactory) -> None:
    held = filed(org_a, START)
    released = filed(org_a, START)
    free = filed(org_a, START)
    b_cases = {filed(org_b, START), filed(org_b, START, "received")}
    a_id, b_id = org_a.tenant.id, org_b.tenant.id  # read before the rollback below expires the objects
    retention = services.retention
    case_hold = retention.place_hold(org_a.tenant.id, reference_of(services, held), "Court file 4 O 117/26", CLI)
    gone_hold = retention.place_hold(org_a.tenant.id, reference_of(services, released).lower(), "Audit 2026-3", CLI)
    tenant_hold = retention.place_hold(org_b.tenant.id, None, "Regulator inquiry FI-2026-88", CLI)
    retention.release_hold(gone_hold.id, org_a.tenant.id, CLI)
    services.session.commit()
    assert [h.id for h in retention.holds(org_a.tenant.id)] == [case_hold.id]
    assert tenant_hold.case_reference is None and case_hold.case_reference == reference_of(services, held)
    services.session.rollback()

    dry = run(ctx, clock, dry_run=True)
    real = run(ctx, clock, dry_run=False)
    assert ids(dry) == set(real.deleted) == {released, free}
    assert existing(ctx, held, *b_cases) == {held, *b_cases}
    with ctx.sessions() as session:  # the released hold went with its case
        assert session.get(LegalHold, gone_hold.id) is None

    with ctx.sessions() as session, session.begin():
        Services(ctx, session).retention.release_hold(case_hold.id, a_id, CLI)
        Services(ctx, session).retention.release_hold(tenant_hold.id, b_id, CLI)
    later = run(ctx, clock, dry_run=False)
    assert set(later.deleted) == {held, *b_cases}


def test_delete_case_itself_refuses_a_held_case(services: Services, clock: FrozenClock, org_a: Org,
                                                filed: CaseFactory) -> None:
    case_id = filed(org_a, START)
    services.retention.place_hold(org_a.tenant.id, None, "Internal audit IA-7", CLI)
    with pytest.raises(Conflict):
        services.retention.delete_case(case_id, CLOSED, CLI)
    with pytest.raises(NotFound):
        services.retention.delete_case(uuid.uuid4(), CLOSED, CLI)


def test_a_hold_placed_during_a_run_keeps_its_case(ctx: AppContext, clock: FrozenClock, org_a: Org,
                                                   filed: CaseFactory) -> None:
    first, second = filed(org_a, START), filed(org_a, START + dt.timedelta(minutes=1))
    placed: list[str] = []

    def hold_the_second(_line: str) -> None:  # between the first deletion and the second
        if not placed:
            with ctx.sessions() as session, session.begin():
                services = Services(ctx, session)
                placed.append(services.retention.place_hold(org_a.tenant.id, reference_of(services, second),
                                                            "Late hold", CLI).reference)

    report = run(ctx, clock, dry_run=False, progress=hold_the_second)
    assert report.deleted == [first] and report.kept == [second]
    assert report.as_dict()["tenants"][0]["cases"][1]["outcome"] == "kept"
    assert existing(ctx, first, second) == {second}


def test_a_case_that_fails_is_rolled_back_alone(ctx: AppContext, clock: FrozenClock, org_a: Org,
                                                filed: CaseFactory) -> None:
    """A row the deletion does not know about (here a probe table) refuses that one case; the
    other cases are still deleted and committed."""
    blocked, free = filed(org_a, START), filed(org_a, START + dt.timedelta(minutes=1))
    probe_meta = sa.MetaData()
    sa.Table("cases", probe_meta, sa.Column("id", GUID, primary_key=True))
    probe = sa.Table("retention_probe", probe_meta, sa.Column("case_id", GUID, sa.ForeignKey("cases.id")))
    with ctx.engine.begin() as connection:
        probe.create(connection)
        connection.execute(probe.insert().values(case_id=blocked))

    report = run(ctx, clock, dry_run=False)
    assert report.deleted == [free] and list(report.failed) == [blocked]
    assert existing(ctx, blocked, free) == {blocked}
    with ctx.sessions() as session:
        assert session.execute(sa.select(sa.func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "case.deleted", AuditEvent.object_id == str(blocked))).scalar_one() == 0


# --- what a deletion removes -----------------------------------------------------------------
def test_a_deleted_case_leaves_no_row_naming_it_in_any_table(
        ctx: AppContext, services: Services, clock: FrozenClock, org_a: Org, filed: CaseFactory) -> None:
    big = b"%PDF " + bytes(range(256)) * 10_000  # 2.5 MiB: three chunks
    case_id = filed(org_a, START, what="The forklift invoices are doubled.",
                    uploads=[upload("evidence.pdf", big)])
    kept = filed(org_a, START + dt.timedelta(days=30), uploads=[upload("other.pdf", b"%PDF other")])
    clock.now = START
    services.cases.post_message(org_a.handler, case_id, "Thanks, we are looking into it.",
                                [upload("answer.txt", b"answer " * 50, "text/plain")])
    services.cases.add_note(org_a.handler, case_id, "Call the auditor.")
    services.web_sessions.create("reporter", "full", case_id=case_id)
    services.session.add(ReminderSent(case_id=case_id, deadline="feedback", stage="soon", sent_at=START))
    hold = services.retention.place_hold(org_a.tenant.id, reference_of(services, case_id), "Matter 12", CLI)
    services.retention.release_hold(hold.id, org_a.tenant.id, CLI)
    subjects = services.case_subjects
    subjects.add(org_a.handler, case_id, PersonDetails(name="Per Persson", email="per@example.com"), "concerned")
    subjects.add(org_a.handler, case_id, PersonDetails(name="Wilma Witness", email="wilma@example.com"), "witness")
    subjects.add(org_a.handler, kept, PersonDetails(email="wilma@example.com"), "concerned")  # named twice
    # ... and one the old way (a link with the case's id in clear), not converted yet.
    _case, cipher = services.cases.opened(org_a.handler, case_id)
    old_way = services.persons.record(org_a.tenant.id, PersonDetails(email="old@example.com"), CLI)
    link_id = uuid.uuid4()
    services.persons.link(old_way, "case_subject", "case", case_id, CLI, link_id=link_id,
                          detail=cipher.seal("witness", Place("person_links", "detail", link_id)))
    services.session.commit()
    assert chunks_of(ctx, case_id) == 4  # three of the report's file, one of the answer's
    assert mentions(ctx, case_id).keys() >= {"cases", "attachments", "case_messages", "case_notes",
                                             "case_key_seals", "web_sessions", "deadline_reminders",
                                             "legal_holds", "case_subjects", "person_links"}

    report = run(ctx, clock, dry_run=False, actor=SYSTEM)
    assert report.deleted == [case_id]
    assert mentions(ctx, case_id) == {}
    assert chunks_of(ctx, case_id) == 0
    assert mentions(ctx, kept).keys() >= {"cases", "attachments", "case_subjects"} and chunks_of(ctx, kept) == 1
    # Who was named only there is sealed to the deleted case: the person records stay, holding
    # only their blind indexes and key (`appliance person reconcile` deletes them with the escrow key).
    with ctx.sessions() as session:
        after = Services(ctx, session)
        [per] = after.persons.find(PersonDetails(email="per@example.com"))
        person = session.get(Person, per.person_id)
        assert person is not None and person.name_sealed is None and not per.links
        [subject] = after.case_subjects.list(org_a.handler, kept)
        assert (subject.name, subject.identifiers) == (None, {"email": "wilma@example.com"})
        session.rollback()
    with ctx.sessions() as session:
        (event,) = session.execute(sa.select(AuditEvent).where(AuditEvent.action == "case.deleted")).scalars()
        assert (event.object_type, event.object_id, event.detail) == ("case", str(case_id), "retention: closed")
        assert (event.actor_type, event.actor_id, event.tenant_id) == ("system", None, org_a.tenant.id)
        assert Services(ctx, session).logbook.verify(checkpoint_key=checkpoint_key(ctx)).ok


def reference_of(services: Services, case_id: uuid.UUID) -> str:
    return services.session.get_one(appliance.models.Case, case_id).reference


def chunks_of(ctx: AppContext, case_id: uuid.UUID) -> int:
    chunk, attachment = appliance.models.AttachmentChunk, appliance.models.Attachment
    with ctx.sessions() as session:
        return int(session.execute(sa.select(sa.func.count()).select_from(chunk).join(
            attachment, attachment.id == chunk.attachment_id).where(attachment.case_id == case_id)).scalar_one())


def mentions(ctx: AppContext, case_id: uuid.UUID) -> dict[str, int]:
    """Rows naming the case id in any column of any table (as a uuid, its text or its hex).

    The logbook is left out on purpose: it is append-only and keeps object ids (never content)
    until it is pruned after LOG_RETENTION_DAYS; its "case.deleted" event is checked above."""
    forms = {case_id, str(case_id), case_id.hex}
    found: dict[str, int] = {}
    with ctx.sessions() as session:
        for table in appliance.models.Base.metadata.sorted_tables:
            if table.name == "audit_events":
                continue
            hits = sum(1 for row in session.execute(sa.select(table)) if forms & {v for v in row if _hashable(v)})
            if hits:
                found[table.name] = hits
    return found


def _hashable(value: object) -> bool:
    return isinstance(value, (str, uuid.UUID))


# --- policies and holds refuse bad input -----------------------------------------------------
@pytest.mark.parametrize(("closed", "unacknowledged", "field"), [
    (29, 365, "closed_case_days"), (3651, 365, "closed_case_days"), (0, None, "closed_case_days"),
    (-5, None, "closed_case_days"), (730, 89, "unacknowledged_case_days"),
    (730, 10_000, "unacknowledged_case_days"),
])
def test_policy_bounds_name_the_field(services: Services, org_a: Org, closed: int, unacknowledged: int | None,
                                      field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        services.retention.set_policy(org_a.tenant.id, closed, unacknowledged, CLI)
    assert refused.value.field == field
    assert services.retention.policy(org_a.tenant.id).is_default


def test_policy_changes_are_in_the_logbook(services: Services, org_a: Org) -> None:
    policy = services.retention.set_policy(org_a.tenant.id, 30, 90, CLI)
    assert (policy.closed_case_days, policy.unacknowledged_case_days, policy.is_default) == (30, 90, False)
    services.retention.set_policy(org_a.tenant.id, 3650, None, CLI)
    services.session.flush()
    details = services.session.execute(sa.select(AuditEvent.detail).where(
        AuditEvent.action == "retention.policy_set").order_by(AuditEvent.seq)).scalars().all()
    assert details == ["closed=30 unacknowledged=90", "closed=3650 unacknowledged=none"]


@pytest.mark.parametrize(("reference", "reason"), [
    ("", "required"), (" \t\n", "required"), ("x" * 81, "at most 80"), ("anna.svensson@example.com", "e-mail"),
])
def test_hold_references_are_checked(services: Services, org_a: Org, reference: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        services.retention.place_hold(org_a.tenant.id, None, reference, CLI)
    assert refused.value.field == "reference" and reason in refused.value.reason


def test_hold_references_lose_control_characters(services: Services, org_a: Org) -> None:
    hold = services.retention.place_hold(org_a.tenant.id, None, " Case\n4 O\x00 117/26\u202e\x1b[31m ", CLI)
    assert hold.reference == "Case 4 O 117/26[31m"
    placed = services.session.execute(sa.select(AuditEvent).where(AuditEvent.action == "legal_hold.placed")).scalar_one()
    assert (placed.object_id, placed.detail) == (str(hold.id), "tenant")  # never the reference


def test_holds_stay_within_their_tenant(services: Services, org_a: Org, org_b: Org, filed: CaseFactory) -> None:
    b_case = filed(org_b, START)
    with pytest.raises(InvalidInput) as foreign_case:
        services.retention.place_hold(org_a.tenant.id, reference_of(services, b_case), "Matter 1", CLI)
    assert foreign_case.value.field == "case"
    with pytest.raises(InvalidInput):
        services.retention.place_hold(org_a.tenant.id, "NOT-A-REFERENCE-AT-ALL", "Matter 1", CLI)
    b_hold = services.retention.place_hold(org_b.tenant.id, None, "Matter 2", CLI)
    with pytest.raises(NotFound):
        services.retention.release_hold(b_hold.id, org_a.tenant.id, CLI)
    with pytest.raises(NotFound):
        services.retention.release_hold(uuid.uuid4(), org_b.tenant.id, CLI)
    assert services.retention.holds(org_a.tenant.id) == []
    services.retention.release_hold(b_hold.id, org_b.tenant.id, CLI)
    with pytest.raises(Conflict):
        services.retention.release_hold(b_hold.id, org_b.tenant.id, CLI)
    assert [h.released_at for h in services.retention.holds(org_b.tenant.id, include_released=True)] != [None]


# --- job runs --------------------------------------------------------------------------------
def test_old_finished_job_runs_go_and_recent_or_running_ones_stay(ctx: AppContext, services: Services,
                                                                  clock: FrozenClock) -> None:
    def job_run(days_ago: float, outcome: str) -> uuid.UUID:
        started = NOW - dt.timedelta(days=days_ago)
        row = JobRun(job="backup-log", started_at=started, outcome=outcome, host="host-a:1",
                     finished_at=None if outcome == "running" else started + dt.timedelta(minutes=1))
        services.session.add(row)
        services.session.flush()
        return row.id

    old_ok, old_failed = job_run(91, "ok"), job_run(400, "failed")
    recent, stuck = job_run(89, "ok"), job_run(120, "running")
    services.session.commit()
    dry = run(ctx, clock, dry_run=True)
    assert (dry.job_runs.due, dry.job_runs.deleted) == (2, None)
    real = run(ctx, clock, dry_run=False)
    assert (real.job_runs.due, real.job_runs.deleted) == (2, 2)
    with ctx.sessions() as session:
        left = set(session.execute(sa.select(JobRun.id)).scalars())
    assert {recent, stuck} <= left and not {old_ok, old_failed} & left
    assert real.as_dict()["logbook_events"] == {"cutoff": (NOW - dt.timedelta(days=90)).isoformat(),
                                                "due": 0, "deleted": 0}


def test_a_run_prunes_the_logbook_under_a_signed_checkpoint(ctx: AppContext, services: Services,
                                                           clock: FrozenClock) -> None:
    clock.now = NOW - dt.timedelta(days=120)
    with ctx.unit_of_work() as session:
        for n in range(3):
            Services(ctx, session).logbook.record("test.old", CLI, detail=str(n))
    clock.now = NOW - dt.timedelta(days=10)
    with ctx.unit_of_work() as session:
        Services(ctx, session).logbook.record("test.recent", CLI)
    dry = run(ctx, clock, dry_run=True)
    assert dry.logbook_events.due is not None and dry.logbook_events.due >= 3 and dry.logbook_events.deleted is None
    real = run(ctx, clock, dry_run=False)
    assert real.logbook_events.deleted == dry.logbook_events.due
    with ctx.sessions() as session:
        actions = set(session.execute(sa.select(AuditEvent.action)).scalars())
        assert "test.old" not in actions and {"test.recent", "audit.pruned"} <= actions
        report = Services(ctx, session).logbook.verify(checkpoint_key=checkpoint_key(ctx))
    assert report.ok and report.checkpoint_seq is not None


# --- the scheduled job -----------------------------------------------------------------------
def test_the_daily_job_deletes_what_is_due_as_the_system(ctx: AppContext, clock: FrozenClock, org_a: Org,
                                                         filed: CaseFactory) -> None:
    due, young = filed(org_a, START), filed(org_a, NOW - dt.timedelta(days=10))
    spec = job_specs(ctx.settings)["retention"]
    clock.now = NOW
    next_run = spec.next_due(None, NOW)
    assert (next_run.hour, next_run.minute) == (2, 30) and next_run > NOW  # RETENTION_AT, TIMEZONE UTC
    scheduler = Scheduler(ctx, "host-a:1")
    assert scheduler.run_job("retention") == "ok"
    assert existing(ctx, due, young) == {young}
    status = {s.job: s for s in scheduler.status()}["retention"]
    assert status.last_outcome == "ok"
    with ctx.sessions() as session:
        actor = session.execute(sa.select(AuditEvent.actor_type).where(
            AuditEvent.action == "case.deleted")).scalar_one()
    assert actor == "system"


def test_the_daily_job_is_recorded_failed_when_a_case_cannot_go(ctx: AppContext, clock: FrozenClock, org_a: Org,
                                                                filed: CaseFactory) -> None:
    blocked, free = filed(org_a, START), filed(org_a, START)
    probe_meta = sa.MetaData()
    sa.Table("cases", probe_meta, sa.Column("id", GUID, primary_key=True))
    probe = sa.Table("retention_probe", probe_meta, sa.Column("case_id", GUID, sa.ForeignKey("cases.id")))
    with ctx.engine.begin() as connection:
        probe.create(connection)
        connection.execute(probe.insert().values(case_id=blocked))
    clock.now = NOW
    scheduler = Scheduler(ctx, "host-a:1")
    assert scheduler.run_job("retention") == "failed"
    status = {s.job: s for s in scheduler.status()}["retention"]
    assert status.last_error is not None and "1 case(s) could not be deleted" in status.last_error
    assert existing(ctx, blocked, free) == {blocked}


