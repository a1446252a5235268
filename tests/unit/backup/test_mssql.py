"""SQL Server backup statements and chain order, checked without a server (none runs on CI)."""

from __future__ import annotations

import datetime as dt

import pytest

from appliance.backup.drivers import mssql
from appliance.backup.manifest import Manifest
from appliance.errors import BackupChainGap

AT = dt.datetime(2026, 3, 2, 9, 15, 30, 250000, tzinfo=dt.UTC)


def manifest(backup_id: str, kind: str, first: str, last: str) -> Manifest:
    return Manifest(id=backup_id, kind=kind, backend="mssql+pymssql", database="db", started_at=AT, finished_at=AT,
                    files=(), key_id="k", log_start=first, log_end=last)


def test_full_backup_is_compressed_checksummed_and_encrypted() -> None:
    statement = mssql.backup_database("appliance", "/var/opt/mssql/backup/x/database.bak", "AppBackupCert", "x")
    assert statement == (
        "BACKUP DATABASE [appliance] TO DISK = N'/var/opt/mssql/backup/x/database.bak' WITH FORMAT, INIT, "
        "NAME = N'x', COMPRESSION, CHECKSUM, ENCRYPTION (ALGORITHM = AES_256, SERVER CERTIFICATE = [AppBackupCert])")


def test_log_backup_and_verify_only() -> None:
    assert mssql.backup_log("appliance", "/b/l.bak", "C", "l").startswith("BACKUP LOG [appliance] TO DISK = N'/b/l.bak'")
    assert "ENCRYPTION (ALGORITHM = AES_256, SERVER CERTIFICATE = [C])" in mssql.backup_log("a", "/b", "C", "l")
    assert mssql.verify_only("/b/f.bak") == "RESTORE VERIFYONLY FROM DISK = N'/b/f.bak' WITH CHECKSUM"


def test_names_and_paths_are_quoted() -> None:
    statement = mssql.backup_database("odd]name", "/b/it's.bak", "c]ert", "n")
    assert "[odd]]name]" in statement and "N'/b/it''s.bak'" in statement and "[c]]ert]" in statement


def test_restore_chain_order_norecovery_then_stopat_and_recovery() -> None:
    statements = mssql.restore_statements("appliance_copy", ["/b/full.bak", "/b/log1.bak", "/b/log2.bak"],
                                          {"appliance": "/data/appliance_copy_appliance.mdf"}, AT, replace=False)
    assert statements == [
        "RESTORE DATABASE [appliance_copy] FROM DISK = N'/b/full.bak' WITH CHECKSUM, NORECOVERY, "
        "MOVE N'appliance' TO N'/data/appliance_copy_appliance.mdf'",
        "RESTORE LOG [appliance_copy] FROM DISK = N'/b/log1.bak' WITH CHECKSUM, NORECOVERY, "
        "STOPAT = '2026-03-02T09:15:30.250'",
        "RESTORE LOG [appliance_copy] FROM DISK = N'/b/log2.bak' WITH CHECKSUM, NORECOVERY, "
        "STOPAT = '2026-03-02T09:15:30.250'",
        "RESTORE DATABASE [appliance_copy] WITH RECOVERY",
    ]


def test_restore_over_the_current_database_replaces_it() -> None:
    statements = mssql.restore_statements("appliance", ["/b/full.bak"], {}, None, replace=True)
    assert statements == ["RESTORE DATABASE [appliance] FROM DISK = N'/b/full.bak' WITH CHECKSUM, NORECOVERY, REPLACE",
                          "RESTORE DATABASE [appliance] WITH RECOVERY"]


def test_log_chain_must_continue_at_the_previous_last_lsn() -> None:
    full = manifest("f", "full", "100", "200")
    log1 = manifest("l1", "log", "150", "300")  # starts inside the full backup: fine
    log2 = manifest("l2", "log", "300", "400")
    mssql.check_log_chain([full, log1, log2])
    gap = manifest("l3", "log", "450", "500")
    with pytest.raises(BackupChainGap, match="l3"):
        mssql.check_log_chain([full, log1, log2, gap])
