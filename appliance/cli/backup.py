"""`appliance backup full|log|copy|list|verify|prune|restore`."""

from __future__ import annotations

import datetime as dt
import sys
import tempfile
import zoneinfo
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import sqlalchemy as sa

from appliance.backup.drivers import RestoreRequest, driver_for
from appliance.backup.manifest import Manifest
from appliance.backup.service import BackupService, CopyReport
from appliance.backup.sites import sites_from
from appliance.cli.base import Runtime, emit, json_option, pass_runtime
from appliance.clock import utcnow
from appliance.context import build_context
from appliance.crypto.keys import MasterKey
from appliance.errors import ApplianceError, Conflict, InvalidInput, SiteCopyFailed
from appliance.job_runs.service import LeaseService
from appliance.keys.secrets import PreservedSecrets
from appliance.models import Base
from appliance.operations.backups import backup_service, copy_to_sites
from appliance.operations.vault_copy import restore_vault
from appliance.settings import Settings


def progress_printer(quiet: bool = False) -> Callable[[str], None]:
    def show(message: str) -> None:
        if not quiet:
            click.echo(f"==> {message}", err=True)

    return show


def parse_moment(value: str, settings: Settings) -> dt.datetime:
    """ISO 8601; without an offset it is read in the TIMEZONE setting."""
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput("--at", f"{value!r} is not a time like 2026-03-02T14:30 or 2026-03-02T14:30:00+01:00") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zoneinfo.ZoneInfo(settings.timezone))
    return moment.astimezone(dt.UTC)


def manifest_data(manifest: Manifest) -> dict[str, Any]:
    return {"id": manifest.id, "kind": manifest.kind, "backend": manifest.backend, "size_bytes": manifest.size_bytes,
            "sha256": manifest.sha256, "started_at": manifest.started_at.isoformat(),
            "finished_at": manifest.finished_at.isoformat(), "base_id": manifest.base_id,
            "parent_id": manifest.parent_id, "log_start": manifest.log_start, "log_end": manifest.log_end,
            "note": manifest.note}


def copy_data(report: CopyReport) -> dict[str, Any]:
    return {"copied": report.copied, "checked": report.checked, "failed": report.failures}


def echo_copy(report: CopyReport) -> None:
    for site, ids in sorted(report.copied.items()):
        click.echo(f"site {site}: {len(ids)} backup(s) copied, restic check passed")
    for site, reason in sorted(report.failures.items()):
        click.echo(f"site {site}: FAILED: {reason}")


@click.group()
def backup() -> None:
    """Backups: take, copy to sites, list, verify, prune and restore."""


def _take(runtime: Runtime, kind: str, copy: bool, as_json: bool) -> None:
    progress = progress_printer()
    with runtime.services() as services:
        engine = backup_service(runtime.context, services.session, progress)
        manifest = engine.full() if kind == "full" else engine.log()
    report = CopyReport()
    if copy:  # the backup is recorded (committed) even if every site fails
        report = copy_to_sites(runtime.context, progress)
    data = {"backup": manifest_data(manifest), "sites": copy_data(report)}

    def text() -> None:
        click.echo(f"{manifest.kind} backup {manifest.id}: {manifest.size_bytes} bytes, sha256 {manifest.sha256[:16]}…"
                   + (f" ({manifest.note})" if manifest.note else ""))
        echo_copy(report)

    emit(as_json, data, text)
    if report.failures:
        raise SiteCopyFailed(report.failures)


copy_option = click.option("--copy/--no-copy", default=True, show_default=True,
                           help="Copy to every configured site afterwards.")


@backup.command("full")
@copy_option
@json_option
@pass_runtime
def full(runtime: Runtime, copy: bool, as_json: bool) -> None:
    """Take a full backup and copy it to every site."""
    _take(runtime, "full", copy, as_json)


@backup.command("log")
@copy_option
@json_option
@pass_runtime
def log(runtime: Runtime, copy: bool, as_json: bool) -> None:
    """Take a log backup (WAL / transaction log; a snapshot on SQLite) and copy it to every site."""
    _take(runtime, "log", copy, as_json)


