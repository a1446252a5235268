"""Copies to three sites (a local path, SFTP on a real sshd, one unreachable) through the real CLI;
corruption of a backup file or of a restic pack is found by verify; nothing readable leaks."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.backup.drivers.postgres import free_port
from appliance.crypto.keys import MasterKey
from tests.functional.backup_support import APPLIANCE, MARKER, Install, add_reports, files_contain  # noqa: F401
from tests.functional.sshd import SshServer, available, ssh_server


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[SshServer]:
    if not available():
        pytest.skip("needs root and openssh-server (./scripts/test installs it)")
    with ssh_server(tmp_path / "sshd") as server:
        yield server


def test_three_sites_one_unreachable_fails_loudly_and_the_others_are_verified(tmp_path: Path, sshd: SshServer) -> None:
    sites = [f"local={tmp_path / 'site-local'}",
             f"offsite=sftp://{sshd.user}@127.0.0.1:{sshd.port}/{tmp_path / 'site-sftp'}",
             f"dead=rest:http://127.0.0.1:{free_port()}/"]
    install = Install(tmp_path, {"backup_sites": sites, "backup_ssh_key_file": str(sshd.client_key),
                                 "backup_ssh_known_hosts": str(sshd.known_hosts)})
    install.add_reports(2, "sites")
    result = install.run("backup", "full")
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "dead" in errors[0] and "local" not in errors[0], result.stderr
    assert "Traceback" not in result.stderr

    listing = json.loads(install.run_ok("backup", "list", "--json"))
    assert len(listing["backups"]) == 1, "the backup is kept although a site failed"
    assert listing["backups"][0]["sites"] == ["local", "offsite"]
    status = {site["name"]: site for site in listing["sites"]}
    assert status["local"]["ok"] and status["offsite"]["ok"]
    assert not status["dead"]["ok"] and status["dead"]["last_error"]

    for site in ("local", "offsite"):
        report = json.loads(install.run_ok("backup", "verify", "--site", site, "--json"))
        assert report["ok"] and report["sites"] == {site: "ok"}, report
    doctor = json.loads(install.run("doctor", "--json").stdout)
    backup_check = next(c for c in doctor["checks"] if c["name"] == "backup site dead")
    assert backup_check["status"] == "fail"

    restored = tmp_path / "from-sftp.db"
    install.run_ok("backup", "restore", "--site", "offsite", "--into", str(restored))
    assert restored.stat().st_size > 0
    master = MasterKey.load(install.config.parent / "master.key")
    for site in ("local", "offsite", "dead"):  # no repository password in any output
        password = master.derive(f"restic-site/{site}/v1").hex()
        assert not any(password in output for output in install.outputs)
        assert not files_contain(install.config.parent, password.encode())
    for root in (install.config.parent / "backups", tmp_path / "site-local", tmp_path / "site-sftp"):
        assert not files_contain(root, MARKER.encode()), root


def test_corrupted_backup_and_tampered_restic_pack_are_detected(tmp_path: Path) -> None:
    site = tmp_path / "site"
    install = Install(tmp_path, {"backup_sites": [f"local={site}"]})
    install.add_reports(1, "tamper")
    install.run_ok("backup", "full")
    assert json.loads(install.run_ok("backup", "verify", "--json"))["ok"]

    snapshot = next((install.config.parent / "backups").glob("*-full")) / "appliance.db"
    original = snapshot.read_bytes()
    snapshot.write_bytes(original[:5000] + bytes([original[5000] ^ 0xFF]) + original[5001:])
    result = install.run("backup", "verify")
    assert result.returncode == 1 and "does not match its sha256" in result.stdout
    snapshot.write_bytes(original)

    pack = max((p for p in (site / "data").rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)
    pack.chmod(0o600)
    data = bytearray(pack.read_bytes())
    data[len(data) // 2] ^= 0xFF
    pack.write_bytes(bytes(data))
    result = install.run("backup", "verify", "--json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["sites"]["local"] != "ok" and any("site local" in p for p in report["problems"])


def test_an_empty_mounted_directory_becomes_a_site_but_a_wiped_one_is_not_renewed(tmp_path: Path) -> None:
    site = tmp_path / "mounted"
    site.mkdir()  # a freshly mounted, empty share
    install = Install(tmp_path, {"backup_sites": [f"nas={site}"]})
    install.add_reports(1, "mount")
    install.run_ok("backup", "full")
    assert (site / "config").is_file()
    for item in site.iterdir():  # the share is unmounted: an empty directory again
        shutil.rmtree(item) if item.is_dir() else item.unlink()
    result = install.run("backup", "full")
    assert result.returncode == 1 and "--recreate" in result.stderr
    assert not (site / "config").exists()
