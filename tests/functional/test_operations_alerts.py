"""Operations that alert: the health gauges on /metrics (appliance/operations/health.py) and the
alert mail of the scheduler's ops-alerts job (appliance/operations/alerts.py) through a real
SMTP server, with real restic sites; attacks: a DBA who edits the logbook is alerted on, and
no report content, case key, e-mail address or id reaches a metric, a mail or the log."""

from __future__ import annotations

import dataclasses
import logging
import re
from email import message_from_bytes
from pathlib import Path

import pytest
import sqlalchemy as sa

from appliance.actors import CLI
from appliance.context import AppContext
from appliance.errors import BackupError
from appliance.jobs.definitions import JobSpec, job_specs
from appliance.jobs.scheduler import Scheduler
from appliance.services import Services
from appliance.settings import Settings
from tests.functional.backup_support import MARKER
from tests.functional.conftest import Inbox, Org, ReportFactory
from tests.support import FrozenClock
from tests.web import series

# Scrapes and scheduler runs open sessions of their own.
pytestmark = pytest.mark.fresh_database
SQLITE_ONLY = pytest.mark.parametrize("backend", ["sqlite"])  # real backups: the snapshot driver
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-")
IT_OPS = "it-ops@example.com"


def failing(ctx: AppContext, *names: str) -> dict[str, JobSpec]:
    """The real jobs, with ``names`` replaced by runs that fail."""
    def fail(_: AppContext) -> str:
        raise BackupError("restore into the scratch database failed")

    return {name: dataclasses.replace(spec, run=fail) if name in names else spec
            for name, spec in job_specs(ctx.settings).items()}


def scrape(app) -> tuple[str, dict[str, float]]:  # type: ignore[no-untyped-def]
    response = app.test_client().get("/metrics")
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    return text, series(text)


def assert_clean(text: str, *secrets: str) -> None:
    assert MARKER not in text and not UUID.search(text)
    for secret in secrets:
        assert secret not in text


@SQLITE_ONLY
def test_metrics_after_a_backup_a_failed_job_and_an_overdue_case(
        app, ctx: AppContext, settings: Settings, services: Services, org_a: Org, org_b: Org,  # type: ignore[no-untyped-def]
        file_report: ReportFactory, clock: FrozenClock) -> None:
    ctx.settings = dataclasses.replace(settings, backup_sites=(f"nas={settings.data_dir / 'site'}",))
    receipt = file_report(org_a, what=f"{MARKER} the books", people=f"{MARKER} person")
    services.session.rollback()
    clock.advance(days=8)  # not acknowledged within 7 days: overdue
    scheduler = Scheduler(ctx, "host-a:1", failing(ctx, "backup-verify"))
    assert scheduler.run_job("backup-full") == "ok"
    backup_at = clock.now
    clock.advance(hours=2)
    assert scheduler.run_job("backup-verify") == "failed"
    clock.advance(minutes=1)
    assert scheduler.run_job("backup-verify") == "failed"

    text, scraped = scrape(app)
    age = (clock.now - backup_at).total_seconds()
    assert scraped["appliance_database_up"] == 1
    assert scraped['appliance_backup_age_seconds{kind="full",site="local"}'] == age
    assert scraped['appliance_backup_age_seconds{kind="full",site="nas"}'] == age
    assert scraped['appliance_backup_newest_timestamp_seconds{kind="full",site="nas"}'] == backup_at.timestamp()
    assert 'appliance_backup_age_seconds{kind="log",site="local"}' not in scraped  # no log backup yet
    assert scraped['appliance_backup_site_up{site="nas"}'] == 1
    assert scraped["appliance_backup_sites"] == 1
    assert scraped['appliance_job_last_run_success{job="backup-full"}'] == 1
    assert scraped['appliance_job_last_run_success{job="backup-verify"}'] == 0
    assert scraped['appliance_job_consecutive_failures{job="backup-verify"}'] == 2
    assert scraped['appliance_job_consecutive_failures{job="backup-full"}'] == 0
    assert scraped['appliance_job_last_run_timestamp_seconds{job="backup-verify"}'] == clock.now.timestamp()
    assert 'appliance_job_last_run_duration_seconds{job="backup-full"}' in scraped
    assert scraped['appliance_cases_open{tenant="alpha"}'] == 1
    assert scraped['appliance_cases_overdue{tenant="alpha"}'] == 1
    assert scraped['appliance_cases_open{tenant="beta"}'] == 0
    assert scraped['appliance_cases_overdue{tenant="beta"}'] == 0
    assert "# TYPE appliance_backup_age_seconds gauge" in text
    assert_clean(text, receipt.case_key.display, receipt.case_key.normalised, "@example.com")

    clock.advance(minutes=1)
    services.session.rollback()
    assert scheduler.run_job("backup-verify") == "failed"  # a third failure in a row
    assert scrape(app)[1]['appliance_job_consecutive_failures{job="backup-verify"}'] == 3
    scheduler.specs = job_specs(ctx.settings)
    clock.advance(minutes=1)
    assert scheduler.run_job("backup-full") == "ok"
    clock.advance(minutes=1)
    _, scraped = scrape(app)
    assert scraped['appliance_backup_age_seconds{kind="full",site="nas"}'] == 60


