"""The scheduler process: APScheduler runs the jobs while this process holds the database lease.

Several app hosts may each run `appliance scheduler`; the one holding the lease runs the
jobs, the others renew nothing and stand by, and take over when the lease expires. Jobs
run one at a time (one worker thread). A run missed during downtime runs once at start.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import zoneinfo
from dataclasses import dataclass
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from appliance.context import AppContext
from appliance.errors import ApplianceError
from appliance.job_runs.models import JobRun
from appliance.job_runs.service import JobRuns, LeaseService
from appliance.jobs.definitions import JobSpec, job_specs

log = logging.getLogger("appliance.jobs")


@dataclass(frozen=True)
class JobStatus:
    job: str
    last_started_at: dt.datetime | None
    last_outcome: str | None
    last_error: str | None
    next_due_at: dt.datetime
    failures_24h: int
    manual_24h: int  # runs started by hand (`appliance jobs run`), not by a scheduler


@dataclass(frozen=True)
class LeaseStatus:
    holder: str
    expires_at: dt.datetime


class Scheduler:
    def __init__(self, ctx: AppContext, holder: str | None = None, specs: dict[str, JobSpec] | None = None) -> None:
        self.ctx = ctx
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}"
        self.specs = specs if specs is not None else job_specs(ctx.settings)
        self._lock = threading.Lock()

    def acquire(self) -> bool:
        """Take or renew the lease."""
        with self._lock, self.ctx.unit_of_work() as session:
            return LeaseService(session, self.ctx.clock).try_acquire(self.holder, self.ctx.settings.scheduler_lease_seconds)

    def release(self) -> None:
        with self._lock, self.ctx.unit_of_work() as session:
            LeaseService(session, self.ctx.clock).release(self.holder)

    def run_job(self, name: str, scheduled_for: dt.datetime | None = None) -> str:
        """Run one job if this scheduler holds the lease; record the run. Returns ok, failed or standby."""
        if not self.acquire():
            log.info("job %s not run: another scheduler holds the lease", name)
            return "standby"
        spec = self.specs[name]
        with self.ctx.unit_of_work() as session:
            run = JobRuns(session, self.ctx.clock).start(name, self.holder, scheduled_for)
        error: str | None = None
        try:
            summary = spec.run(self.ctx)
        except ApplianceError as exc:
            error = str(exc)
        except Exception as exc:  # a job's bug must be recorded and counted, not kill the scheduler
            log.exception("job %s crashed", name)
            first_line = (str(exc).strip().splitlines() or [""])[0]
            error = f"{type(exc).__name__}: {first_line}"
        with self.ctx.unit_of_work() as session:
            JobRuns(session, self.ctx.clock).finish(run, error)
        if error:
            log.error("job %s failed: %s", name, error)
            return "failed"
        log.info("job %s ok: %s", name, summary)
        return "ok"

    def run_scheduled(self, name: str) -> str:
        """A run the scheduler started (at its due time, or to catch up): recorded with the time it
        was started for, which tells it from a run by hand (`appliance jobs run`, no such time)."""
        return self.run_job(name, scheduled_for=self.ctx.clock())

    def lease(self) -> LeaseStatus | None:
        """The scheduler that holds the lease now, if any (an expired lease is held by nobody)."""
        with self.ctx.unit_of_work() as session:
            lease = LeaseService(session, self.ctx.clock).current()
            if lease is None or lease.expires_at <= self.ctx.clock():
                return None
            return LeaseStatus(lease.holder, lease.expires_at)

    def missed(self) -> list[str]:
        now = self.ctx.clock()
        with self.ctx.unit_of_work() as session:
            runs = JobRuns(session, self.ctx.clock)
            return [name for name, spec in self.specs.items() if spec.missed(runs.last_started(name), now)]

    def catch_up(self) -> dict[str, str]:
        """Run each job whose due time passed while no scheduler ran, once."""
        return {name: self.run_scheduled(name) for name in self.missed()}

    def status(self) -> list[JobStatus]:
        now = self.ctx.clock()
        with self.ctx.unit_of_work() as session:
            runs = JobRuns(session, self.ctx.clock)
            recent = runs.recent(500)
            failures = runs.failures_since(now - dt.timedelta(days=1))
            manual = runs.manual_since(now - dt.timedelta(days=1))
        result = []
        for name, spec in self.specs.items():
            last = next((r for r in recent if r.job == name), None)
            result.append(JobStatus(name, last.started_at if last else None, last.outcome if last else None,
                                    last.error if last else None,
                                    spec.next_due(last.started_at if last else None, now), failures.get(name, 0),
                                    manual.get(name, 0)))
        return result

    def recent_runs(self, limit: int) -> list[JobRun]:
        with self.ctx.unit_of_work() as session:
            return JobRuns(session, self.ctx.clock).recent(limit)

    def _background(self) -> BackgroundScheduler:
        background = BackgroundScheduler(
            timezone=zoneinfo.ZoneInfo(self.ctx.settings.timezone),
            executors={"default": ThreadPoolExecutor(1)},  # one job at a time: backups never overlap
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 600})
        for name, spec in self.specs.items():
            background.add_job(self.run_scheduled, spec.trigger, args=[name], id=name, name=name)
        return background

    def serve(self, stop: threading.Event) -> None:
        """Hold (or wait for) the lease and run the jobs until ``stop`` is set."""
        background = self._background()
        background.start(paused=True)
        active = False
        interval = max(1.0, self.ctx.settings.scheduler_lease_seconds / 3)
        try:
            while not stop.is_set():
                try:
                    held = self.acquire()
                except Exception:  # the database may be briefly away; keep trying, never die
                    log.exception("cannot renew the scheduler lease")
                    held = False
                if held and not active:
                    log.warning("scheduler %s holds the lease; running jobs", self.holder)
                    for name in self.missed():
                        background.add_job(self.run_scheduled, "date", args=[name], id=f"catch-up-{name}",
                                           name=f"catch-up {name}", replace_existing=True)
                    background.resume()
                    active = True
                elif not held and active:
                    log.warning("scheduler %s lost the lease; standing by", self.holder)
                    background.pause()
                    active = False
                stop.wait(interval)
        finally:
            background.shutdown(wait=True)
            if active:
                self.release()


def describe(status: JobStatus) -> dict[str, Any]:
    return {"job": status.job, "last_started_at": status.last_started_at.isoformat() if status.last_started_at else None,
            "last_outcome": status.last_outcome, "last_error": status.last_error,
            "next_due_at": status.next_due_at.isoformat(), "failures_24h": status.failures_24h,
            "manual_24h": status.manual_24h}
