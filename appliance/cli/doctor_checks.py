"""Doctor checks of the installation's safety margins: at least two backup sites, and on SQL
Server, Transparent Data Encryption on the appliance's database (the first of the three layers
of encryption at rest; see the README)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from appliance.backup.sites import parse_sites
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
