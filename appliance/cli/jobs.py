"""`appliance scheduler` and `appliance jobs list|run`."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from types import FrameType
from typing import Any

import click

from appliance.audit.stream import stream_events_to_stdout
from appliance.cli.base import Runtime, emit, json_option, pass_runtime
from appliance.errors import InvalidInput
from appliance.jobs.scheduler import Scheduler, describe


@click.command()
@pass_runtime
def scheduler(runtime: Runtime) -> None:
    """Run the scheduled jobs (backups, prune, verify, reminders) in this process; only the
    scheduler holding the database lease runs them, others stand by. Stops on SIGTERM/SIGINT."""
    logging.getLogger("appliance").setLevel(runtime.settings.log_level)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    stream_events_to_stdout()  # a service: its stdout goes to journald (see appliance/audit/stream.py)
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    running = Scheduler(runtime.context)
    click.echo(f"scheduler {running.holder} started; waiting for the lease", err=True)
    running.serve(stop)
    click.echo("scheduler stopped", err=True)


@click.group()
def jobs() -> None:
    """Scheduled jobs: their last runs and next due times."""


@jobs.command("list")
@click.option("--runs", "run_count", type=click.IntRange(0, 1000), default=10, show_default=True,
              help="How many of the most recent runs to show as well.")
@json_option
@pass_runtime
def list_(runtime: Runtime, run_count: int, as_json: bool) -> None:
    """Each job's last run (outcome, error), failures and runs by hand in the last 24 h, next due time;
    whether a scheduler holds the lease; then the latest runs."""
    running = Scheduler(runtime.context)
    rows = [describe(s) for s in running.status()]
    lease = running.lease()
    scheduler_state: dict[str, Any] = {"running": lease is not None, "holder": lease.holder if lease else None,
                                       "lease_expires_at": lease.expires_at.isoformat() if lease else None}
    runs: list[dict[str, Any]] = [{"job": r.job, "started_at": r.started_at.isoformat(),
             "finished_at": r.finished_at.isoformat() if r.finished_at else None, "outcome": r.outcome,
             "error": r.error, "host": r.host, "trigger": "scheduled" if r.scheduled_for else "by hand"}
            for r in running.recent_runs(run_count)]

    def text() -> None:
        for row in rows:
            last = f"{row['last_outcome']} at {row['last_started_at'][:16]}" if row["last_started_at"] else "never run"
            failures = f", {row['failures_24h']} failed in 24 h" if row["failures_24h"] else ""
            manual = f", {row['manual_24h']} run by hand in 24 h" if row["manual_24h"] else ""
            click.echo(f"{row['job']:<20} {last:<34} next {row['next_due_at'][:16]} UTC{failures}{manual}")
            if row["last_outcome"] == "failed":
                click.echo(f"{'':<20} error: {row['last_error']}")
        if lease:
            click.echo(f"scheduler: {lease.holder} holds the lease (until {lease.expires_at:%Y-%m-%d %H:%M:%S} UTC) "
                       "and runs the jobs when due")
        else:
            click.echo("scheduler: none holds the lease, so no job runs when due; start `appliance scheduler` "
                       "(the appliance-scheduler unit)")
        if runs:
            click.echo("latest runs:")
        for r in runs:
            click.echo(f"  {r['started_at'][:19]} {r['job']:<20} {r['outcome']:<8} {r['trigger']:<9} {r['host']}"
                       + (f"  {r['error']}" if r["error"] else ""))

    emit(as_json, {"jobs": rows, "runs": runs, "scheduler": scheduler_state}, text)


@jobs.command("run")
@click.argument("name")
@pass_runtime
def run(runtime: Runtime, name: str) -> None:
    """Run one job now, recorded like a scheduled run; refused (standby) while a running scheduler holds the lease."""
    running = Scheduler(runtime.context)
    if name not in running.specs:
        raise InvalidInput("job", f"unknown job {name!r}; choose from {', '.join(running.specs)}")
    outcome = running.run_job(name)
    running.release()
    if outcome == "failed":
        error = next(s.last_error for s in running.status() if s.job == name)
        click.echo(f"error: {name} failed: {error}", err=True)
        sys.exit(1)
    if outcome == "standby":
        click.echo(f"error: {name} not run: another scheduler holds the lease (it runs the jobs)", err=True)
        sys.exit(1)
    click.echo(f"{name}: ok")
