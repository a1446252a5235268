"""Site definitions (checked when the backup engine, doctor or scheduler starts) and the schedule settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.backup.sites import parse_sites
from appliance.errors import SettingsError
from tests.support import make_settings


def test_sites_have_names_kinds_and_optional_password_files() -> None:
    sites = parse_sites(("nfs=/mnt/nfs/appliance", "sftp://backup@vault:2222//srv/restic", "s3:https://s3.example/b",
                         "rest=rest:https://rest.example:8000/"), ("nfs=/etc/appliance/nfs.pass",))
    assert [(s.name, s.kind) for s in sites] == [("nfs", "local"), ("site2", "sftp"), ("site3", "s3"), ("rest", "rest")]
    assert sites[0].password_file == Path("/etc/appliance/nfs.pass") and sites[1].password_file is None


@pytest.mark.parametrize(("sites", "passwords", "needle"), [
    (("ftp://old.example/x",), (), "unknown site kind"),
    (("a=/x", "a=/y"), (), "used twice"),
    (("Bad Name=/x",), (), "site name"),
    (("a=/x",), ("b=/p",), "no site named"),
    (("a=/x",), ("a=relative",), "absolute"),
])
def test_bad_sites_are_refused(sites: tuple[str, ...], passwords: tuple[str, ...], needle: str) -> None:
    with pytest.raises(SettingsError, match=needle):
        parse_sites(sites, passwords)


@pytest.mark.parametrize(("overrides", "name"), [
    ({"backup_full_at": "25:00"}, "BACKUP_FULL_AT"),
    ({"backup_verify_at": "someday 04:00"}, "BACKUP_VERIFY_AT"),
    ({"backup_log_minutes": 0}, "BACKUP_LOG_MINUTES"),
    ({"scheduler_lease_seconds": 3}, "SCHEDULER_LEASE_SECONDS"),
    ({"backup_check_subset": "lots"}, "BACKUP_CHECK_SUBSET"),
])
def test_bad_schedule_settings_name_the_setting(tmp_path: Path, overrides: dict[str, object], name: str) -> None:
    with pytest.raises(SettingsError, match=name):
        make_settings(tmp_path, "sqlite+pysqlcipher:///x.db", **overrides)
