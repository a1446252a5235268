"""Doctor's checks that need no database: the number of backup sites, and the TDE check on SQL
Server with the statement it runs (no SQL Server runs here, so a fake answers it)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from appliance.cli.doctor_checks import TDE_STATEMENT, site_count_check, tde_check
from appliance.settings import Settings


class FakeServer:
    """Answers the one statement the TDE check may run, and remembers what it was asked."""

    def __init__(self, state: int | None) -> None:
        self.state = state
        self.asked: list[str] = []

    def scalar(self, statement: str) -> object:
        self.asked.append(statement)
        return self.state


def settings_with(*sites: str) -> Settings:
    base = Settings(database_url="sqlite+pysqlcipher:///x.db", master_key_file=Path("/k"), data_dir=Path("/d"))
    return dataclasses.replace(base, backup_sites=sites)


def test_the_tde_check_reads_the_encryption_state_of_this_database() -> None:
    server = FakeServer(3)
    check = tde_check(server)
    assert server.asked == [
        "SELECT encryption_state FROM sys.dm_database_encryption_keys WHERE database_id = DB_ID()"]
    assert server.asked == [TDE_STATEMENT]
    assert check.status == "ok" and "encrypted" in check.detail


@pytest.mark.parametrize(("state", "status", "says"), [
    (None, "fail", "no encryption key"), (1, "fail", "unencrypted"), (2, "warn", "encryption in progress"),
    (5, "fail", "decryption in progress"), (9, "fail", "state 9"),
])
def test_tde_off_or_unfinished_is_reported(state: int | None, status: str, says: str) -> None:
    check = tde_check(FakeServer(state))
    assert check.name == "tde" and check.status == status and says in check.detail


def test_fewer_than_two_backup_sites_warn() -> None:
    assert site_count_check(settings_with()).status == "warn"
    one = site_count_check(settings_with("nas=/srv/nas"))
    assert one.status == "warn" and "1 backup site(s)" in one.detail and "BACKUP_SITES" in one.detail
    two = site_count_check(settings_with("nas=/srv/nas", "offsite=sftp:backup@vault.example:/srv/appliance"))
    assert two.status == "ok" and "nas, offsite" in two.detail
