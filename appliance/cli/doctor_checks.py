"""Doctor checks of the installation's safety margins: at least two backup sites, verified TLS to
a database server on another host, and on SQL Server, Transparent Data Encryption on the
appliance's database (the first of the three layers of encryption at rest; see the README)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from appliance.backup.sites import parse_sites
from appliance.db_tls import postgresql_tls
from appliance.settings import Settings

MIN_SITES = 2
# sys.dm_database_encryption_keys has a row per database with a database encryption key;
# encryption_state 3 is "encrypted" (2: encryption in progress, 5: decryption in progress...).
TDE_STATEMENT = "SELECT encryption_state FROM sys.dm_database_encryption_keys WHERE database_id = DB_ID()"
TDE_ENCRYPTED = 3
TDE_STATES = {0: "no database encryption key", 1: "unencrypted", 2: "encryption in progress", 3: "encrypted",
              4: "key change in progress", 5: "decryption in progress", 6: "protection change in progress"}


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # ok | warn | fail
    detail: str


class Statements(Protocol):
    """What the TDE check needs of a connection: one scalar from one statement."""

    def scalar(self, statement: str) -> object: ...


def site_count_check(settings: Settings) -> Check:
    """A backup kept at one site is lost with that site: two or more are expected."""
    sites = parse_sites(settings.backup_sites, settings.backup_site_passwords)
    if len(sites) >= MIN_SITES:
        return Check("backup sites", "ok", f"{len(sites)} sites configured: {', '.join(s.name for s in sites)}")
    return Check("backup sites", "warn", f"{len(sites)} backup site(s) configured; set at least {MIN_SITES} in "
                                         "BACKUP_SITES (e.g. a NAS and an off-site SFTP or S3 repository)")


def tde_check(connection: Statements) -> Check:
    """SQL Server only: is the appliance's database encrypted at rest (TDE)?"""
    state = connection.scalar(TDE_STATEMENT)
    if state is None:
        return Check("tde", "fail", "the database has no encryption key: TDE is off; see docs/install.md "
                                    "(CREATE DATABASE ENCRYPTION KEY ... AES_256; ALTER DATABASE ... SET ENCRYPTION ON)")
    code = int(str(state))
    described = TDE_STATES.get(code, f"state {code}")
    if code == TDE_ENCRYPTED:
        return Check("tde", "ok", "the database is encrypted at rest (TDE, encryption_state 3)")
    return Check("tde", "warn" if code == 2 else "fail", f"TDE is not complete: {described} (encryption_state {code})")


def database_tls_check(settings: Settings, environ: Mapping[str, str]) -> Check:
    """How this host reaches the database server: verified TLS, or no network at all.

    PostgreSQL: settings refuse a URL to another host without sslmode=verify-full, so this
    line says which case applies. SQL Server: FreeTDS encrypts only as its configuration says
    (FREETDSCONF, set by the units to the deployed freetds.conf with encryption = require)."""
    if settings.is_embedded:
        return Check("database tls", "ok", "embedded database: no network")
    if settings.backend.startswith("postgresql"):
        tls = postgresql_tls(settings.database_url)
        return Check("database tls", "fail" if tls.problem else "ok", "DATABASE_URL " + tls.describe())
    conf = environ.get("FREETDSCONF", "")
    try:
        text = Path(conf).read_text("utf-8") if conf else ""
    except OSError:
        text = ""
    if re.search(r"^\s*encryption\s*=\s*require\s*$", text, re.MULTILINE):
        verified = re.search(r"^\s*ca file\s*=", text, re.MULTILINE)
        return Check("database tls", "ok" if verified else "warn",
                     f"FreeTDS requires encryption ({conf})" + ("" if verified else "; no ca file: certificate not verified"))
    return Check("database tls", "fail", "FREETDSCONF does not name a freetds.conf with encryption = require "
                                         "(the systemd units set it; run doctor with the units' environment)")
