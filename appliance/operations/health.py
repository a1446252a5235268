"""The installation's health as numbers, for /metrics (webapp/metrics.py) and the alert rules
(deploy/prometheus/alerts.yml): backup ages, site and job outcomes, open and overdue cases,
the newest logbook check, API tokens about to expire.

Read at scrape time, so it reads metadata only: timestamps, outcomes and counts from the
catalog and job-run tables, never a sealed or encrypted column, and it unwraps no key.

Labels name configuration, never people or rows: a job name, a backup kind, a site name
(BACKUP_SITES) and a tenant's slug. A slug is chosen by IT when the legal entity is set up
and already appears in the portal's public URLs (``/r/<slug>/``); it names a company, not a
person, and carries no id of a case, user or token. Every tenant has its case series (0 included).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.orm import Session

from appliance.api_tokens.models import ApiToken
from appliance.audit.status import Verification, newest_verification
from appliance.backup.models import BackupCopy, BackupRecord, SiteStatus
from appliance.cases.deadlines import deadlines_for
from appliance.cases.models import Case
from appliance.job_runs.models import JobRun
from appliance.tenants.models import Tenant

LOCAL_SITE = "local"  # the backup directory on this host, beside the configured sites
LOGBOOK_JOB = "logbook-verify"
TOKEN_NOTICE = dt.timedelta(days=14)
RECENT_RUNS = 10  # enough to count "failed twice in a row" and more, from the job-run index


@dataclass(frozen=True)
class Gauge:
    """One metric family: its name (Prometheus conventions: base units, ``_seconds``,
    ``_timestamp_seconds``), its help text, its label names and its samples."""

    name: str
    documentation: str
    labels: tuple[str, ...] = ()
    samples: list[tuple[tuple[str, ...], float]] = field(default_factory=list)

    def add(self, value: float, *labels: str) -> None:
        self.samples.append((labels, value))


@dataclass(frozen=True)
class JobOutcome:
    job: str
    ok: bool
    started_at: dt.datetime
    finished_at: dt.datetime
    consecutive_failures: int


def last_outcomes(session: Session) -> dict[str, JobOutcome]:
    """Each job's last finished run and how many runs in a row (newest first) failed."""
    jobs = session.execute(sa.select(JobRun.job).distinct()).scalars().all()
    found: dict[str, JobOutcome] = {}
    for job in sorted(jobs):
        runs = session.execute(
            sa.select(JobRun.outcome, JobRun.started_at, JobRun.finished_at)
            .where(JobRun.job == job, JobRun.outcome != "running")
            .order_by(JobRun.started_at.desc()).limit(RECENT_RUNS)).all()
        if not runs:
            continue
        failures = next((n for n, run in enumerate(runs) if run.outcome != "failed"), len(runs))
        newest = runs[0]
        found[job] = JobOutcome(job, newest.outcome == "ok", newest.started_at,
                                newest.finished_at or newest.started_at, failures)
    return found


def health(session: Session, now: dt.datetime, sites: tuple[str, ...]) -> list[Gauge]:
    """Every gauge, read in one transaction; ``sites`` are the configured site names."""
    gauges = [Gauge("appliance_database_up", "1 when the database answered this scrape's queries.")]
    gauges[0].add(1)
    gauges += _backups(session, now, sites)
    gauges += _jobs(session)
    gauges += _logbook(session)
    gauges += _cases(session, now)
    gauges.append(_tokens(session, now))
    return gauges


def unreachable() -> list[Gauge]:
    """What a scrape says when the database did not answer: nothing else is known."""
    gauge = Gauge("appliance_database_up", "1 when the database answered this scrape's queries.")
    gauge.add(0)
    return [gauge]


def _seconds(moment: dt.datetime) -> float:
    return moment.timestamp()


def _backups(session: Session, now: dt.datetime, sites: tuple[str, ...]) -> list[Gauge]:
    age = Gauge("appliance_backup_age_seconds",
                "Age of the newest good backup by kind (full, log) and where it is (local or a site).",
                ("kind", "site"))
    newest = Gauge("appliance_backup_newest_timestamp_seconds",
                   "When the newest good backup by kind and place finished.", ("kind", "site"))
    live = BackupRecord.pruned_at.is_(None)
    local: list[tuple[str, str, dt.datetime | None]] = [(kind, LOCAL_SITE, at) for kind, at in session.execute(
        sa.select(BackupRecord.kind, sa.func.max(BackupRecord.finished_at)).where(live).group_by(BackupRecord.kind))]
    copied_rows = session.execute(
        sa.select(BackupRecord.kind, BackupCopy.site, sa.func.max(BackupRecord.finished_at))
        .join(BackupCopy, BackupCopy.backup_id == BackupRecord.id)
        .where(live, BackupCopy.site.in_(sites) if sites else sa.false())
        .group_by(BackupRecord.kind, BackupCopy.site))
    copied: list[tuple[str, str, dt.datetime | None]] = [(kind, site, at) for kind, site, at in copied_rows]
    for kind, site, finished in [*local, *copied]:
        if finished is not None:
            age.add(max(0.0, (now - finished).total_seconds()), kind, site)
            newest.add(_seconds(finished), kind, site)
    up = Gauge("appliance_backup_site_up", "1 when the last copy to the site and its check succeeded.", ("site",))
    success = Gauge("appliance_backup_site_last_success_timestamp_seconds",
                    "When a copy to the site last succeeded and was checked.", ("site",))
    statuses = {s.name: s for s in session.scalars(sa.select(SiteStatus))}
    for site in sites:
        status = statuses.get(site)
        if status is None:
            continue  # never attempted: a new site is not a failing one (doctor says "no copy yet")
        up.add(1 if status.ok else 0, site)
        if status.last_success_at is not None:
            success.add(_seconds(status.last_success_at), site)
    configured = Gauge("appliance_backup_sites", "Backup sites configured (BACKUP_SITES); two or more are expected.")
    configured.add(len(sites))
    return [age, newest, up, success, configured]


