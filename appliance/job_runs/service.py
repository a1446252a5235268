"""Job runs (every run recorded with its outcome) and the scheduler lease (one active scheduler)."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Session

from appliance.clock import Clock
from appliance.job_runs.models import JobRun, SchedulerLease

LEASE = "scheduler"


class JobRuns:
    """Records runs; never commits (the scheduler commits the start and the end separately)."""

    def __init__(self, session: Session, clock: Clock) -> None:
        self._session = session
        self._clock = clock

    def start(self, job: str, host: str, scheduled_for: dt.datetime | None = None) -> JobRun:
        run = JobRun(job=job, host=host[:100], scheduled_for=scheduled_for, started_at=self._clock(), outcome="running")
        self._session.add(run)
        self._session.flush()
        return run

    def finish(self, run: JobRun, error: str | None) -> None:
        run = self._session.merge(run)
        run.finished_at = self._clock()
        run.outcome = "failed" if error else "ok"
        run.error = error[:300] if error else None
        self._session.flush()

    def last_started(self, job: str) -> dt.datetime | None:
        return self._session.execute(sa.select(sa.func.max(JobRun.started_at)).where(JobRun.job == job)).scalar()

    def recent(self, limit: int = 50) -> list[JobRun]:
        return list(self._session.scalars(sa.select(JobRun).order_by(JobRun.started_at.desc()).limit(limit)))

    def failures_since(self, since: dt.datetime) -> dict[str, int]:
        rows = self._session.execute(sa.select(JobRun.job, sa.func.count()).where(
            JobRun.outcome == "failed", JobRun.started_at >= since).group_by(JobRun.job)).all()
        return {job: int(count) for job, count in rows}

    def manual_since(self, since: dt.datetime) -> dict[str, int]:
        """Runs started by hand: the scheduler records the time it started a run for, a run by hand has none."""
        rows = self._session.execute(sa.select(JobRun.job, sa.func.count()).where(
            JobRun.scheduled_for.is_(None), JobRun.started_at >= since).group_by(JobRun.job)).all()
        return {job: int(count) for job, count in rows}


class LeaseService:
    """A lease row in the database: the holder runs the jobs until it expires; others stand by."""

    def __init__(self, session: Session, clock: Clock) -> None:
        self._session = session
        self._clock = clock

    def try_acquire(self, holder: str, seconds: int) -> bool:
        """Take or renew the lease; False while another holder's lease is still valid."""
        now = self._clock()
        lease = self._session.execute(
            sa.select(SchedulerLease).where(SchedulerLease.name == LEASE).with_for_update()).scalar_one_or_none()
        if lease is None:
            try:
                with self._session.begin_nested():
                    self._session.add(SchedulerLease(name=LEASE, holder=holder, acquired_at=now,
                                                     expires_at=now + dt.timedelta(seconds=seconds)))
            except sa.exc.IntegrityError:
                return False  # another scheduler inserted it at the same moment
            return True
        if lease.holder != holder and lease.expires_at > now:
            return False
        if lease.holder != holder:
            lease.holder, lease.acquired_at = holder, now
        lease.expires_at = now + dt.timedelta(seconds=seconds)
        self._session.flush()
        return True

    def release(self, holder: str) -> None:
        self._session.execute(sa.delete(SchedulerLease).where(SchedulerLease.name == LEASE,
                                                              SchedulerLease.holder == holder))

    def current(self) -> SchedulerLease | None:
        return self._session.get(SchedulerLease, LEASE)
