"""Alert mail for installations without Prometheus: a failed backup, a failing backup site or a
broken logbook is mailed to every tenant's admins and to ALERT_EMAIL, at most once a day per
problem while it lasts, and once when it recovers.

The scheduler's ``ops-alerts`` job calls :func:`OperationalAlerts.run` every few minutes; what
was mailed when is kept in ``operational_alerts``, so a restart or a second app host sends no
second mail. Mails name the problem (a job, a site), when it began and where to look; never a
person, a report, an address from the database or an error text a tool printed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.orm import Session

from appliance.backup.models import BackupRecord, SiteStatus
from appliance.clock import Clock
from appliance.notify.mailer import Mail, Mailer
from appliance.notify.models import OperationalAlert
from appliance.operations.health import LOGBOOK_JOB, last_outcomes, newest_logbook_check

REMIND_AFTER = dt.timedelta(days=1)
BACKUP_JOBS = {"backup-full": "full", "backup-log": "log"}
BACKUP_VERIFY_JOB = "backup-verify"


@dataclass(frozen=True)
class Problem:
    key: str  # job:backup-log | site:offsite
    text: str


@dataclass
class AlertRun:
    alerted: list[str] = field(default_factory=list)
    recovered: list[str] = field(default_factory=list)
    mails: int = 0

    def summary(self) -> str:
        return f"{len(self.alerted)} alert(s), {len(self.recovered)} recovery(ies), {self.mails} mail(s)"


def current_problems(session: Session, sites: tuple[str, ...]) -> list[Problem]:
    """What is wrong now, from the job runs and the sites' statuses (metadata only)."""
    problems = []
    outcomes = last_outcomes(session)
    newest: dict[str, dt.datetime | None] = {kind: at for kind, at in session.execute(
        sa.select(BackupRecord.kind, sa.func.max(BackupRecord.finished_at)).group_by(BackupRecord.kind))}
    for job, kind in BACKUP_JOBS.items():
        outcome = outcomes.get(job)
        taken = newest.get(kind)
        # A run that took its backup but could not copy it is a site's problem, said once below.
        if outcome and not outcome.ok and (taken is None or taken < outcome.started_at):
            problems.append(Problem(f"job:{job}", f"the {kind} backup failed ({outcome.consecutive_failures} run(s) "
                                                  f"in a row, last at {outcome.finished_at:%Y-%m-%d %H:%M} UTC)"))
    outcome = outcomes.get(BACKUP_VERIFY_JOB)
    if outcome and not outcome.ok:
        problems.append(Problem(f"job:{BACKUP_VERIFY_JOB}", f"the backup verify failed "
                                                            f"(checked {outcome.finished_at:%Y-%m-%d %H:%M} UTC)"))
    # The newest check of the chain, whoever made it (the scheduler, the CLI, an auditor's room).
    # Keyed as before, when only the scheduler's job counted, so an open alert carries over.
    checked = newest_logbook_check(session)
    if checked is not None and not checked.ok:
        problems.append(Problem(f"job:{LOGBOOK_JOB}", f"the logbook's hash chain does not verify "
                                                      f"(checked {checked.at:%Y-%m-%d %H:%M} UTC)"))
    statuses = session.scalars(sa.select(SiteStatus).where(SiteStatus.name.in_(sites) if sites else sa.false()))
    for status in sorted(statuses, key=lambda s: s.name):
        if not status.ok:
            problems.append(Problem(f"site:{status.name}", f"copies to backup site {status.name} ({status.kind}) fail "
                                                           f"(last attempt {status.last_attempt_at:%Y-%m-%d %H:%M} UTC)"))
    return problems


class OperationalAlerts:
    """Decides which problems to mail now and records it; never commits."""

    def __init__(self, session: Session, recipients: Callable[[], list[str]], mailer: Mailer, clock: Clock,
                 base_url: str) -> None:
        self._session = session
        self._recipients = recipients
        self._mailer = mailer
        self._clock = clock
        self._base_url = base_url.rstrip("/")

    def run(self, sites: tuple[str, ...]) -> AlertRun:
        now = self._clock()
        problems = {p.key: p for p in current_problems(self._session, sites)}
        known = {row.problem: row for row in self._session.scalars(sa.select(OperationalAlert))}
        result = AlertRun()
        to_mail: list[Problem] = []
        for key, problem in problems.items():
            row = known.get(key)
            if row is None:
                row = OperationalAlert(problem=key, failing=False, since=now)
                self._session.add(row)
            if not row.failing:
                row.failing, row.since, row.alerted_at = True, now, None
            if row.alerted_at is None or now - row.alerted_at >= REMIND_AFTER:
                row.alerted_at = now
                to_mail.append(problem)
                result.alerted.append(key)
        recovered = [row for key, row in sorted(known.items()) if row.failing and key not in problems]
        for row in recovered:
            row.failing = False
            result.recovered.append(row.problem)
        if to_mail or recovered:
            mails = [self._mail(address, to_mail, recovered) for address in self._recipients()]
            self._mailer.send(mails)  # MailFailed rolls the run back: the next run tries again
            result.mails = len(mails)
        self._session.flush()
        return result

    def _mail(self, address: str, problems: list[Problem], recovered: list[OperationalAlert]) -> Mail:
        lines = []
        if problems:
            lines += ["The appliance needs attention:", ""] + [f"- {p.text}" for p in problems] + [""]
        if recovered:
            lines += ["Working again:", ""] + [
                f"- {_name(row.problem)} (failing since {row.since:%Y-%m-%d %H:%M} UTC)" for row in recovered] + [""]
        lines += [f"Installation: {self._base_url}",
                  "On an app host, `appliance doctor` and `appliance jobs status` show the details.",
                  "While a problem lasts it is mailed again once a day; its end is mailed once.",
                  "This mail deliberately contains nothing from any report or person."]
        if problems:
            subject = f"[appliance] {len(problems)} problem(s): backups or logbook need attention"
        else:
            subject = f"[appliance] recovered: {', '.join(_name(row.problem) for row in recovered)}"
        return Mail(address, subject[:150], "\n".join(lines) + "\n")


def _name(problem: str) -> str:
    kind, _, name = problem.partition(":")
    return f"backup site {name}" if kind == "site" else f"job {name}"
