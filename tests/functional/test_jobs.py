"""The scheduler: one active per installation (database lease), every run recorded, missed runs
run once, deadline reminders mailed through a real (local aiosmtpd) SMTP server without content."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from email import message_from_bytes
from email.policy import default

import pytest
import sqlalchemy as sa

from appliance.actors import Role
from appliance.cases.models import Case
from appliance.cases.receipts import SHOW_WITHIN
from appliance.context import AppContext
from appliance.crypto.case_keys import CaseKey
from appliance.errors import BackupError
from appliance.jobs.definitions import JobSpec, job_specs
from appliance.jobs.scheduler import Scheduler
from appliance.services import Services, reporter_session_limits, staff_session_limits
from appliance.tenants.models import ChannelRecipient
from appliance.users.models import WebSession
from tests.functional.backup_support import MARKER
from tests.functional.conftest import Inbox, Org, ReportFactory, StaffFactory
from tests.support import FrozenClock

# One session each, in a transaction rolled back at the end (tests/conftest.py).
pytestmark = pytest.mark.one_session


def counting_specs(ctx: AppContext, calls: list[str], fail: str | None = None) -> dict[str, JobSpec]:
    def make(name: str):  # type: ignore[no-untyped-def]
        def run(_: AppContext) -> str:
            calls.append(name)
            if name == fail:
                raise BackupError("site offsite: connection refused")
            return "done"
        return run

    return {name: dataclasses.replace(spec, run=make(name)) for name, spec in job_specs(ctx.settings).items()}


@pytest.mark.fresh_database
def test_two_schedulers_only_the_lease_holder_runs_jobs(ctx: AppContext, clock: FrozenClock) -> None:
    calls: list[str] = []
    first = Scheduler(ctx, "host-a:1", counting_specs(ctx, calls))
    second = Scheduler(ctx, "host-b:2", counting_specs(ctx, calls))
    assert first.acquire() is True
    assert second.acquire() is False
    assert second.run_job("backup-log") == "standby"
    assert first.run_job("backup-log") == "ok"
    assert calls == ["backup-log"]
    clock.advance(seconds=ctx.settings.scheduler_lease_seconds + 1)  # host-a died: its lease expires
    assert second.acquire() is True
    assert first.acquire() is False
    first.release()  # not the holder: releases nothing
    assert first.acquire() is False


@pytest.mark.fresh_database
def test_failed_runs_are_recorded_and_counted(ctx: AppContext, clock: FrozenClock) -> None:
    calls: list[str] = []
    scheduler = Scheduler(ctx, "host-a:1", counting_specs(ctx, calls, fail="backup-full"))
    assert scheduler.run_job("backup-full") == "failed"
    clock.advance(minutes=1)
    assert scheduler.run_job("backup-full") == "failed"
    status = {s.job: s for s in scheduler.status()}["backup-full"]
    assert status.last_outcome == "failed" and status.failures_24h == 2
    assert status.last_error == "backup: site offsite: connection refused"


@pytest.mark.fresh_database
def test_missed_runs_run_once_after_downtime(ctx: AppContext, clock: FrozenClock) -> None:
    calls: list[str] = []
    scheduler = Scheduler(ctx, "host-a:1", counting_specs(ctx, calls))
    assert set(scheduler.catch_up()) == set(scheduler.specs)  # never run: each runs once
    assert sorted(calls) == sorted(scheduler.specs)
    calls.clear()
    clock.advance(seconds=50)  # less than the shortest interval (reader-list notices, 1 min)
    assert scheduler.catch_up() == {}
    clock.advance(days=3)  # three nights, many log intervals: still one run each
    assert scheduler.catch_up() == {name: "ok" for name in ("backup-full", "backup-log", "backup-prune",
                                                             "deadline-reminders", "new-report-notices",
                                                             "reporter-notices", "reader-notices", "retention",
                                                             "acknowledgement-mails",
                                                             "acknowledgement-reminders", "closed-period-notices",
                                                             "logbook-verify", "ops-alerts", "session-sweep")}
    assert len(calls) == 14
    next_full = {s.job: s for s in scheduler.status()}["backup-full"].next_due_at
    assert next_full > clock.now and next_full.astimezone(dt.UTC).hour == 1  # 01:00 in UTC (TIMEZONE default)


@pytest.mark.fresh_database
def test_deadline_reminders_name_the_case_never_its_content(
        ctx: AppContext, services: Services, org_a: Org, file_report: ReportFactory, clock: FrozenClock,
        inbox: tuple[Inbox, int], caplog: pytest.LogCaptureFixture) -> None:
    handler_inbox, port = inbox
    ctx.settings = dataclasses.replace(ctx.settings, smtp_url=f"smtp://127.0.0.1:{port}")
    receipt = file_report(org_a, what=f"{MARKER} the CFO", people=f"{MARKER} person")
    services.session.rollback()
    scheduler = Scheduler(ctx, "host-a:1")
    caplog.set_level(logging.INFO)
    assert scheduler.run_job("deadline-reminders") == "ok"
    assert handler_inbox.messages == []  # received today: nothing due yet

    clock.advance(days=6)  # acknowledgement due within 2 days
    assert scheduler.run_job("deadline-reminders") == "ok"
    assert len(handler_inbox.messages) == 1
    assert scheduler.run_job("deadline-reminders") == "ok"
    assert len(handler_inbox.messages) == 1, "one reminder per deadline and stage"
    clock.advance(days=2)  # now overdue
    assert scheduler.run_job("deadline-reminders") == "ok"
    assert len(handler_inbox.messages) == 2

    with ctx.sessions() as session:
        reference = session.get(Case, receipt.case_id).reference  # type: ignore[union-attr]
    overdue = message_from_bytes(handler_inbox.messages[1])
    body = overdue.get_payload(decode=True)
    assert isinstance(body, bytes)
    assert b"OVERDUE" in body and str(receipt.case_id).encode() in body
    assert f"case {reference}:".encode() in body
    for raw in handler_inbox.messages:
        assert MARKER.encode() not in raw
        assert receipt.case_key.display.encode() not in raw
    assert MARKER not in caplog.text


@pytest.mark.fresh_database
def test_new_report_notices_reach_exactly_the_key_holders_once_without_content(
        ctx: AppContext, services: Services, org_a: Org, file_report: ReportFactory, make_staff: StaffFactory,
        inbox: tuple[Inbox, int]) -> None:
    handler_inbox, port = inbox
    ctx.settings = dataclasses.replace(ctx.settings, smtp_url=f"smtp://127.0.0.1:{port}")
    outsider = make_staff((org_a.tenant, Role.HANDLER), email="not-a-recipient@example.com")
    services.session.add(ChannelRecipient(tenant_id=org_a.tenant.id, user_id=org_a.handler.user_id,
                                          added_at=ctx.clock()))
    services.session.commit()
    receipt = file_report(org_a, what=f"{MARKER} new", people=f"{MARKER} someone")
    services.session.rollback()
    scheduler = Scheduler(ctx, "host-a:1")
    assert scheduler.run_job("new-report-notices") == "ok"
    assert scheduler.run_job("new-report-notices") == "ok"  # once per case
    (raw,) = handler_inbox.messages
    mail = message_from_bytes(raw)
    recipient = services.users.email_of(services.users.get(org_a.handler.user_id))
    assert mail["To"] == recipient and "not-a-recipient" not in raw.decode()
    assert str(receipt.case_id).encode() in raw and MARKER.encode() not in raw
    assert receipt.case_key.display.encode() not in raw
    assert outsider.user_id != org_a.handler.user_id


@pytest.mark.fresh_database
def test_mar_jobs_mail_the_code_and_the_closed_period_notice_once(
        ctx: AppContext, services: Services, org_a: Org, clock: FrozenClock, inbox: tuple[Inbox, int]) -> None:
    from appliance.actors import CLI

    received, port = inbox
    ctx.settings = dataclasses.replace(ctx.settings, smtp_url=f"smtp://127.0.0.1:{port}")
    entry = services.pdmrs.add(org_a.tenant.id, f"{MARKER} Name", "pdmr@example.org", "CFO", CLI)
    services.pdmrs.notify_obligations(org_a.tenant.id, entry.id, "sv", CLI)
    services.financial_calendar.add(org_a.tenant.id, "year-end", clock().date() + dt.timedelta(days=35), "FY", CLI)
    services.session.commit()
    scheduler = Scheduler(ctx, "host-a:1")
    for job in ("acknowledgement-mails", "closed-period-notices", "acknowledgement-mails", "closed-period-notices"):
        assert scheduler.run_job(job) == "ok"
    subjects = sorted(str(message_from_bytes(m, policy=default)["Subject"]) for m in received.messages)
    assert len(subjects) == 2 and subjects[0].startswith("Bekräfta") and subjects[1].startswith("Stängd period")
    assert all(MARKER.encode() not in m for m in received.messages)
    clock.advance(days=1)
    assert scheduler.run_job("acknowledgement-reminders") == "ok"
    assert len(received.messages) == 3


@pytest.mark.fresh_database
def test_the_session_sweep_deletes_expired_sessions_and_their_keys_and_wipes_unshown_receipts(
        ctx: AppContext, services: Services, org_a: Org, clock: FrozenClock) -> None:
    """A session nobody comes back to, and a receipt nobody opened, keep no sealed key for longer
    than the sweep's interval after their time is up."""
    def kinds() -> list[str]:
        found = sorted(row.kind for row in services.session.execute(sa.select(WebSession)).scalars())
        services.session.rollback()  # no transaction stays open while the job runs
        return found

    store = services.web_sessions
    store.create("staff", "signed-in")
    store.create("reporter", "open")
    receipts = services.report_receipts
    form = receipts.check_form(org_a.tenant.id, receipts.new_form(org_a.tenant.id))
    receipts.hold(receipts.claim(form), org_a.tenant.id, CaseKey.new())
    services.session.commit()
    scheduler = Scheduler(ctx, "host-a:1")
    assert scheduler.run_job("session-sweep") == "ok"
    assert kinds() == ["receipt", "reporter", "staff"]  # nothing is expired yet

    clock.advance(seconds=int(SHOW_WITHIN.total_seconds()) + 1)
    idle = max(staff_session_limits(ctx).idle, reporter_session_limits(ctx).idle)
    clock.advance(seconds=int(idle.total_seconds()) + 1)
    assert scheduler.run_job("session-sweep") == "ok"
    assert kinds() == ["receipt"]  # the form's row stays while the form is accepted ...
    assert services.session.execute(sa.select(WebSession.secret_sealed)).scalar_one() is None  # ... but not its key
