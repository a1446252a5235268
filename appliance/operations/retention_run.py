"""A retention run, shared by `appliance retention run` and the daily scheduled job.

This is a boundary like the CLI and the jobs: it owns the transactions. The listing is one
read; then every case is deleted in its own committed transaction, so one case that fails
(or that a hold placed a moment ago now protects) leaves the others done and the database
consistent. A dry run lists with the same query and stops there.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from appliance.actors import Actor
from appliance.context import AppContext
from appliance.errors import ApplianceError
from appliance.events.service import delete_old_events, old_events
from appliance.persons.chain import sweep_vault
from appliance.retention.service import DueCase
from appliance.services import Services

log = logging.getLogger("appliance.retention")

Progress = Callable[[str], None]
# A share must be a day old before the sweep may take it (a person being recorded has its share
# before its row is committed), and shares of persons named in a case are stamped with the day
# only, up to a day early: two days after the stamp.
VAULT_SWEEP_GRACE = dt.timedelta(days=2)


class RetentionFailed(ApplianceError):
    """Some cases due could not be deleted; the others were."""

    exit_code = 1

    def __init__(self, failed: int, summary: str) -> None:
        super().__init__(failed, summary)
        self.failed = failed
        self.summary = summary

    def message(self) -> str:
        return f"retention: {self.failed} case(s) could not be deleted ({self.summary}); they are kept for the next run"


def no_progress(_line: str) -> None:
    pass


@dataclass
class Pruned:
    """Rows of one kind older than ``cutoff``: how many were due, how many the run deleted
    (None: a dry run, or a step not wired into this build)."""

    cutoff: dt.datetime
    due: int | None = None
    deleted: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"cutoff": self.cutoff.isoformat(), "due": self.due, "deleted": self.deleted}


@dataclass
class RetentionReport:
    now: dt.datetime
    dry_run: bool
    cases: list[DueCase]
    job_runs: Pruned
    logbook_events: Pruned
    deleted: list[uuid.UUID] = field(default_factory=list)
    kept: list[uuid.UUID] = field(default_factory=list)  # no longer due when its turn came (a new hold)
    failed: dict[uuid.UUID, str] = field(default_factory=dict)
    vault_shares_swept: int | None = None
    # Insider entries whose personal data went (five years after the person ceased); None: a dry run.
    insider_entries_due: int = 0
    insider_entries_cleared: int | None = None
    access_events: Pruned | None = None  # uploaded access events older than EVENT_RETENTION_DAYS

    def as_dict(self) -> dict[str, Any]:
        """The JSON of `appliance retention run --json`: per tenant, the cases due and what became
        of each; then the job runs and logbook events older than their settings allow."""
        tenants: dict[str, list[dict[str, Any]]] = {}
        for case in self.cases:
            tenants.setdefault(case.tenant_slug, []).append({
                "id": str(case.case_id), "reference": case.reference, "reason": case.reason,
                "since": case.since.isoformat(), "outcome": self.outcome(case.case_id),
                **({"error": self.failed[case.case_id]} if case.case_id in self.failed else {})})
        return {
            "now": self.now.isoformat(), "dry_run": self.dry_run,
            "tenants": [{"tenant": slug, "cases": rows} for slug, rows in sorted(tenants.items())],
            "cases": {"due": len(self.cases), "deleted": None if self.dry_run else len(self.deleted),
                      "kept": len(self.kept), "failed": len(self.failed)},
            "job_runs": self.job_runs.as_dict(),
            "logbook_events": self.logbook_events.as_dict(),
            "vault_shares_swept": self.vault_shares_swept,
            "insider_entries": {"due": self.insider_entries_due, "cleared": self.insider_entries_cleared},
            "access_events": self.access_events.as_dict() if self.access_events else None,
        }

    def outcome(self, case_id: uuid.UUID) -> str:
        if self.dry_run:
            return "due"
        if case_id in self.failed:
            return "failed"
        return "deleted" if case_id in self.deleted else "kept"


def run_retention(ctx: AppContext, actor: Actor, dry_run: bool, progress: Progress = no_progress) -> RetentionReport:
    """List (dry run) or delete every case due under its tenant's policy and not on hold, then
    the old job runs and the old logbook events, and sweep the person key vault."""
    now = ctx.clock()
    settings = ctx.settings
    with ctx.unit_of_work() as session:
        retention = Services(ctx, session).retention
        due = retention.due(now)
        job_cutoff = now - dt.timedelta(days=settings.job_run_retention_days)
        job_runs = Pruned(job_cutoff, retention.old_job_runs(job_cutoff))
    report = RetentionReport(now, dry_run, due, job_runs,
                             Pruned(now - dt.timedelta(days=settings.log_retention_days)))
    report.access_events = Pruned(now - dt.timedelta(days=settings.event_retention_days))
    if dry_run:
        _events_step(ctx, report)
        _insider_step(ctx, report, actor)
        _logbook_step(ctx, report, actor)
        return report
    for number, case in enumerate(due, 1):
        try:
            with ctx.unit_of_work() as session:
                deleted = Services(ctx, session).retention.delete_due_case(case.case_id, now, actor)
        except (ApplianceError, sa.exc.SQLAlchemyError) as exc:
            # Rolled back alone; the next case still runs. The id only: no content in logs.
            log.error("retention: case %s not deleted: %s", case.case_id, type(exc).__name__)
            report.failed[case.case_id] = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        else:
            (report.deleted if deleted else report.kept).append(case.case_id)
        progress(f"cases: {number}/{len(due)} handled ({len(report.deleted)} deleted)")
    with ctx.unit_of_work() as session:
        job_runs.deleted = Services(ctx, session).retention.delete_old_job_runs(job_cutoff)
    _events_step(ctx, report)
    _insider_step(ctx, report, actor)
    _logbook_step(ctx, report, actor)
    _vault_step(ctx, report)
    return report


def _events_step(ctx: AppContext, report: RetentionReport) -> None:
    """Access events older than EVENT_RETENTION_DAYS (by when they happened), with the batches
    (and batch keys) they leave empty."""
    pruned = report.access_events
    assert pruned is not None
    with ctx.unit_of_work() as session:
        pruned.due = old_events(session, pruned.cutoff)
        if not report.dry_run:
            pruned.deleted = delete_old_events(session, pruned.cutoff)


def _insider_step(ctx: AppContext, report: RetentionReport, actor: Actor) -> None:
    """Insiders' personal data five years after they ceased on every list: one entry per
    transaction, like the cases (a failure leaves the others done)."""
    with ctx.unit_of_work() as session:
        due = Services(ctx, session).insider_retention.due(report.now)
    report.insider_entries_due = len(due)
    if report.dry_run:
        return
    cleared = 0
    for tenant_id, entry_id in due:
        try:
            with ctx.unit_of_work() as session:
                cleared += Services(ctx, session).insider_retention.delete_personal_data(tenant_id, entry_id,
                                                                                         report.now, actor)
        except (ApplianceError, sa.exc.SQLAlchemyError) as exc:
            log.error("retention: insider entry %s not cleared: %s", entry_id, type(exc).__name__)
    report.insider_entries_cleared = cleared


def _logbook_step(ctx: AppContext, report: RetentionReport, actor: Actor) -> None:
    """Logbook events older than LOG_RETENTION_DAYS: counted by a dry run, pruned by a real one
    under a signed checkpoint (so `appliance audit verify` still proves the rest), after the
    cases (their new "case.deleted" events are never old enough to go)."""
    with ctx.unit_of_work() as session:
        pruner = Services(ctx, session).audit_pruner
        if report.dry_run:
            report.logbook_events.due = pruner.preview(report.logbook_events.cutoff)
            return
        result = pruner.prune(report.logbook_events.cutoff, actor)
        report.logbook_events.due = report.logbook_events.deleted = result.events_pruned


def _vault_step(ctx: AppContext, report: RetentionReport) -> None:
    """Shares of persons no longer in the database (a write that failed after its share was
    stored); only those at least a day old (``VAULT_SWEEP_GRACE``), so a person being recorded
    right now keeps theirs."""
    if report.dry_run:
        return
    with ctx.unit_of_work() as session:
        report.vault_shares_swept = sweep_vault(session, ctx.vault, report.now - VAULT_SWEEP_GRACE)
