"""Backup sites: one restic repository each (local or mounted path, SFTP, S3-compatible, REST server).

restic does the transfer, the encryption and the integrity checks; this module only builds
its command lines, hands it the repository password through the environment (never on a
command line, never printed) and turns its failures into one line naming the site.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import shlex
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from appliance.errors import BackupError, SettingsError
from appliance.keys.secrets import restic_site_purpose

if TYPE_CHECKING:
    from appliance.keys.secrets import SecretSource
    from appliance.settings import Settings

SITE_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
SFTP_URL = re.compile(r"sftp://(?:(?P<user>[^@/]+)@)?(?P<host>[^:/]+)(?::(?P<port>\d+))?/(?P<path>.*)")
SFTP_SHORT = re.compile(r"sftp:(?:(?P<user>[^@/]+)@)?(?P<host>[^:/]+):(?P<path>.*)")
RESTIC_HOST = "appliance"
# The person key vault's copy (appliance.operations.vault_copy) is filed under its own host name,
# so the backups' forget --keep-within (relative to the newest snapshot) never counts it.
VAULT_TAG = "vault-latest"
VAULT_HOST = "appliance-vault"


@dataclass(frozen=True)
class SiteSpec:
    """A configured site: its name, its restic repository and where its password comes from."""

    name: str
    repository: str
    kind: str  # local | sftp | s3 | rest
    password_file: Path | None = None


class SiteUnreachable(BackupError):
    """restic could not reach or use a site's repository."""

    def __init__(self, site: str, reason: str) -> None:
        super().__init__(f"site {site}: {reason}")
        self.site = site
        self.detail = reason


def site_kind(repository: str) -> str:
    if repository.startswith("sftp:"):
        return "sftp"
    if repository.startswith("s3:"):
        return "s3"
    if repository.startswith("rest:"):
        return "rest"
    if repository.startswith("/"):
        return "local"
    raise SettingsError("BACKUP_SITES", f"unknown site kind in {repository!r}; use /path, sftp:, s3: or rest:")


def parse_sites(entries: tuple[str, ...], passwords: tuple[str, ...] = ()) -> tuple[SiteSpec, ...]:
    """``name=repository`` entries (the name defaults to site1, site2, …)."""
    password_files: dict[str, Path] = {}
    for entry in passwords:
        name, sep, path = entry.partition("=")
        if not sep or not path.startswith("/"):
            raise SettingsError("BACKUP_SITE_PASSWORDS", "entries look like site=/absolute/path/to/password-file")
        password_files[name.strip()] = Path(path.strip())
    specs: list[SiteSpec] = []
    for index, entry in enumerate(entries, start=1):
        name, sep, repository = entry.partition("=")
        if not sep or name.startswith("/") or ":" in name:
            name, repository = f"site{index}", entry
        name, repository = name.strip(), repository.strip()
        if not SITE_NAME.fullmatch(name):
            raise SettingsError("BACKUP_SITES", f"site name {name!r}: use lower-case letters, digits, - and _")
        if name in {s.name for s in specs}:
            raise SettingsError("BACKUP_SITES", f"site name {name!r} is used twice")
        specs.append(SiteSpec(name, repository, site_kind(repository), password_files.pop(name, None)))
    if password_files:
        raise SettingsError("BACKUP_SITE_PASSWORDS", f"no site named {sorted(password_files)[0]!r}")
    return tuple(specs)


def site_password(spec: SiteSpec, secrets: SecretSource) -> str:
    """The repository password: the site's own file, else the site's secret (derived from the
    master key, and preserved across master key rotations: ``AppContext.secret``)."""
    if spec.password_file is not None:
        try:
            return spec.password_file.read_text("utf-8").strip()
        except OSError as exc:
            raise SettingsError("BACKUP_SITE_PASSWORDS", f"cannot read {spec.password_file}: {exc.strerror}") from None
    return secrets.secret(restic_site_purpose(spec.name)).hex()


