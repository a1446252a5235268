"""The integrity role's AIDE configuration per kind of host, and the wheelhouse manifest.

The role itself, AIDE's baseline and checks, pip's hash checks and the installation check run
for real in the converge (test_ansible.py); these tests cover what it does not: a db host's
configuration, and the manifest script's refusals.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import jinja2
import pytest

from tests.deploy.stack import REPO, SBIN_PATH
from tests.deploy.test_hardening import DEFAULTS, GROUPS

pytestmark = pytest.mark.deploy

ROLE = REPO / "deploy" / "ansible" / "roles" / "integrity"
MANIFEST_SCRIPT = REPO / "deploy" / "wheelhouse-manifest"


def render(name: str, host: str, **values: object) -> str:
    """As Ansible renders the role's template, with the production defaults (and these values)."""
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, trim_blocks=True, keep_trailing_newline=True,
                             autoescape=False)
    env.filters["regex_escape"] = re.escape  # Ansible's, for a Python regular expression
    env.filters["quote"] = shlex.quote
    env.filters["dirname"] = os.path.dirname
    plain = {k: v for k, v in DEFAULTS.items() if not (isinstance(v, str) and "{{" in v)}
    context = {**plain, "ansible_managed": "Ansible managed", "inventory_hostname": host, "groups": GROUPS,
               "appliance_venv_dir": "/opt/appliance/venv", "appliance_python": "/usr/bin/python3",
               "appliance_integrity_mail_to": ",".join(DEFAULTS["appliance_alert_email"]), **values}
    return env.from_string((ROLE / "templates" / name).read_text("utf-8")).render(**context)


def rules(config: str) -> list[str]:
    return [line for line in config.splitlines() if line.startswith(("/", "=/", "!/"))]


def test_app_hosts_watch_the_program_configuration_keys_units_and_nginx() -> None:
    watched = rules(render("aide.conf.j2", "app1"))
    assert r"/opt/appliance(/|$) Content" in watched
    assert r"/etc/appliance(/|$) Content" in watched
    assert r"=/var/lib/appliance/master\.key$ Secret" in watched
    assert r"=/etc/ssl/private/appliance\.key$ Secret" in watched
    assert r"/etc/nginx(/|$) Content" in watched
    assert r"/etc/systemd/system/appliance\- Content" in watched
    assert r"/etc/sudoers\.d(/|$) Content" in watched and r"=/etc/ld\.so\.preload$ Content" in watched
    # The secrets in the configuration directory come before its content rule (first match wins).
    assert watched.index(r"/etc/appliance/restic\.password$ f Secret") < watched.index(r"/etc/appliance(/|$) Content")
    assert watched.index(r"/etc/appliance/backup\.env$ f Secret") < watched.index(r"/etc/appliance(/|$) Content")


def test_db_hosts_and_backup_sites_watch_only_the_system_paths_units_and_checks() -> None:
    for host in ("db1", "backup1"):
        watched = [rule for rule in rules(render("aide.conf.j2", host)) if not rule.startswith("!")]
        assert not any("appliance(/" in rule or "master" in rule or "nginx" in rule for rule in watched), watched
        assert r"/etc/systemd/system/appliance\- Content" in watched and r"=/etc/sudoers$ Content" in watched
        check = render("appliance-integrity-check.j2", host)
        assert "aide --config=/etc/aide/appliance.conf --check" in check
        assert "appliance-verify-installation" not in check.split("set -u", 1)[1]


def test_what_changes_legitimately_is_excluded_on_every_host() -> None:
    for host in ("app1", "db1"):
        excluded = [rule for rule in rules(render("aide.conf.j2", host)) if rule.startswith("!")]
        # State, database files, backups, logs and the units' private /tmp (the upload spool);
        # the master key is the one file of the state directory that stays watched.
        assert excluded == [r"!/var/lib/appliance/(?!master\.key$)", r"!/run/appliance(/|$)",
                            r"!/var/backups/appliance(/|$)", r"!/var/cache/appliance/restic(/|$)",
                            r"!/var/opt/mssql/backup(/|$)", r"!/var/opt/mssql/data(/|$)",
                            r"!/var/lib/postgresql(/|$)", r"!/var/log/nginx(/|$)", r"!/var/log(/|$)",
                            r"!/var/tmp(/|$)", r"!/tmp/systemd-private-"], excluded


@pytest.mark.parametrize("host", ["app1", "db1"])
def test_aide_accepts_the_configuration(host: str, tmp_path: Path) -> None:
    aide = shutil.which("aide", path=SBIN_PATH)
    if aide is None:
        pytest.skip("aide is not installed (./scripts/test installs it with apt-get)")
    config = tmp_path / "aide.conf"
    config.write_text(render("aide.conf.j2", host))
    done = subprocess.run([aide, f"--config={config}", "--config-check"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stderr == "", done.stdout + done.stderr


def test_the_check_script_is_valid_shell_and_signs_its_verdict_into_the_journal() -> None:
    check = render("appliance-integrity-check.j2", "app1")
    done = subprocess.run(["sh", "-n"], input=check, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "<$priority>appliance-integrity" in check  # journald reads <1> as priority alert
    assert "--venv /opt/appliance/venv --wheelhouse /opt/appliance/wheelhouse" in check
    assert "--keyring" not in check  # only with appliance_release_signing_key_src


def manifest(directory: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(MANIFEST_SCRIPT), str(directory)], capture_output=True, text=True,
                          timeout=60)


def test_the_manifest_pins_each_wheel_with_its_sha256(tmp_path: Path) -> None:
    (tmp_path / "appliance-0.3.0-py3-none-any.whl").write_bytes(b"appliance")
    (tmp_path / "Flask_WTF-1.3.0-py3-none-any.whl").write_bytes(b"flask-wtf")
    done = manifest(tmp_path)
    assert done.returncode == 0, done.stderr
    lines = [line for line in (tmp_path / "manifest.txt").read_text().splitlines() if not line.startswith("#")]
    # Names as pip compares them; the file name for people and appliance-verify-installation.
    assert lines == [
        f"appliance==0.3.0 --hash=sha256:{hashlib.sha256(b'appliance').hexdigest()}  # appliance-0.3.0-py3-none-any.whl",
        f"flask-wtf==1.3.0 --hash=sha256:{hashlib.sha256(b'flask-wtf').hexdigest()}  # Flask_WTF-1.3.0-py3-none-any.whl",
    ]


def test_the_manifest_refuses_two_versions_of_a_distribution(tmp_path: Path) -> None:
    (tmp_path / "appliance-0.3.0-py3-none-any.whl").write_bytes(b"a")
    (tmp_path / "click-8.1.0-py3-none-any.whl").write_bytes(b"b")
    (tmp_path / "click-8.5.1-py3-none-any.whl").write_bytes(b"c")
    done = manifest(tmp_path)
    assert done.returncode != 0 and "two wheels of click" in done.stderr
    assert not (tmp_path / "manifest.txt").exists()