def _jobs(session: Session) -> list[Gauge]:
    success = Gauge("appliance_job_last_run_success", "1 when the job's last finished run succeeded.", ("job",))
    duration = Gauge("appliance_job_last_run_duration_seconds", "How long the job's last finished run took.", ("job",))
    finished = Gauge("appliance_job_last_run_timestamp_seconds", "When the job's last finished run ended.", ("job",))
    failures = Gauge("appliance_job_consecutive_failures",
                     f"Runs in a row (newest first, at most {RECENT_RUNS} counted) that failed.", ("job",))
    for job, outcome in last_outcomes(session).items():
        success.add(1 if outcome.ok else 0, job)
        duration.add(max(0.0, (outcome.finished_at - outcome.started_at).total_seconds()), job)
        finished.add(_seconds(outcome.finished_at), job)
        failures.add(outcome.consecutive_failures, job)
    return [success, duration, finished, failures]


def _logbook(session: Session) -> list[Gauge]:
    logbook = Gauge("appliance_logbook_verify_success",
                    "1 when the newest check of the logbook's hash chain (the scheduler's logbook-verify, "
                    "`appliance audit verify` or an auditor's room) proved it intact.")
    logbook_at = Gauge("appliance_logbook_verify_timestamp_seconds", "When the logbook's chain was last checked.")
    newest = newest_logbook_check(session)
    if newest is not None:  # never checked: no sample, not a failure
        logbook.add(1 if newest.ok else 0)
        logbook_at.add(_seconds(newest.at))
    return [logbook, logbook_at]


def newest_logbook_check(session: Session) -> Verification | None:
    """The newest verification of the logbook's chain, whoever made it (metadata of the
    ``audit.verified`` events: outcome, time, counts)."""
    return newest_verification(session, session.execute(sa.select(Tenant.id)).scalars().all())


def _cases(session: Session, now: dt.datetime) -> list[Gauge]:
    slugs: dict[uuid.UUID, str] = {tenant_id: slug for tenant_id, slug in session.execute(
        sa.select(Tenant.id, Tenant.slug))}
    open_cases: Counter[uuid.UUID] = Counter()
    overdue: Counter[uuid.UUID] = Counter()
    rows = session.execute(sa.select(Case.tenant_id, Case.received_at, Case.acknowledged_at, Case.feedback_at)
                           .where(Case.status != "closed", Case.tenant_id.in_(slugs))).all()
    for tenant_id, received_at, acknowledged_at, feedback_at in rows:
        open_cases[tenant_id] += 1
        if deadlines_for(received_at, acknowledged_at, feedback_at, False, now).overdue:
            overdue[tenant_id] += 1
    opened = Gauge("appliance_cases_open", "Cases not closed, by tenant (slug).", ("tenant",))
    late = Gauge("appliance_cases_overdue",
                 "Open cases past their acknowledgement or feedback deadline (Directive 2019/1937 Art. 9), "
                 "by tenant (slug).", ("tenant",))
    for tenant_id, slug in sorted(slugs.items(), key=lambda item: item[1]):
        opened.add(open_cases[tenant_id], slug)
        late.add(overdue[tenant_id], slug)
    return [opened, late]


def _tokens(session: Session, now: dt.datetime) -> Gauge:
    gauge = Gauge("appliance_api_tokens_expiring", "Active API tokens that expire within 14 days, by tenant (slug).",
                  ("tenant",))
    rows = session.execute(
        sa.select(Tenant.slug, sa.func.count(ApiToken.id)).join(Tenant, Tenant.id == ApiToken.tenant_id)
        .where(ApiToken.revoked_at.is_(None), ApiToken.expires_at.is_not(None), ApiToken.expires_at > now,
               ApiToken.expires_at <= now + TOKEN_NOTICE).group_by(Tenant.slug)).all()
    for slug, count in sorted(rows):
        gauge.add(int(count), slug)
    return gauge
