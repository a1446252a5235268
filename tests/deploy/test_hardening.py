"""The hardening role's files, rendered as Ansible renders them, and its firewall rules.

The role itself cannot run in the test container (ufw, sshd, sysctl and auditd change the
host's kernel and services); ansible-lint and the syntax check cover its tasks
(test_ansible.py). These tests pin what it writes and which ports it opens to whom.
"""

from __future__ import annotations

import os

import jinja2
import pytest

from tests.deploy.test_ansible import ANSIBLE_DIR

pytestmark = pytest.mark.deploy
yaml = pytest.importorskip("yaml", reason="PyYAML comes with the deploy extra (./scripts/test installs it)")

ROLE = ANSIBLE_DIR / "roles" / "hardening"
DEFAULTS = yaml.safe_load((ANSIBLE_DIR / "group_vars" / "all" / "defaults.yml").read_text("utf-8"))
GROUPS = {"db": ["db1"], "app": ["app1", "app2"], "backup_sites": ["backup1"]}


def render(name: str, host: str, **values: object) -> str:
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, trim_blocks=True, keep_trailing_newline=True,
                             autoescape=False)
    env.filters["bool"] = lambda value: str(value).strip().lower() in ("1", "true", "yes", "on")  # Ansible's
    env.filters["dirname"] = os.path.dirname
    plain = {k: v for k, v in DEFAULTS.items() if not (isinstance(v, str) and "{{" in v)}
    context = {**plain, "ansible_managed": "Ansible managed", "inventory_hostname": host, "groups": GROUPS,
               "appliance_config_dir": "/etc/appliance", "appliance_data_dir": "/var/lib/appliance",
               "appliance_install_dir": "/opt/appliance", "appliance_systemd_dir": "/etc/systemd/system", **values}
    return env.from_string((ROLE / "templates" / name).read_text("utf-8")).render(**context)


def directives(text: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition(" ")
            found.setdefault(key, value)  # sshd keeps the first value it reads
    return found


def test_sshd_allows_keys_only_and_no_root() -> None:
    sshd = directives(render("sshd_hardening.conf.j2", "app1"))
    assert sshd["PermitRootLogin"] == "no" and sshd["PasswordAuthentication"] == "no"
    assert sshd["KbdInteractiveAuthentication"] == "no" and sshd["AuthenticationMethods"] == "publickey"
    assert sshd["AllowTcpForwarding"] == "no" and sshd["X11Forwarding"] == "no" and sshd["MaxAuthTries"] == "3"
    assert set(sshd["Ciphers"].split(",")) <= {"chacha20-poly1305@openssh.com", "aes256-gcm@openssh.com",
                                               "aes128-gcm@openssh.com"}
    assert all(mac.endswith("-etm@openssh.com") for mac in sshd["MACs"].split(","))
    assert "AllowGroups" not in sshd
    assert directives(render("sshd_hardening.conf.j2", "app1", appliance_ssh_allow_groups=["admins"]))["AllowGroups"] == "admins"


def test_audit_rules_watch_the_keys_and_the_configuration() -> None:
    rules = render("appliance.rules.j2", "app1", appliance_tls_key="/etc/ssl/private/appliance.key")
    assert "-w /var/lib/appliance/master.key -p rwa -k appliance-key" in rules
    assert "-w /etc/appliance/restic.password -p rwa -k appliance-key" in rules
    assert "-w /etc/appliance/ -p wa -k appliance-config" in rules
    assert "-w /etc/ssl/private/appliance.key -p rwa -k appliance-key" in rules
    assert "-w /etc/sudoers -p wa -k privileges" in rules
    # Who touches the integrity check's configuration, baseline or scripts is recorded too.
    assert "-w /var/lib/aide/appliance/ -p wa -k appliance-integrity" in rules
    assert "-w /usr/local/sbin/appliance-integrity-check -p wa -k appliance-integrity" in rules
    assert "-w /etc/fail2ban/ -p wa -k appliance-ids" in rules


def test_unattended_upgrades_take_microsofts_packages_on_db_hosts_only() -> None:
    db = render("unattended-upgrades.conf.j2", "db1")
    app = render("unattended-upgrades.conf.j2", "app1")
    assert "site=packages.microsoft.com" in db and "site=packages.microsoft.com" not in app
    for text in (db, app):
        assert "archive=${distro_codename}-security" in text
        assert 'Automatic-Reboot "false"' in text


def test_the_firewall_opens_sql_server_to_the_app_hosts_only() -> None:
    tasks = {t["name"]: t for t in yaml.safe_load((ROLE / "tasks" / "firewall.yml").read_text("utf-8"))}
    sql = tasks["Allow SQL Server from the app hosts only"]
    assert sql["loop"] == "{{ groups['app'] | default([]) }}"
    assert sql["when"] == "inventory_hostname in groups['db'] | default([])"
    assert sql["community.general.ufw"]["port"] == "{{ appliance_db_port | string }}"
    ssh = tasks["Allow SSH from the admin networks"]
    assert ssh["loop"] == "{{ appliance_admin_networks }}"
    final = tasks["Refuse everything else inbound, log refusals, and enable the firewall"]["community.general.ufw"]
    assert (final["state"], final["default"], final["direction"]) == ("enabled", "deny", "incoming")
    assert list(tasks)[-1] == "Refuse everything else inbound, log refusals, and enable the firewall"  # allow rules first


def test_sysctl_hardening_covers_redirects_source_routes_and_kernel_pointers() -> None:
    settings = yaml.safe_load((ROLE / "vars" / "main.yml").read_text("utf-8"))["hardening_sysctl"]
    for key in ("net.ipv4.conf.all.accept_redirects", "net.ipv4.conf.all.send_redirects",
                "net.ipv4.conf.all.accept_source_route", "net.ipv4.ip_forward", "fs.suid_dumpable"):
        assert settings[key] == 0, key
    assert settings["net.ipv4.tcp_syncookies"] == 1 and settings["kernel.kptr_restrict"] == 2
    assert settings["kernel.randomize_va_space"] == 2
