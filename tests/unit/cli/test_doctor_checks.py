"""Doctor's checks that need no database: the number of backup sites, and the TDE check on SQL
Server with the statement it runs (no SQL Server runs here, so a fake answers it)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from appliance.cli.doctor_checks import TDE_STATEMENT, database_tls_check, site_count_check, tde_check
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


# --- database tls: verified TLS to a server on another host, or no network ---------------------

def on(url: str) -> Settings:
    return Settings(database_url=url, master_key_file=Path("/k"), data_dir=Path("/d"))


def test_database_tls_embedded_and_local_postgresql_need_no_tls() -> None:
    assert database_tls_check(on("sqlite+pysqlcipher:///x.db"), {}).status == "ok"
    local = database_tls_check(on("postgresql+psycopg://app@127.0.0.1/appliance"), {})
    assert local.status == "ok" and "loopback" in local.detail


def test_database_tls_names_verify_full_and_the_ca() -> None:
    url = "postgresql+psycopg://app:pw@db1.example.com/appliance?sslmode=verify-full&sslrootcert=/etc/appliance/pg-ca.pem"
    check = database_tls_check(on(url), {})
    assert check.status == "ok" and "verify-full" in check.detail and "/etc/appliance/pg-ca.pem" in check.detail
    assert "pw" not in check.detail.split("CA")[0].replace("appliance", "")


def test_database_tls_on_sql_server_reads_the_freetds_configuration(tmp_path: Path) -> None:
    server = on("mssql+pymssql://app:pw@db1.example.com:1433/appliance")
    conf = tmp_path / "freetds.conf"
    conf.write_text("[global]\n\ttds version = 7.4\n\tencryption = require\n\tca file = /etc/appliance/mssql-ca.pem\n")
    assert database_tls_check(server, {"FREETDSCONF": str(conf)}).status == "ok"
    conf.write_text("[global]\n\tencryption = require\n")
    assert database_tls_check(server, {"FREETDSCONF": str(conf)}).status == "warn"
    conf.write_text("[global]\n\tencryption = request\n")
    assert database_tls_check(server, {"FREETDSCONF": str(conf)}).status == "fail"
    missing = database_tls_check(server, {})
    assert missing.status == "fail" and "FREETDSCONF" in missing.detail
