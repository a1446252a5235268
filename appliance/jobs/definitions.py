"""The jobs and when they run (all times from settings, local to TIMEZONE)."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.orm import Session

from appliance.acknowledgements.mails import AcknowledgementMails
from appliance.actors import SYSTEM, Role
from appliance.audit.verify import LogbookBroken
from appliance.backup.sites import parse_sites
from appliance.cases.new_reports import NewReportNotices
from appliance.cases.reminders import ReminderService
from appliance.cases.reporter_notices import ReporterNotices
from appliance.context import AppContext
from appliance.errors import BackupError, SiteCopyFailed
from appliance.notify.mailer import Mailer
from appliance.operations.alerts import OperationalAlerts
from appliance.operations.backups import backup_service, copy_to_sites
from appliance.operations.retention_run import RetentionFailed, run_retention
from appliance.pdmr.notices import ClosedPeriodNotices
from appliance.readers.notices import ReaderNotices
from appliance.services import Services, reporter_session_limits, staff_session_limits
from appliance.settings import Settings

NOTICE_MINUTES = 5  # how soon handlers hear of a new report
READER_NOTICE_MINUTES = 1  # how soon readers hear of a change to who can read reports
SWEEP_MINUTES = 5  # how long an expired session or an unshown receipt keeps its sealed key at most
ALERT_MINUTES = 5  # how soon operators hear of a failed backup, site copy or logbook check

MAR_MAIL_HOUR = 8  # daily acknowledgement reminders and closed-period notices, local time

JobFunction = Callable[[AppContext], str]


@dataclass(frozen=True)
class JobSpec:
    name: str
    trigger: BaseTrigger
    run: JobFunction
    every: dt.timedelta | None = None  # interval jobs; cron jobs compute their due times from the trigger

    def next_due(self, last_started: dt.datetime | None, now: dt.datetime) -> dt.datetime:
        if self.every is not None:
            return now if last_started is None else max(last_started + self.every, now)
        fire: dt.datetime | None = self.trigger.get_next_fire_time(None, now)
        assert fire is not None
        return fire.astimezone(dt.UTC)

    def missed(self, last_started: dt.datetime | None, now: dt.datetime) -> bool:
        """A run was due since the last one started (or it never ran): the scheduler runs it once."""
        if last_started is None:
            return True
        if self.every is not None:
            return now - last_started >= self.every
        due: dt.datetime | None = self.trigger.get_next_fire_time(None, last_started + dt.timedelta(seconds=1))
        return due is not None and due <= now


def _take(kind: str) -> JobFunction:
    def run(ctx: AppContext) -> str:
        with ctx.unit_of_work() as session:
            engine = backup_service(ctx, session)
            manifest = engine.full() if kind == "full" else engine.log()
        report = copy_to_sites(ctx)  # site statuses are stored before a failure is raised
        if report.failures:
            raise SiteCopyFailed(report.failures)
        return f"{manifest.id}, copied to {len(report.checked)} site(s)"

    return run


def prune(ctx: AppContext) -> str:
    with ctx.unit_of_work() as session:
        plan, failures = backup_service(ctx, session).prune()  # restic runs before its first query
    if failures:
        raise SiteCopyFailed(failures)
    return f"deleted {len(plan.delete)}, kept {len(plan.keep)}"


def verify(ctx: AppContext) -> str:
    with ctx.unit_of_work() as session:
        report = backup_service(ctx, session).verify()
    if not report.ok:
        raise BackupError("verify failed: " + "; ".join(report.problems)[:250])
    return f"chain of {len(report.chain)} verified, {report.rows} rows"


def reminders(ctx: AppContext) -> str:
    with ctx.unit_of_work() as session:
        services = Services(ctx, session)
        mailer = Mailer(ctx.settings.smtp_url, ctx.settings.mail_from)
        sent = ReminderService(session, services.users, mailer, ctx.clock, ctx.settings.base_url).send()
    return f"{sent} mail(s)"


def new_report_notices(ctx: AppContext) -> str:
    with ctx.unit_of_work() as session:
        services = Services(ctx, session)
        mailer = Mailer(ctx.settings.smtp_url, ctx.settings.mail_from)
        sent = NewReportNotices(session, services.users, services.case_access, mailer, ctx.clock,
                                ctx.settings.base_url).send()
    return f"{sent} mail(s)"


def reporter_notices(ctx: AppContext) -> str:
    """"A new message is waiting" to reporters who left an address (nothing else, at most once per case in 6 hours)."""
    with ctx.unit_of_work() as session:
        services = Services(ctx, session)
        mailer = Mailer(ctx.settings.smtp_url, ctx.settings.mail_from)
        sent = ReporterNotices(session, services.data_keys, mailer, ctx.clock, ctx.settings.base_url).send()
    return f"{sent} mail(s)"


def reader_notices(ctx: AppContext) -> str:
    with ctx.unit_of_work() as session:
        services = Services(ctx, session)
        mailer = Mailer(ctx.settings.smtp_url, ctx.settings.mail_from)
        sent = ReaderNotices(session, services.users, services.readers, mailer, ctx.clock,
                             ctx.settings.base_url).send()
    return f"{sent} mail(s)"


def _acknowledgement_mails(ctx: AppContext, session: Session) -> AcknowledgementMails:
    services = Services(ctx, session)
    return AcknowledgementMails(session, services.acknowledgements, services.persons, services.users,
                                Mailer(ctx.settings.smtp_url, ctx.settings.mail_from), ctx.clock,
                                ctx.settings.base_url, ctx.settings.default_language)


def acknowledgement_mails(ctx: AppContext) -> str:
    with ctx.unit_of_work() as session:
        sent = _acknowledgement_mails(ctx, session).deliver()
    return f"{sent} mail(s)"


def acknowledgement_reminders(ctx: AppContext) -> str:
    with ctx.unit_of_work() as session:
        run = _acknowledgement_mails(ctx, session).remind()
    return f"{run.reminded} reminder(s), {run.managers_told} mail(s) to managers"


def closed_period_notices(ctx: AppContext) -> str:
    with ctx.unit_of_work() as session:
        services = Services(ctx, session)
        sent = ClosedPeriodNotices(session, services.financial_calendar, services.pdmrs,
                                   Mailer(ctx.settings.smtp_url, ctx.settings.mail_from), ctx.clock,
                                   ctx.settings.default_language).send()
    return f"{sent} mail(s)"


def logbook_verify(ctx: AppContext) -> str:
    # Recorded as the CLI's and the auditor's room's checks are; committed before a broken chain
    # fails the run, so the room, /metrics and the alert mail all see it.
    with ctx.unit_of_work() as session:
        report = Services(ctx, session).chain_status.verify(SYSTEM)
    if not report.ok:
        raise LogbookBroken(report)
    return f"{report.events} event(s) verified"


def operational_alerts(ctx: AppContext) -> str:
    """Mail failed backups, failing sites and a broken logbook to the admins and ALERT_EMAIL."""
    mailer = Mailer(ctx.settings.smtp_url, ctx.settings.mail_from)
    if not mailer.configured:
        return "SMTP_URL not set: no alert mail (doctor warns)"
    with ctx.unit_of_work() as session:
        services = Services(ctx, session)

        def recipients() -> list[str]:
            tenants = frozenset(t.id for t in services.tenants.list_tenants())
            admins = {u.email for u in services.users.users_in(tenants) if not u.disabled
                      and any(role == Role.ADMIN.value for _, role in u.roles)}
            return sorted(admins | set(ctx.settings.alert_email))

        sites = tuple(spec.name for spec in parse_sites(ctx.settings.backup_sites))
        run = OperationalAlerts(session, recipients, mailer, ctx.clock, ctx.settings.base_url).run(sites)
    return run.summary()


def session_sweep(ctx: AppContext) -> str:
    """Delete expired staff and reporter sessions, and with them the private keys sealed in them
    (a session no browser comes back for is otherwise deleted only when its token is next
    used), and wipe the case keys of receipts not shown in time."""
    with ctx.unit_of_work() as session:
        services = Services(ctx, session)
        ended = services.web_sessions.purge_expired({"staff": staff_session_limits(ctx),
                                                 "reporter": reporter_session_limits(ctx)})
        services.report_receipts.sweep()
    return f"{ended} expired session(s) deleted"


def retention(ctx: AppContext) -> str:
    report = run_retention(ctx, SYSTEM, dry_run=False)
    summary = (f"deleted {len(report.deleted)} of {len(report.cases)} case(s) due, "
               f"{report.job_runs.deleted} old job run(s)")
    if report.failed:
        # The other cases are deleted and committed; the run is recorded as failed so it is seen.
        raise RetentionFailed(len(report.failed), summary)
    return summary


def job_specs(settings: Settings) -> dict[str, JobSpec]:
    """Full backup nightly, log backups every N minutes (each followed by the copy to the sites),
    prune daily, verify weekly, deadline reminders hourly, new-report notices every few minutes,
    reader-list notices every minute, acknowledgement codes every few minutes and their reminders
    daily, closed-period notices daily, retention (cases, job runs) daily, the logbook's chain
    checked daily, operational alerts mailed every few minutes, and expired sessions deleted
    every few minutes."""
    zone = zoneinfo.ZoneInfo(settings.timezone)
    full_h, full_m = (int(x) for x in settings.backup_full_at.split(":"))
    prune_h, prune_m = (int(x) for x in settings.backup_prune_at.split(":"))
    retention_h, retention_m = (int(x) for x in settings.retention_at.split(":"))
    logbook_h, logbook_m = (int(x) for x in settings.logbook_verify_at.split(":"))
    day, _, at = settings.backup_verify_at.partition(" ")
    verify_h, verify_m = (int(x) for x in at.split(":"))
    log_every = dt.timedelta(minutes=settings.backup_log_minutes)
    remind_every = dt.timedelta(minutes=settings.reminder_minutes)
    specs = [
        JobSpec("backup-full", CronTrigger(hour=full_h, minute=full_m, timezone=zone), _take("full")),
        JobSpec("backup-log", IntervalTrigger(minutes=settings.backup_log_minutes, timezone=zone), _take("log"),
                log_every),
        JobSpec("backup-prune", CronTrigger(hour=prune_h, minute=prune_m, timezone=zone), prune),
        JobSpec("backup-verify", CronTrigger(day_of_week=day.lower(), hour=verify_h, minute=verify_m, timezone=zone),
                verify),
        JobSpec("deadline-reminders", IntervalTrigger(minutes=settings.reminder_minutes, timezone=zone), reminders,
                remind_every),
        JobSpec("new-report-notices", IntervalTrigger(minutes=NOTICE_MINUTES, timezone=zone), new_report_notices,
                dt.timedelta(minutes=NOTICE_MINUTES)),
        JobSpec("reporter-notices", IntervalTrigger(minutes=NOTICE_MINUTES, timezone=zone), reporter_notices,
                dt.timedelta(minutes=NOTICE_MINUTES)),
        JobSpec("reader-notices", IntervalTrigger(minutes=READER_NOTICE_MINUTES, timezone=zone), reader_notices,
                dt.timedelta(minutes=READER_NOTICE_MINUTES)),
        JobSpec("acknowledgement-mails", IntervalTrigger(minutes=NOTICE_MINUTES, timezone=zone),
                acknowledgement_mails, dt.timedelta(minutes=NOTICE_MINUTES)),
        JobSpec("acknowledgement-reminders", CronTrigger(hour=MAR_MAIL_HOUR, minute=0, timezone=zone),
                acknowledgement_reminders),
        JobSpec("closed-period-notices", CronTrigger(hour=MAR_MAIL_HOUR, minute=10, timezone=zone),
                closed_period_notices),
        JobSpec("retention", CronTrigger(hour=retention_h, minute=retention_m, timezone=zone), retention),
        JobSpec("logbook-verify", CronTrigger(hour=logbook_h, minute=logbook_m, timezone=zone), logbook_verify),
        JobSpec("ops-alerts", IntervalTrigger(minutes=ALERT_MINUTES, timezone=zone), operational_alerts,
                dt.timedelta(minutes=ALERT_MINUTES)),
        JobSpec("session-sweep", IntervalTrigger(minutes=SWEEP_MINUTES, timezone=zone), session_sweep,
                dt.timedelta(minutes=SWEEP_MINUTES)),
    ]
    return {spec.name: spec for spec in specs}