def sites_from(settings: Settings, secrets: SecretSource) -> list[ResticSite]:
    return [ResticSite(spec, site_password(spec, secrets), settings)
            for spec in parse_sites(settings.backup_sites, settings.backup_site_passwords)]


def add_repository_password(spec: SiteSpec, current: str, new: str, settings: Settings,
                            held_copies: bool) -> str:
    """Before a master key rotation: let an existing repository open with the new master key's
    password too (``restic key add``), so a restore with no database, from the new key file
    alone, still opens it. The appliance itself keeps using the preserved (current) password.
    Returns ``added``, ``already`` (the new password opens it) or ``no repository`` (none yet:
    it will be created under the new key's password). A repository that held copies but is
    missing, or a site that cannot be reached, raises SiteUnreachable: nothing may change."""
    try:
        ResticSite(spec, new, settings).run("cat", "config", timeout=120)
        return "already"
    except SiteUnreachable as exc:
        if "wrong password" not in exc.detail:
            missing = (spec.kind == "local" and not Path(spec.repository).exists()) or \
                any(sign in exc.detail for sign in ("does not exist", "Is there a repository", "unable to open config"))
            if not missing:
                raise
            if held_copies:
                raise SiteUnreachable(spec.name, "the repository that held earlier copies is missing "
                                                 "(unmounted share? wiped bucket?)") from None
            return "no repository"
    with tempfile.TemporaryDirectory(prefix="appliance-key-") as directory:
        password_file = Path(directory) / "new-password"
        password_file.write_text(new, "utf-8")  # in a 0700 directory, removed right after
        ResticSite(spec, current, settings).run("key", "add", "--new-password-file", str(password_file), timeout=300)
    return "added"


@dataclass(frozen=True)
class Snapshot:
    snapshot_id: str
    backup_id: str
    time: str


