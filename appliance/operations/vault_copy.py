"""The person key vault's copy: one "latest" export, locally and at every site, replacing
the one before (see appliance/keys/vault.py for why the vault is never in the backups).

After an erasure the copy is refreshed at once and the sites prune the old one, so no
copy of an erased person's share survives anywhere the appliance keeps data.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from appliance.backup.drivers.base import Progress, no_progress
from appliance.backup.sites import VAULT_HOST, VAULT_TAG, ResticSite, SiteUnreachable, sites_from
from appliance.context import AppContext
from appliance.errors import BackupError

VAULT_DIR = "vault"  # under BACKUP_DIR; holds no manifest, so it is never taken for a backup
VAULT_FILE = "vault.json"
FORMAT = "appliance-vault/1"


@dataclass
class VaultCopyReport:
    shares: int = 0
    copied: list[str] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)


def export_vault(ctx: AppContext) -> tuple[Path, int]:
    """Write the vault's shares (still sealed under the vault key) to BACKUP_DIR/vault, atomically."""
    rows = ctx.vault.export_rows()
    directory = ctx.settings.backup_root / VAULT_DIR
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    document = {"format": FORMAT, "exported_at": ctx.clock().isoformat(), "master_key_id": ctx.master.key_id,
                "shares": rows}
    temporary = directory / f".{VAULT_FILE}.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(document, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, directory / VAULT_FILE)
    return directory / VAULT_FILE, len(rows)


def refresh_vault_copies(ctx: AppContext, prune: bool = False, progress: Progress = no_progress,
                         only: set[str] | None = None) -> VaultCopyReport:
    """Export the vault and replace its copy at every site (or those in ``only``). ``prune``
    (after an erasure) also removes the replaced copy's data from each repository at once,
    not at the nightly prune. A site without a repository holds no copy and is left alone:
    the backup copy decides whether a repository may be created."""
    _path, count = export_vault(ctx)
    report = VaultCopyReport(shares=count)
    for site in sites_from(ctx.settings, ctx):
        if only is not None and site.name not in only:
            continue
        try:
            progress(f"site {site.name}: replacing the vault copy")
            try:
                site.ensure_repository(may_create=False)
            except SiteUnreachable as exc:
                if "missing" in exc.detail:
                    continue
                raise
            site.run("backup", "--host", VAULT_HOST, "--tag", VAULT_TAG, VAULT_DIR, cwd=ctx.settings.backup_root)
            site.run("forget", "--host", VAULT_HOST, "--tag", VAULT_TAG, "--keep-last", "1",
                     *(["--prune"] if prune else []))
        except SiteUnreachable as exc:
            report.failures[site.name] = exc.detail
            continue
        report.copied.append(site.name)
    return report


def restore_vault(ctx: AppContext, site: ResticSite | None, staging: Path) -> int:
    """Put back the shares of the newest vault copy (local, or from ``site``) that the vault
    lacks; returns how many. For disaster recovery, after restoring the database."""
    if site is None:
        source = ctx.settings.backup_root / VAULT_DIR / VAULT_FILE
    else:
        site.run("restore", "latest", "--host", VAULT_HOST, "--tag", VAULT_TAG, "--target", str(staging))
        source = staging / VAULT_DIR / VAULT_FILE
    try:
        document = json.loads(source.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise BackupError(f"no readable vault copy at {source}: {exc.__class__.__name__}") from None
    if document.get("format") != FORMAT:
        raise BackupError(f"{source} is not a vault copy")
    return ctx.vault.import_rows(document["shares"])