@backup.command("copy")
@click.option("--recreate", is_flag=True,
              help="Start a new repository at a site whose earlier repository is gone (after checking why).")
@json_option
@pass_runtime
def copy(runtime: Runtime, recreate: bool, as_json: bool) -> None:
    """Copy every backup a site lacks to it and check each site (restic check, data subset)."""
    report = copy_to_sites(runtime.context, progress_printer(), recreate)
    emit(as_json, copy_data(report), lambda: echo_copy(report))
    if report.failures:
        raise SiteCopyFailed(report.failures)


@backup.command("list")
@json_option
@pass_runtime
def list_(runtime: Runtime, as_json: bool) -> None:
    """List the backups (kind, time, size, sites holding them), the backup age and each site's status."""
    clock = runtime.context.clock
    with runtime.services() as services:
        engine = backup_service(runtime.context, services.session)
        records = engine.catalog()
        copies = engine.copies()
        age = engine.age()
        sites = [{"name": s.name, "kind": s.kind, "ok": bool(s.ok),
                  "last_success_at": s.last_success_at.isoformat() if s.last_success_at else None,
                  "last_error": s.last_error} for s in engine.site_statuses()]
    rows: list[dict[str, Any]] = [
        {"id": r.id, "kind": r.kind, "finished_at": r.finished_at.isoformat(), "size_bytes": r.size_bytes,
         "base_id": r.base_id, "log_end": r.log_end, "note": r.note, "sites": sorted(copies.get(r.id, []))}
            for r in records]
    newest = age.newest_any
    data: dict[str, Any] = {"backups": rows, "sites": sites, "newest_backup_at": newest.isoformat() if newest else None,
            "newest_full_at": age.newest_full.isoformat() if age.newest_full else None,
            "age_seconds": int((clock() - newest).total_seconds()) if newest else None}

    def text() -> None:
        if not rows:
            click.echo("no backups yet; run `appliance backup full`")
        for row in rows:
            kind = "log*" if row["note"] and "snapshot" in str(row["note"]) else row["kind"]
            click.echo(f"{row['id']:<34} {kind:<5} {row['size_bytes']:>14,} B  sites: {','.join(row['sites']) or '-'}")
        if any(r["note"] and "snapshot" in str(r["note"]) for r in rows):
            click.echo("log* = a full snapshot (SQLite keeps no transaction log)")
        if newest:
            click.echo(f"newest backup {data['age_seconds'] // 60} min old")
        for site in sites:
            state = "ok" if site["ok"] else f"FAILING: {site['last_error']}"
            click.echo(f"site {site['name']:<12} {site['kind']:<6} {state}")

    emit(as_json, data, text)


@backup.command("verify")
@click.option("--site", "site_name", default=None, help="Verify the copy at this site instead of the local one.")
@json_option
@pass_runtime
def verify(runtime: Runtime, site_name: str | None, as_json: bool) -> None:
    """Check files against their manifests, restore the newest chain into a scratch database,
    compare row counts and checksums with the catalog, decrypt a sample row, read back each site."""
    with runtime.services() as services:
        report = backup_service(runtime.context, services.session, progress_printer()).verify(site_name)
    data = {"ok": report.ok, "chain": report.chain, "problems": report.problems, "tables": report.tables,
            "rows": report.rows, "sample": report.sample, "sites": report.sites}

    def text() -> None:
        for problem in report.problems:
            click.echo(f"PROBLEM {problem}")
        click.echo(f"verify {'OK' if report.ok else 'FAILED'}: chain {' → '.join(report.chain)}, "
                   f"{report.tables} tables, {report.rows} rows, sample: {report.sample}")

    emit(as_json, data, text)
    if not report.ok:
        sys.exit(1)