def test_metrics_of_the_logbook_check_expiring_tokens_and_open_cases_on_each_backend(
        app, ctx: AppContext, services: Services, org_a: Org, file_report: ReportFactory,  # type: ignore[no-untyped-def]
        clock: FrozenClock) -> None:
    file_report(org_a, what=f"{MARKER} first")
    file_report(org_a, what=f"{MARKER} second")
    issued = services.api_tokens.create(org_a.tenant.id, "intake", ["reports:intake"], 10, CLI)
    services.api_tokens.create(org_a.tenant.id, "later", ["reports:intake"], 60, CLI)
    services.session.commit()
    services.session.rollback()
    text, scraped = scrape(app)
    assert "appliance_logbook_verify_success" not in scraped  # never checked: no sample, not a failure
    assert scraped['appliance_cases_open{tenant="alpha"}'] == 2
    assert scraped['appliance_cases_overdue{tenant="alpha"}'] == 0
    assert scraped['appliance_api_tokens_expiring{tenant="alpha"}'] == 1
    assert scraped["appliance_backup_sites"] == 0

    scheduler = Scheduler(ctx, "host-a:1")
    assert scheduler.run_job("logbook-verify") == "ok"
    text, scraped = scrape(app)
    assert scraped["appliance_logbook_verify_success"] == 1
    assert scraped["appliance_logbook_verify_timestamp_seconds"] == clock.now.timestamp()
    assert_clean(text, issued.token, "intake", "@example.com")


@SQLITE_ONLY
def test_a_failing_site_is_mailed_once_a_day_and_its_recovery_once(
        ctx: AppContext, settings: Settings, services: Services, org_a: Org, file_report: ReportFactory,
        clock: FrozenClock, inbox: tuple[Inbox, int], caplog: pytest.LogCaptureFixture) -> None:
    box, port = inbox
    site = settings.data_dir / "site"
    ctx.settings = dataclasses.replace(settings, smtp_url=f"smtp://127.0.0.1:{port}", backup_sites=(f"nas={site}",),
                                       alert_email=(IT_OPS,))
    receipt = file_report(org_a, what=f"{MARKER} the books", people=f"{MARKER} person")
    admin_email = services.users.email_of(services.users.get(org_a.admin.user_id))
    handler_email = services.users.email_of(services.users.get(org_a.handler.user_id))
    services.session.rollback()
    caplog.set_level(logging.INFO)
    scheduler = Scheduler(ctx, "host-a:1")
    assert scheduler.run_job("backup-full") == "ok"
    assert scheduler.run_job("ops-alerts") == "ok"
    assert box.messages == [], "nothing is wrong: nothing is mailed"

    unmounted = settings.data_dir / "site-unmounted"
    site.rename(unmounted)  # the share is gone: copies fail, the local backup is still taken
    clock.advance(minutes=30)
    assert scheduler.run_job("backup-log") == "failed"
    assert scheduler.run_job("ops-alerts") == "ok"
    assert box.recipients() == sorted([admin_email, IT_OPS]), "every tenant admin and ALERT_EMAIL, once each"
    alert = message_from_bytes(box.messages[0])
    body = alert.get_payload(decode=True)
    assert isinstance(body, bytes)
    assert "problem" in str(alert["Subject"]) and b"backup site nas" in body
    assert b"backup failed" not in body, "the backup itself was taken; only the copy failed"
    assert handler_email not in box.recipients()

    clock.advance(minutes=30)  # still failing, the same day: no second mail
    assert scheduler.run_job("backup-log") == "failed"
    assert scheduler.run_job("ops-alerts") == "ok"
    assert len(box.messages) == 2

    clock.advance(days=1)  # a day later and still failing: reminded once
    assert scheduler.run_job("backup-log") == "failed"
    assert scheduler.run_job("ops-alerts") == "ok"
    assert scheduler.run_job("ops-alerts") == "ok"
    assert len(box.messages) == 4

    unmounted.rename(site)  # mounted again
    clock.advance(minutes=30)
    assert scheduler.run_job("backup-log") == "ok"
    assert scheduler.run_job("ops-alerts") == "ok"
    assert scheduler.run_job("ops-alerts") == "ok"
    assert len(box.messages) == 6, "one recovery mail per recipient"
    recovery = message_from_bytes(box.messages[-1])
    assert str(recovery["Subject"]).startswith("[appliance] recovered: backup site nas")

    for raw in box.messages:
        assert MARKER.encode() not in raw and receipt.case_key.display.encode() not in raw
        assert str(receipt.case_id).encode() not in raw and str(org_a.tenant.id).encode() not in raw
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.split(".")[0] in ("appliance", "webapp"))
    assert "ops-alerts ok" in ours  # the log was captured (the SMTP server's own log is not ours)
    assert MARKER not in ours and IT_OPS not in ours and admin_email not in ours


