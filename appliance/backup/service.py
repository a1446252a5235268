"""The backup engine: take full and log backups, copy them to the sites, verify, prune, restore.

Backups live in BACKUP_DIR (one directory per backup with its manifest); the catalog tables
mirror the manifests for listing. Like every service it never commits: the CLI command or
the job around it does, and raises a failed site copy only after the site status is stored.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session

from appliance.backup.chain import PrunePlan, prune_plan, restore_chain
from appliance.backup.drivers.base import Driver, Progress, RestoreRequest, no_progress
from appliance.backup.fingerprint import differences, fingerprint
from appliance.backup.manifest import (
    Manifest,
    check_files,
    describe_files,
    new_backup_id,
    read_manifest,
    scan,
    write_manifest,
)
from appliance.backup.models import BackupCopy, BackupRecord, SiteStatus
from appliance.backup.sites import ResticSite, SiteUnreachable
from appliance.clock import Clock
from appliance.crypto.keys import MasterKey
from appliance.errors import BackupError
from appliance.keys.keyring import tenant_key_opens
from appliance.keys.models import TenantKey
from appliance.settings import Settings

CHECK_GROUPS = 48


@dataclass
class CopyReport:
    copied: dict[str, list[str]] = field(default_factory=dict)  # site -> backup ids copied now
    checked: list[str] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)
    attempted: dict[str, dt.datetime] = field(default_factory=dict)
    copies: dict[str, list[tuple[str, str, dt.datetime]]] = field(default_factory=dict)  # (backup, snapshot, at)


@dataclass
class VerifyReport:
    ok: bool
    chain: list[str]
    problems: list[str]
    tables: int = 0
    rows: int = 0
    sample: str = "none"
    sites: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class BackupAge:
    newest_full: dt.datetime | None
    newest_any: dt.datetime | None


class BackupService:
    """Backups of this installation's database, on local disk and at every configured site."""

    def __init__(self, session: Session | None, settings: Settings, master: MasterKey, clock: Clock, driver: Driver,
                 sites: list[ResticSite], progress: Progress = no_progress) -> None:
        self._session = session
        self._settings = settings
        self._master = master
        self._clock = clock
        self._driver = driver
        self._sites = sites
        self._progress = progress

    @property
    def _db(self) -> Session:
        if self._session is None:
            raise BackupError("this operation needs the database")
        return self._session

    @property
    def root(self) -> Path:
        return self._settings.backup_root

    # -- taking backups --------------------------------------------------------------------------

    def full(self) -> Manifest:
        """A full backup of the database, with its manifest, recorded in the catalog."""
        return self._take("full")

    def log(self) -> Manifest:
        """A log backup (PostgreSQL WAL, SQL Server log; a snapshot on SQLite) after the newest full one."""
        return self._take("log")

    def _take(self, kind: str) -> Manifest:
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._remove_stale_partials()
        existing = scan(self.root)
        previous = existing[-1] if existing else None
        base = next((m for m in reversed(existing) if m.kind == "full"), None)
        if kind == "log" and (previous is None or base is None):
            raise BackupError("no full backup yet; run `appliance backup full` first")
        started = self._clock()
        backup_id = new_backup_id(kind, started)
        work = self.root / f".{backup_id}.partial"
        work.mkdir(mode=0o700)
        try:
            if kind == "full":
                captured = self._driver.full(work, self._progress)
            else:
                assert previous is not None
                captured = self._driver.log(work, previous, self._progress)
            self._progress("checksums of the backup files")
            manifest = Manifest(
                id=backup_id, kind=kind, backend=self._driver.backend, database=self._driver.database_label(),
                started_at=started, finished_at=self._clock(), files=describe_files(work, captured.hashed),
                key_id=self._master.key_id,
                base_id=None if kind == "full" or captured.standalone else base.id if base else None,
                parent_id=None if kind == "full" or captured.standalone else previous.id if previous else None,
                log_start=captured.log_start, log_end=captured.log_end, standalone=captured.standalone,
                note=captured.note, tables=captured.tables, extra=captured.extra)
            write_manifest(work, manifest)
            work.rename(self.root / backup_id)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
        if self._session is not None:
            self._record(manifest)
        self._progress(f"{kind} backup {backup_id}: {manifest.size_bytes} bytes")
        return manifest

    def _remove_stale_partials(self) -> None:
        """A crash leaves a hidden .partial directory (never a backup); a day later it is only litter.
        Younger ones may belong to a backup running in another process."""
        cutoff = time.time() - 86400
        for path in self.root.glob(".*.partial"):
            if path.stat().st_mtime < cutoff:
                shutil.rmtree(path, ignore_errors=True)

    def _record(self, manifest: Manifest) -> None:
        self._db.merge(BackupRecord(
            id=manifest.id, kind=manifest.kind, backend=manifest.backend, database=manifest.database[:200],
            started_at=manifest.started_at, finished_at=manifest.finished_at, size_bytes=manifest.size_bytes,
            sha256=manifest.sha256, base_id=manifest.base_id, parent_id=manifest.parent_id,
            log_start=manifest.log_start, log_end=manifest.log_end, key_id=manifest.key_id,
            note=manifest.note, pruned_at=None))
        self._db.flush()

    def sync_catalog(self) -> list[Manifest]:
        """Bring the catalog in line with the manifests on disk (after a restore, the catalog is older)."""
        manifests = scan(self.root)
        on_disk = {m.id for m in manifests}
        recorded = {r.id: r for r in self._db.scalars(sa.select(BackupRecord))}
        for manifest in manifests:
            if manifest.id not in recorded or recorded[manifest.id].pruned_at is not None:
                self._record(manifest)
        for record in recorded.values():
            if record.id not in on_disk and record.pruned_at is None:
                record.pruned_at = self._clock()
        self._db.flush()
        return manifests

    # -- sites -----------------------------------------------------------------------------------

    def sites_with_copies(self) -> set[str]:
        """Sites that held a good copy before (their repository is never silently re-created)."""
        return {s.name for s in self._db.scalars(sa.select(SiteStatus).where(SiteStatus.last_success_at.is_not(None)))}

    def copy(self, had_copies: set[str], recreate: bool = False) -> CopyReport:
        """Copy every local backup a site lacks to it, then check the site. One failing site
        does not stop the others; the report names it. Touches no database (restic may take
        minutes; on SQLite an open transaction would hold the write lock): record the report
        with :meth:`record`. A site that held copies before is never silently re-created
        empty (``recreate`` allows it)."""
        report = CopyReport()
        manifests = scan(self.root)
        for site in self._sites:
            report.attempted[site.name] = self._clock()
            try:
                self._progress(f"site {site.name}: opening the repository")
                site.ensure_repository(may_create=recreate or site.name not in had_copies)
                at_site = {s.backup_id for s in site.snapshots()}
                copied = []
                for manifest in manifests:
                    if manifest.id in at_site:
                        continue
                    self._progress(f"site {site.name}: copying {manifest.id}")
                    copied.append((manifest.id, site.copy(self.root, manifest.id, manifest.finished_at),
                                   self._clock()))
                subset = self._check_subset()
                self._progress(f"site {site.name}: restic check --read-data-subset={subset}")
                site.check(subset)
            except SiteUnreachable as exc:
                report.failures[site.name] = exc.detail
                continue
            report.copies[site.name] = copied
            report.copied[site.name] = [backup_id for backup_id, _, _ in copied]
            report.checked.append(site.name)
        return report

    def record(self, report: CopyReport) -> None:
        """Store the copies and each site's status (a failure stays visible until a copy succeeds)."""
        for site in self._sites:
            if site.name not in report.attempted:
                continue
            status = self._site_status(site)
            status.last_attempt_at = report.attempted[site.name]
            if site.name in report.failures:
                status.ok, status.last_error = False, report.failures[site.name][:300]
                continue
            for backup_id, snapshot, at in report.copies.get(site.name, []):
                self._db.merge(BackupCopy(backup_id=backup_id, site=site.name, snapshot_id=snapshot, copied_at=at))
            status.ok, status.last_error = True, None
            status.last_success_at = status.last_checked_at = report.attempted[site.name]
        self._db.flush()

    def _check_subset(self) -> str:
        """The configured subset, or for "rotate" the next 1/48 of the packs: checks after
        successive copies read different packs, so the whole repository is read about daily."""
        if self._settings.backup_check_subset != "rotate":
            return self._settings.backup_check_subset
        slot = int(self._clock().timestamp() // (self._settings.backup_log_minutes * 60))
        return f"{slot % CHECK_GROUPS + 1}/{CHECK_GROUPS}"

    def _site_status(self, site: ResticSite) -> SiteStatus:
        status = self._db.get(SiteStatus, site.name)
        if status is None:
            status = SiteStatus(name=site.name, kind=site.spec.kind, ok=False, last_attempt_at=self._clock())
            self._db.add(status)
        return status

    def site_statuses(self) -> list[SiteStatus]:
        configured = {s.name: s for s in self._sites}
        rows = {s.name: s for s in self._db.scalars(sa.select(SiteStatus))}
        return [rows[name] for name in configured if name in rows] + [
            SiteStatus(name=name, kind=site.spec.kind, ok=False, last_attempt_at=None,
                       last_error="never copied to") for name, site in configured.items() if name not in rows]

    def site(self, name: str) -> ResticSite:
        for site in self._sites:
            if site.name == name:
                return site
        raise BackupError(f"no site named {name!r}; configured: {', '.join(s.name for s in self._sites) or 'none'}")

    # -- listing ---------------------------------------------------------------------------------

    def catalog(self) -> list[BackupRecord]:
        self.sync_catalog()
        return list(self._db.scalars(
            sa.select(BackupRecord).where(BackupRecord.pruned_at.is_(None)).order_by(BackupRecord.finished_at)))

    def copies(self) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for copy in self._db.scalars(sa.select(BackupCopy)):
            found.setdefault(copy.backup_id, []).append(copy.site)
        return found

    def age(self) -> BackupAge:
        records = self._db.execute(
            sa.select(BackupRecord.kind, sa.func.max(BackupRecord.finished_at))
            .where(BackupRecord.pruned_at.is_(None)).group_by(BackupRecord.kind)).all()
        newest = {kind: at for kind, at in records}
        candidates = [at for at in newest.values() if at is not None]
        return BackupAge(newest.get("full"), max(candidates) if candidates else None)

    # -- verify ----------------------------------------------------------------------------------

    def verify(self, site_name: str | None = None) -> VerifyReport:
        """Check every local backup's files, restore the newest chain into a scratch database and
        compare it with the catalog, decrypt one sample row, and read back every site's data."""
        problems: list[str] = []
        with self._staging() as staging:
            if site_name is None:
                manifests = scan(self.root)
                for manifest in manifests:
                    self._progress(f"checking {manifest.id}")
                    problems += check_files(self.root / manifest.id, manifest)
                source = self.root
            else:
                manifests = self._fetch_manifests(self.site(site_name), staging, None)
                source = staging
            if not manifests:
                raise BackupError("no backups to verify")
            chain = restore_chain(manifests)
            if site_name is not None:
                for manifest in chain:
                    self._fetch(self.site(site_name), manifest.id, staging)
                    problems += check_files(staging / manifest.id, manifest)
            report = VerifyReport(ok=False, chain=[m.id for m in chain], problems=problems)
            if not problems:
                self._compare_scratch(chain, source, report)
        sites = self._sites if site_name is None else [self.site(site_name)]
        for site in sites:
            self._progress(f"site {site.name}: restic check --read-data")
            try:
                site.run("check", "--read-data")
                report.sites[site.name] = "ok"
            except SiteUnreachable as exc:
                report.sites[site.name] = exc.detail
                report.problems.append(f"site {site.name}: {exc.detail}")
        report.ok = not report.problems
        return report

    def _compare_scratch(self, chain: list[Manifest], source: Path, report: VerifyReport) -> None:
        newest = chain[-1]
        with tempfile.TemporaryDirectory(prefix="appliance-verify-", dir=self.root) as scratch_dir, \
                contextlib.ExitStack() as stack:
            try:
                engine = stack.enter_context(
                    self._driver.scratch([(m, source / m.id) for m in chain], Path(scratch_dir), self._progress))
            except BackupError as exc:  # the chain does not restore: that is the finding
                report.problems.append(exc.reason)
                return
            self._progress("comparing the scratch database with the catalog")
            with engine.connect() as connection:
                actual = fingerprint(connection, self._driver.schema, blob_bytes=newest.extra.get("fingerprint") != "blob-length")
                report.problems += differences(newest.tables, actual)
                report.tables = len(actual)
                report.rows = sum(rows for rows, _ in actual.values())
                report.sample = self._decrypt_sample(connection)
        if report.sample.startswith("failed"):
            report.problems.append(f"sample row: {report.sample}")

    def _decrypt_sample(self, connection: sa.Connection) -> str:
        row = connection.execute(sa.select(TenantKey.tenant_id, TenantKey.version, TenantKey.wrapped_key).limit(1)).first()
        if row is None:
            return "none (no tenant yet)"
        if not tenant_key_opens(self._master, row.tenant_id, row.version, row.wrapped_key):
            return "failed: a tenant key does not unwrap with this master key"
        return "unwrapped one tenant key"

    # -- prune -----------------------------------------------------------------------------------

    def prune(self, dry_run: bool = False) -> tuple[PrunePlan, dict[str, str]]:
        """Delete backups older than the retention, locally and at every site, except what a kept
        chain needs and the newest chain. Returns the plan and the sites that failed."""
        plan = prune_plan(scan(self.root), self._clock(), self._settings.backup_retention_days)
        failures: dict[str, str] = {}
        if dry_run:
            return plan, failures
        for manifest in plan.delete:
            self._progress(f"deleting {manifest.id}")
            shutil.rmtree(self.root / manifest.id)
        removed = self._driver.after_prune(plan.keep)
        if removed:
            self._progress(f"removed {len(removed)} archived WAL segment(s) no kept backup needs")
        # keep-within alone would drop an old full (or log) that a kept log still needs: name those.
        cutoff = self._clock() - dt.timedelta(days=self._settings.backup_retention_days)
        needed_old = [m.id for m in plan.keep if m.finished_at < cutoff]
        remaining: dict[str, set[str]] = {}
        for site in self._sites:
            self._progress(f"site {site.name}: restic forget --keep-within {self._settings.backup_retention_days}d --prune")
            try:
                site.forget(self._settings.backup_retention_days, needed_old)
                remaining[site.name] = {s.backup_id for s in site.snapshots()}
            except SiteUnreachable as exc:
                failures[site.name] = exc.detail
        if self._session is not None:  # last: no transaction stays open while restic works
            self.sync_catalog()
            for copy in self._db.scalars(sa.select(BackupCopy)):
                if copy.site in remaining and copy.backup_id not in remaining[copy.site]:
                    self._db.delete(copy)
            self._db.flush()
        return plan, failures

    # -- restore ---------------------------------------------------------------------------------

    def restore(self, request: RestoreRequest, site_name: str | None = None) -> tuple[list[str], list[str]]:
        """Restore the newest state or the state at ``request.at`` from local disk or a site.

        Refuses a chain with a gap (naming it) and files that do not match their manifest.
        Returns the chain's ids and the steps taken."""
        with self._staging() as staging:
            if site_name is None:
                source, chain = self.root, restore_chain(scan(self.root), request.at)
            else:
                site = self.site(site_name)
                chain = restore_chain(self._fetch_manifests(site, staging, request.at), request.at)
                for manifest in chain:
                    self._fetch(site, manifest.id, staging)
                source = staging
            for manifest in chain:
                problems = check_files(source / manifest.id, manifest)
                if problems:
                    raise BackupError(f"refusing to restore: {problems[0]}")
            steps = [f"chain: {' → '.join(m.id for m in chain)}"]
            if site_name:
                steps.insert(0, f"fetched the chain from site {site_name}")
            steps += self._driver.restore([(m, source / m.id) for m in chain], request, self._progress)
        return [m.id for m in chain], steps

    @contextlib.contextmanager
    def _staging(self) -> Iterator[Path]:
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        with tempfile.TemporaryDirectory(prefix=".staging-", dir=self.root) as directory:
            yield Path(directory)

    def _fetch(self, site: ResticSite, backup_id: str, staging: Path) -> None:
        if (staging / backup_id).is_dir() and (staging / backup_id / ".complete").exists():
            return
        self._progress(f"site {site.name}: fetching {backup_id}")
        site.restore(backup_id, staging)
        (staging / backup_id / ".complete").touch()

    def _fetch_manifests(self, site: ResticSite, staging: Path, at: dt.datetime | None) -> list[Manifest]:
        """The manifests a restore from ``site`` may need: from the newest full backup that
        started before ``at`` on (backup ids sort by start time)."""
        ids = sorted({s.backup_id for s in site.snapshots()})
        if not ids:
            raise BackupError(f"site {site.name} holds no backups")
        limit = new_backup_id("", at) if at else None
        fulls = [i for i in ids if i.endswith("-full") and (limit is None or i <= limit)]
        start = fulls[-1] if fulls else ids[0]
        manifests: list[Manifest] = []
        for backup_id in ids[ids.index(start):]:
            if limit is not None and backup_id[:len(limit)] > limit and manifests and manifests[-1].standalone:
                break
            site.run("restore", "latest", "--host", "appliance", "--tag", backup_id, "--target", str(staging),
                     "--include", f"/{backup_id}/manifest.json")
            manifests.append(read_manifest(staging / backup_id))
        return manifests