@backup.command("prune")
@click.option("--dry-run", is_flag=True, help="Only show what would be deleted.")
@json_option
@pass_runtime
def prune(runtime: Runtime, dry_run: bool, as_json: bool) -> None:
    """Delete backups past BACKUP_RETENTION_DAYS locally and at each site, keeping every chain still needed."""
    with runtime.services() as services:
        plan, failures = backup_service(runtime.context, services.session, progress_printer()).prune(dry_run)
    data = {"dry_run": dry_run, "keep": [m.id for m in plan.keep], "delete": [m.id for m in plan.delete],
            "failed_sites": failures}
    emit(as_json, data, lambda: click.echo(
        f"{'would delete' if dry_run else 'deleted'} {len(plan.delete)} backup(s), kept {len(plan.keep)}"
        + "".join(f"\nsite {s}: FAILED: {r}" for s, r in sorted(failures.items()))))
    if failures:
        raise SiteCopyFailed(failures)


def refuse_while_a_scheduler_runs(settings: Settings) -> None:
    """Restoring over the database under a live scheduler would race its next backup."""
    try:
        context = build_context(settings)
    except ApplianceError:
        return  # the database is gone or unreadable: nothing runs on it
    try:
        with context.unit_of_work() as session:
            lease = LeaseService(session, context.clock).current()
            if lease is not None and lease.expires_at > context.clock():
                raise Conflict(f"scheduler {lease.holder} is running (lease until {lease.expires_at:%H:%M:%S} UTC); "
                               "stop it and the app before restoring over the database")
    except sa.exc.SQLAlchemyError:
        return  # no schema (a new, empty database): nothing to protect
    finally:
        context.close()


@backup.command("restore")
@click.option("--at", "at_text", default=None, help="Point in time (ISO 8601; local TIMEZONE if no offset).")
@click.option("--site", "site_name", default=None, help="Fetch the backups from this site (default: BACKUP_DIR).")
@click.option("--into", default=None,
              help="A new database: a file (SQLite) or a new data directory (PostgreSQL) or a new database name "
                   "(SQL Server).")
@click.option("--force", is_flag=True, help="Restore over the current database (stop the app and scheduler first).")
@click.option("--port", type=int, default=None,
              help="PostgreSQL: start the restored cluster on this port and wait until recovery completes.")
@json_option
@pass_runtime
def restore(runtime: Runtime, at_text: str | None, site_name: str | None, into: str | None, force: bool,
            port: int | None, as_json: bool) -> None:
    """Restore the newest state, or the state at --at, into a new database or (with --force) over the
    current one. Refuses a chain with a gap and names the missing backup."""
    if into is None and not force:
        raise InvalidInput("--into", "give a new database to restore into, or --force to replace the current one")
    settings = runtime.settings
    at = parse_moment(at_text, settings) if at_text else None
    if force:
        refuse_while_a_scheduler_runs(settings)
    master = MasterKey.load(settings.master_key_file)  # the database may be gone: no context, no session
    # Without the database the sites' passwords come from the key file alone: a master key
    # rotation gave every existing repository the new key's password too (restic key add).
    engine = BackupService(None, settings, master, utcnow, driver_for(settings, master, Base.metadata),
                           sites_from(settings, PreservedSecrets(master, None)), progress_printer())
    chain, steps = engine.restore(RestoreRequest(into, force, at, port), site_name)
    emit(as_json, {"chain": chain, "steps": steps, "at": at.isoformat() if at else None},
         lambda: click.echo("\n".join(f"  {n}. {step}" for n, step in enumerate(steps, start=1))))
    click.echo("The person key vault is not part of any backup: if it was lost too, run "
               "`appliance backup restore-vault` next.", err=True)


@backup.command("restore-vault")
@click.option("--site", "site_name", default=None, help="Take the vault copy from this site (default: BACKUP_DIR).")
@json_option
@pass_runtime
def restore_vault_command(runtime: Runtime, site_name: str | None, as_json: bool) -> None:
    """Put back the person key vault's shares from its newest copy (disaster recovery). Shares
    of persons erased since that copy stay gone; existing shares are kept."""
    ctx = runtime.context_creating_vault()
    site = backup_service(ctx, None).site(site_name) if site_name else None
    with tempfile.TemporaryDirectory(prefix=".vault-", dir=ctx.settings.data_dir) as staging:
        added = restore_vault(ctx, site, Path(staging))
    emit(as_json, {"restored_shares": added, "site": site_name},
         lambda: click.echo(f"restored {added} person key share(s) from the vault copy"
                            + (f" at {site_name}" if site_name else "")))