@SQLITE_ONLY
def test_a_failed_full_backup_is_its_own_problem(ctx: AppContext, settings: Settings, services: Services,
                                                  org_a: Org, clock: FrozenClock, inbox: tuple[Inbox, int]) -> None:
    box, port = inbox
    ctx.settings = dataclasses.replace(settings, smtp_url=f"smtp://127.0.0.1:{port}", alert_email=(IT_OPS,))
    services.session.rollback()
    scheduler = Scheduler(ctx, "host-a:1", failing(ctx, "backup-full"))
    assert scheduler.run_job("backup-full") == "failed"
    assert scheduler.run_job("ops-alerts") == "ok"
    assert len(box.messages) == 2
    body = message_from_bytes(box.messages[0]).get_payload(decode=True)
    assert isinstance(body, bytes) and b"the full backup failed" in body
    scheduler.specs = job_specs(ctx.settings)
    clock.advance(minutes=5)
    assert scheduler.run_job("backup-full") == "ok"
    assert scheduler.run_job("ops-alerts") == "ok"
    assert len(box.messages) == 4 and b"recovered: job backup-full" in box.messages[-1]


def test_attack_a_dba_who_edits_the_logbook_is_alerted_on(
        app, ctx: AppContext, services: Services, org_a: Org, clock: FrozenClock,  # type: ignore[no-untyped-def]
        inbox: tuple[Inbox, int]) -> None:
    box, port = inbox
    ctx.settings = dataclasses.replace(ctx.settings, smtp_url=f"smtp://127.0.0.1:{port}", alert_email=(IT_OPS,))
    services.session.rollback()
    scheduler = Scheduler(ctx, "host-a:1")
    assert scheduler.run_job("logbook-verify") == "ok"
    with ctx.engine.begin() as connection:  # the DBA rewrites who did something
        victim = connection.execute(sa.text("SELECT max(seq) FROM audit_events")).scalar_one()
        connection.execute(sa.text("UPDATE audit_events SET actor_id = 'someone-else' WHERE seq = :s"), {"s": victim})
    clock.advance(days=1)
    assert scheduler.run_job("logbook-verify") == "failed"
    assert scrape(app)[1]["appliance_logbook_verify_success"] == 0
    assert scheduler.run_job("ops-alerts") == "ok"
    assert box.recipients() == sorted([IT_OPS, services.users.email_of(services.users.get(org_a.admin.user_id))])
    body = message_from_bytes(box.messages[0]).get_payload(decode=True)
    assert isinstance(body, bytes) and b"logbook's hash chain does not verify" in body


def test_no_smtp_means_no_alert_mail_and_no_failed_job(ctx: AppContext, services: Services,
                                                       tmp_path: Path) -> None:
    services.session.rollback()
    scheduler = Scheduler(ctx, "host-a:1", failing(ctx, "backup-full"))
    assert scheduler.run_job("backup-full") == "failed"
    assert scheduler.run_job("ops-alerts") == "ok"
    status = {s.job: s for s in scheduler.status()}["ops-alerts"]
    assert status.last_outcome == "ok"


def test_attack_a_broken_chain_found_on_the_command_line_is_alerted_on_like_the_schedulers(
        app, ctx: AppContext, services: Services, org_a: Org, clock: FrozenClock,  # type: ignore[no-untyped-def]
        inbox: tuple[Inbox, int]) -> None:
    box, port = inbox
    ctx.settings = dataclasses.replace(ctx.settings, smtp_url=f"smtp://127.0.0.1:{port}", alert_email=(IT_OPS,))
    services.session.rollback()
    scheduler = Scheduler(ctx, "host-a:1")
    assert scheduler.run_job("logbook-verify") == "ok"
    with ctx.engine.begin() as connection:  # the DBA rewrites who did something, after the nightly check
        victim = connection.execute(sa.text("SELECT max(seq) FROM audit_events")).scalar_one()
        connection.execute(sa.text("UPDATE audit_events SET actor_id = 'someone-else' WHERE seq = :s"), {"s": victim})
    clock.advance(hours=2)
    with ctx.unit_of_work() as session:  # IT runs `appliance audit verify`: the same recorded check
        report = Services(ctx, session).chain_status.verify(CLI)
    assert (report.ok, report.broken_seq) == (False, victim)
    scraped = scrape(app)[1]
    assert scraped["appliance_logbook_verify_success"] == 0
    assert scraped["appliance_logbook_verify_timestamp_seconds"] == clock.now.timestamp()
    assert scraped['appliance_job_last_run_success{job="logbook-verify"}'] == 1  # the job's own last run
    assert scheduler.run_job("ops-alerts") == "ok"
    body = message_from_bytes(box.messages[0]).get_payload(decode=True)
    assert isinstance(body, bytes) and b"logbook's hash chain does not verify" in body
    mailed = len(box.messages)
    # The scheduler's next check finds the same: the same open alert, no second mail the same day.
    clock.advance(hours=1)
    assert scheduler.run_job("logbook-verify") == "failed"
    assert scrape(app)[1]["appliance_logbook_verify_success"] == 0
    assert scheduler.run_job("ops-alerts") == "ok"
    assert len(box.messages) == mailed
