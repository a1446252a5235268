"""Backups of this installation as a whole: the backup engine wired to the configured driver
and sites, and the copy to the sites with the person key vault's copies beside it."""

from __future__ import annotations

from sqlalchemy.orm import Session

from appliance.backup.drivers import driver_for
from appliance.backup.drivers.base import Progress, no_progress
from appliance.backup.service import BackupService, CopyReport
from appliance.backup.sites import sites_from
from appliance.context import AppContext
from appliance.models import Base
from appliance.operations.vault_copy import refresh_vault_copies


def copy_to_sites(ctx: AppContext, progress: Progress = no_progress, recreate: bool = False) -> CopyReport:
    """Copy to every site in three steps, so no database transaction stays open while restic
    works: read which sites held copies, copy and check, record the outcome."""
    with ctx.unit_of_work() as session:
        had_copies = backup_service(ctx, session).sites_with_copies()
    report = backup_service(ctx, None, progress).copy(had_copies, recreate)
    with ctx.unit_of_work() as session:
        backup_service(ctx, session).record(report)
    vault = refresh_vault_copies(ctx, progress=progress, only=set(report.checked))  # beside the backups, never in them
    for name, reason in vault.failures.items():
        report.failures.setdefault(name, f"vault copy: {reason}")
    return report


def backup_service(ctx: AppContext, session: Session | None, progress: Progress = no_progress) -> BackupService:
    """The engine for this installation: its driver, its sites (passwords from the master key)."""
    driver = driver_for(ctx.settings, ctx.master, Base.metadata)
    return BackupService(session, ctx.settings, ctx.master, ctx.clock, driver, sites_from(ctx.settings, ctx), progress)
