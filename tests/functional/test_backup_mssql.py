"""SQL Server backups against a real server: runs only when APPLIANCE_TEST_MSSQL_URL is set.

The server needs a certificate for backup encryption (MSSQL_BACKUP_CERTIFICATE, default
``appliance_backup``) and a directory it can write that this host sees at the same path
(APPLIANCE_TEST_MSSQL_BACKUP_DIR, default /var/opt/mssql/backup/appliance-test).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from appliance.backup.drivers import RestoreRequest
from appliance.context import build_context
from appliance.crypto.keys import MasterKey
from appliance.operations.backups import backup_service
from tests.functional.backup_support import add_reports, count_cases
from tests.support import make_settings, migrate

pytestmark = pytest.mark.skipif(not os.environ.get("APPLIANCE_TEST_MSSQL_URL"),
                                reason="set APPLIANCE_TEST_MSSQL_URL=mssql+pymssql://user:pass@host/db to run")


def test_full_log_verify_and_restore_into_a_new_database(tmp_path: Path) -> None:
    backup_dir = Path(os.environ.get("APPLIANCE_TEST_MSSQL_BACKUP_DIR", "/var/opt/mssql/backup/appliance-test"))
    MasterKey.create(tmp_path / "master.key")
    settings = make_settings(tmp_path, os.environ["APPLIANCE_TEST_MSSQL_URL"], backup_dir=str(backup_dir),
                             mssql_backup_dir=str(backup_dir),
                             mssql_backup_certificate=os.environ.get("APPLIANCE_TEST_MSSQL_CERT", "appliance_backup"))
    migrate(settings)
    ctx = build_context(settings)
    try:
        add_reports(ctx, 2, "mssql")
        with ctx.unit_of_work() as session:
            backup_service(ctx, session).full()
        add_reports(ctx, 1, "mssql-log")
        with ctx.unit_of_work() as session:
            backup_service(ctx, session).log()
        with ctx.unit_of_work() as session:
            assert backup_service(ctx, session).verify().ok
        name = f"appliance_restored_{os.getpid()}"
        backup_service(ctx, None).restore(RestoreRequest(name, False, None))
        restored = build_context(make_settings(tmp_path, settings.database_url.rsplit("/", 1)[0] + "/" + name))
        assert count_cases(restored.engine) == count_cases(ctx.engine)
        restored.close()
    finally:
        ctx.close()
