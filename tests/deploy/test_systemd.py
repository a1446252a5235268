"""systemd/: `systemd-analyze verify` and the offline security review of every unit."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.deploy.sandbox import unit_values
from tests.deploy.stack import APPLIANCE, PRODUCTION_SOCKET, REPO, SBIN_PATH, unit_directives

pytestmark = pytest.mark.deploy

UNITS = sorted((REPO / "systemd").glob("*.service"))
SCHEDULER = REPO / "systemd" / "appliance-scheduler.service"
INTEGRITY = REPO / "systemd" / "appliance-integrity.service"
MAX_EXPOSURE = 2.0
PRODUCTION_APPLIANCE = "/opt/appliance/venv/bin/appliance"
PRODUCTION_INTEGRITY_CHECK = "/usr/local/sbin/appliance-integrity-check"


def systemd_analyze() -> str:
    path = shutil.which("systemd-analyze", path=SBIN_PATH)
    if path is None:
        pytest.skip("systemd-analyze is not installed (./scripts/test installs the systemd package)")
    return path


def test_the_units_are_there() -> None:
    assert [u.name for u in UNITS] == ["appliance-integrity.service", "appliance-scheduler.service",
                                       "appliance-web.service"]
    assert (REPO / "systemd" / "appliance-integrity.timer").is_file()


@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.name)
def test_unit_verifies_without_a_single_warning(unit: Path, tmp_path: Path) -> None:
    # verify also checks that ExecStart's program exists: point it at this checkout's
    # `appliance` instead of the production venv (the integrity check at a stand-in
    # script: the role renders the real one), and change nothing else.
    text = unit.read_text("utf-8")
    copy = tmp_path / unit.name
    if unit == INTEGRITY:
        assert text.count(PRODUCTION_INTEGRITY_CHECK) == 1
        stand_in = tmp_path / "appliance-integrity-check"
        stand_in.write_text("#!/bin/sh\n")
        stand_in.chmod(0o755)
        copy.write_text(text.replace(PRODUCTION_INTEGRITY_CHECK, str(stand_in)))
        shutil.copy(REPO / "systemd" / "appliance-integrity.timer", tmp_path)
    else:
        assert text.count(PRODUCTION_APPLIANCE) == 1
        copy.write_text(text.replace(PRODUCTION_APPLIANCE, str(APPLIANCE)))
    done = subprocess.run([systemd_analyze(), "verify", "--man=no", str(copy),
                           *([str(tmp_path / "appliance-integrity.timer")] if unit == INTEGRITY else [])],
                          capture_output=True, text=True, timeout=120)
    # verify exits 0 even for unknown keys or unparsable values; it says so on stderr.
    assert done.returncode == 0 and done.stdout + done.stderr == "", done.stdout + done.stderr


@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.name)
def test_unit_exposure_is_at_most_2(unit: Path) -> None:
    analyze = systemd_analyze()
    usage = subprocess.run([analyze, "security", "--help"], capture_output=True, text=True, timeout=60)
    if "--offline" not in usage.stdout + usage.stderr:
        pytest.skip("this systemd-analyze has no `security --offline` (systemd < 250)")
    done = subprocess.run([analyze, "security", "--offline=true", "--no-pager", str(unit)],
                          capture_output=True, text=True, timeout=120)
    output = done.stdout + done.stderr
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", output)
    assert match, output
    assert float(match.group(1)) <= MAX_EXPOSURE, output


def test_web_unit_runs_appliance_serve_on_the_socket_nginx_uses() -> None:
    (exec_start,) = unit_directives("ExecStart")
    assert exec_start == f"{PRODUCTION_APPLIANCE} serve --bind unix:{PRODUCTION_SOCKET}"
    assert unit_directives("User") == ["appliance"]
    assert "APPLIANCE_CONFIG=/etc/appliance/appliance.toml" in unit_directives("Environment")
    assert unit_directives("RuntimeDirectory") == ["appliance"]  # -> /run/appliance
    assert unit_directives("ReadWritePaths") == ["/var/lib/appliance"]
    assert unit_directives("CapabilityBoundingSet") == [""]
    assert unit_directives("MemoryDenyWriteExecute") == ["yes"]
    assert "APPLIANCE_METRICS_DIR=/run/appliance/metrics" in unit_directives("Environment")
    # Lockouts and report limits keyed by client addresses: on the unit's tmpfs, gone at every stop.
    assert "APPLIANCE_RUNTIME_DIR=/run/appliance" in unit_directives("Environment")


def test_scheduler_unit_runs_appliance_scheduler_with_the_web_units_sandbox() -> None:
    web = REPO / "systemd" / "appliance-web.service"
    assert unit_values(SCHEDULER, "ExecStart") == [f"{PRODUCTION_APPLIANCE} scheduler"]
    assert unit_values(SCHEDULER, "User") == ["appliance"]
    assert "APPLIANCE_CONFIG=/etc/appliance/appliance.toml" in unit_values(SCHEDULER, "Environment")
    # /run/appliance is the web unit's: a second owner would delete the socket at its stop.
    assert unit_values(SCHEDULER, "RuntimeDirectory") == []
    assert unit_values(SCHEDULER, "StateDirectory") == ["appliance"]
    for key in ("NoNewPrivileges", "CapabilityBoundingSet", "ProtectSystem", "ProtectHome", "PrivateTmp",
                "RestrictAddressFamilies", "MemoryDenyWriteExecute", "SystemCallArchitectures", "SystemCallErrorNumber"):
        assert unit_values(SCHEDULER, key) == unit_values(web, key), key
    # The same filter minus @chown: the scheduler binds no unix socket to chown.
    assert unit_values(SCHEDULER, "SystemCallFilter") == ["@system-service", "~@privileged @resources"]


def test_integrity_unit_reads_as_root_but_may_change_nothing_but_mail() -> None:
    assert unit_values(INTEGRITY, "ExecStart") == [PRODUCTION_INTEGRITY_CHECK]
    assert unit_values(INTEGRITY, "Type") == ["oneshot"]
    assert unit_values(INTEGRITY, "User") == []  # root: it reads sudoers, keys' attributes, AIDE's database
    assert unit_values(INTEGRITY, "CapabilityBoundingSet") == ["CAP_DAC_READ_SEARCH CAP_DAC_OVERRIDE"]
    assert unit_values(INTEGRITY, "ProtectSystem") == ["full"] and unit_values(INTEGRITY, "NoNewPrivileges") == ["yes"]
    timer = REPO / "systemd" / "appliance-integrity.timer"
    assert unit_values(timer, "OnCalendar") == ["daily"] and unit_values(timer, "Persistent") == ["true"]