class ResticSite:
    """Runs restic against one site's repository."""

    def __init__(self, spec: SiteSpec, password: str, settings: Settings) -> None:
        self.spec = spec
        self._password = password
        self._settings = settings

    @property
    def name(self) -> str:
        return self.spec.name

    def __repr__(self) -> str:
        return f"ResticSite({self.spec.name!r}, {self.spec.kind})"

    def _options(self) -> list[str]:
        options = ["--repo", self.spec.repository, "--quiet",
                   "--cache-dir", str(self._settings.data_dir / "restic-cache")]
        if self.spec.kind == "sftp":
            options += ["-o", f"sftp.command={self._ssh_command()}"]
        return options

    def _ssh_command(self) -> str:
        match = SFTP_URL.fullmatch(self.spec.repository) or SFTP_SHORT.fullmatch(self.spec.repository)
        if match is None:
            raise SettingsError("BACKUP_SITES", f"site {self.name}: cannot read the SFTP address")
        parts = ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-o", "ServerAliveInterval=15"]
        if match.groupdict().get("port"):
            parts += ["-p", match.group("port")]
        if self._settings.backup_ssh_key_file:
            parts += ["-i", str(self._settings.backup_ssh_key_file), "-o", "IdentitiesOnly=yes"]
        if self._settings.backup_ssh_known_hosts:
            parts += ["-o", f"UserKnownHostsFile={self._settings.backup_ssh_known_hosts}",
                      "-o", "StrictHostKeyChecking=yes"]
        host = f"{match.group('user')}@{match.group('host')}" if match.group("user") else match.group("host")
        return shlex.join([*parts, host, "-s", "sftp"])

    def run(self, *args: str, cwd: Path | None = None, timeout: float = 3600) -> str:
        """One restic command; its first error line (never the password) becomes SiteUnreachable."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("RESTIC_")}
        env["RESTIC_PASSWORD"] = self._password
        try:
            result = subprocess.run(["restic", *self._options(), *args], cwd=cwd, env=env, capture_output=True,
                                    text=True, timeout=timeout, check=False, stdin=subprocess.DEVNULL)
        except FileNotFoundError:
            raise SiteUnreachable(self.name, "restic is not installed (apt-get install restic)") from None
        except subprocess.TimeoutExpired:
            raise SiteUnreachable(self.name, f"restic {args[0]} timed out after {timeout:.0f} s") from None
        if result.returncode != 0:
            raise SiteUnreachable(self.name, _first_error(result.stderr, self._password))
        return result.stdout

    def ensure_repository(self, may_create: bool) -> None:
        """Create the repository on first use; an unreachable one fails here.

        A repository that held copies before and is now missing is not recreated (unless
        ``may_create``): that is an unmounted share or a wiped bucket, and a new empty
        repository on the wrong disk would hide it.
        """
        try:
            self.run("cat", "config", timeout=120)
        except SiteUnreachable as exc:
            # An existing empty directory (a freshly mounted share) counts as missing too; the
            # may_create guard below keeps a share that held copies from being silently renewed.
            missing = (self.spec.kind == "local" and not Path(self.spec.repository).exists()) \
                or "does not exist" in exc.detail or "Is there a repository" in exc.detail \
                or "unable to open config file" in exc.detail
            if not missing:
                raise
            if not may_create:
                raise SiteUnreachable(self.name, "the repository that held earlier copies is missing (unmounted "
                                                 "share? wiped bucket?); `appliance backup copy --recreate` "
                                                 "starts a new one") from None
            self.run("init", timeout=300)

    def copy(self, backup_root: Path, backup_id: str, taken_at: dt.datetime) -> str:
        """Store one backup directory as a snapshot tagged with its id and dated with the backup's
        own time (so --keep-within counts from when it was taken); returns the snapshot id."""
        when = taken_at.astimezone().strftime("%Y-%m-%d %H:%M:%S")  # restic reads local time
        out = self.run("backup", "--json", "--host", RESTIC_HOST, "--tag", backup_id, "--time", when, backup_id,
                       cwd=backup_root)
        for line in reversed(out.splitlines()):
            with contextlib.suppress(ValueError, KeyError, TypeError):
                message = json.loads(line)
                if message.get("message_type") == "summary":
                    return str(message["snapshot_id"])
        raise SiteUnreachable(self.name, "restic reported no snapshot for the copy")

    def check(self, subset: str) -> None:
        """Check the repository structure and read back a subset of the data packs."""
        self.run("check", f"--read-data-subset={subset}")

    def snapshots(self) -> list[Snapshot]:
        out = self.run("snapshots", "--json", "--host", RESTIC_HOST, timeout=300)
        found: list[Snapshot] = []
        for item in json.loads(out or "[]"):
            for tag in item.get("tags") or []:
                if tag == VAULT_TAG:  # the person key vault's copy is not a backup
                    continue
                found.append(Snapshot(str(item.get("short_id") or item["id"][:8]), str(tag), str(item["time"])))
        return found

    def restore(self, backup_id: str, target: Path) -> None:
        """Bring one backup directory back into ``target`` (as target/backup_id)."""
        self.run("restore", "latest", "--host", RESTIC_HOST, "--tag", backup_id, "--target", str(target))

    def forget(self, keep_within_days: int, keep_ids: list[str]) -> None:
        """Forget snapshots older than the retention except those a kept chain needs, then prune."""
        # One group for all: each backup is its own path, and restic groups by host and paths
        # by default, which would keep the newest snapshot of every backup for ever.
        args = ["forget", "--host", RESTIC_HOST, "--group-by", "host", "--keep-within", f"{keep_within_days}d"]
        for backup_id in keep_ids:
            args += ["--keep-tag", backup_id]
        self.run(*args, "--prune")


def _first_error(stderr: str, password: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    fatal = [line for line in lines if line.startswith("Fatal:")] or lines or ["restic failed"]
    return fatal[0].replace(password, "***")[:300]
