"""The hardening role's firewall tasks, run for real against a stand-in for ufw.

ufw cannot change the test container's firewall (and must not: other tests need its
network), so a small ``ufw`` script first on PATH records each command the role's
community.general.ufw tasks give it. The role runs through ansible-playbook over an
inventory with every kind of host, so the recorded commands are the rules a real run would
write: inbound as before, and outbound only DNS, NTP, the package mirrors, SMTP, the backup
sites and the database, then a default deny of everything else outgoing.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.deploy.role_tasks import run_role_tasks
from tests.deploy.test_ansible import failed_task, recap

pytestmark = pytest.mark.deploy
pytest.importorskip("yaml", reason="PyYAML comes with the deploy extra (./scripts/test installs it)")

FAKE_UFW = """#!/bin/sh
# Stands in for ufw: answers what community.general.ufw asks, records every other command.
case "$1" in
  --version) echo "ufw 0.36.2"; echo "Copyright 2008-2023 Canonical Ltd."; exit 0 ;;
  status) echo "Status: inactive"; cat "$UFW_RECORD" 2>/dev/null; exit 0 ;;
esac
echo "$*" >>"$UFW_RECORD"
"""
HOSTS: dict[str, dict[str, dict[str, object]]] = {
    "db": {"db1": {"ansible_host": "10.0.1.10"}, "db2": {"ansible_host": "10.0.1.11"}},
    "app": {"app1": {"ansible_host": "10.0.2.11"}, "app2": {"ansible_host": "10.0.2.12"}},
    "backup_sites": {"backup1": {"ansible_host": "10.0.9.20"}},
}
VALUES: dict[str, object] = {"appliance_admin_networks": ["10.0.0.0/24"], "appliance_systemd": False,
                             "appliance_install_packages": False}


def firewall(tmp_path: Path, **values: object) -> dict[str, list[str]]:
    """The ufw commands the role's firewall.yml gives on each host, in order."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "ufw"
    fake.write_text(FAKE_UFW)
    fake.chmod(0o755)
    records = tmp_path / "records"
    records.mkdir()
    play = run_role_tasks(tmp_path / "play", "hardening", "firewall.yml", HOSTS, {**VALUES, **values},
                          environment={"UFW_RECORD": f"{records}/{{{{ inventory_hostname }}}}"}, extra_path=bin_dir)
    assert play.returncode == 0, play.output[-6000:]
    _, unreachable, failed = recap(play.output)
    assert (unreachable, failed) == (0, 0)
    return {path.name: path.read_text().splitlines() for path in records.iterdir()}


def outbound(commands: list[str]) -> set[str]:
    """The outgoing allow rules (community.general.ufw writes "from any" in each)."""
    return {c.replace("allow out from any to ", "allow out to ") for c in commands if c.startswith("allow out ")}


@pytest.fixture(scope="module")
def default_rules(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    if not os.access("/bin/sh", os.X_OK):
        pytest.skip("no /bin/sh")
    return firewall(tmp_path_factory.mktemp("firewall"))


def test_every_host_reaches_dns_ntp_packages_smtp_and_dhcp_only(default_rules: dict[str, list[str]]) -> None:
    common = {"allow out to any port 53 proto udp comment out dns", "allow out to any port 53 proto tcp comment out dns",
              "allow out to any port 123 proto udp comment out ntp",
              "allow out to any port 80 proto tcp comment out packages",
              "allow out to any port 443 proto tcp comment out packages",
              "allow out to any port 25 proto tcp comment out smtp",
              "allow out to any port 67 proto udp comment out dhcp"}
    assert outbound(default_rules["backup1"]) == common
    assert outbound(default_rules["app1"]) == common | {
        "allow out to 10.0.1.10 port 1433 proto tcp comment out database db1",
        "allow out to 10.0.1.11 port 1433 proto tcp comment out database db2",
        "allow out to 10.0.9.20 port 22 proto tcp comment out backup backup1"}
    # A db replica reaches the others (Always On), never the app hosts or the backup sites.
    assert outbound(default_rules["db1"]) == common | {
        "allow out to 10.0.1.11 port 1433 proto tcp comment out always on db2",
        "allow out to 10.0.1.11 port 5022 proto tcp comment out always on db2"}


def test_everything_else_outgoing_is_refused_after_the_allow_rules(default_rules: dict[str, list[str]]) -> None:
    for host, commands in default_rules.items():
        deny = commands.index("default deny outgoing")
        assert all(i < deny for i, c in enumerate(commands) if c.startswith("allow out ")), (host, commands)
        # Inbound as before: SSH from the admins; the firewall is enabled by the last task.
        assert "allow from 10.0.0.0/24 to any port 22 proto tcp comment admin ssh" in commands, commands
        assert min(commands.index("default deny incoming"), commands.index("-f enable")) > deny, commands


def test_the_destinations_come_from_the_variables(tmp_path: Path) -> None:
    rules = firewall(tmp_path, appliance_outbound_dns=["10.0.0.53"], appliance_outbound_ntp=["10.0.0.123"],
                     appliance_outbound_package_mirrors=["10.0.7.0/24"], appliance_outbound_smtp=["10.0.0.25"],
                     appliance_smtp_url="smtp+starttls://relay.example.com:587", appliance_outbound_dhcp=False,
                     appliance_outbound_backup=[{"to": "192.0.2.40", "port": 443}],
                     appliance_outbound_database=[{"to": "10.0.3.5", "port": 5432}],
                     appliance_outbound_extra=[{"to": "10.0.0.99", "port": 514, "proto": "udp"}])
    assert outbound(rules["app1"]) == {
        "allow out to 10.0.0.53 port 53 proto udp comment out dns", "allow out to 10.0.0.53 port 53 proto tcp comment out dns",
        "allow out to 10.0.0.123 port 123 proto udp comment out ntp",
        "allow out to 10.0.7.0/24 port 80 proto tcp comment out packages",
        "allow out to 10.0.7.0/24 port 443 proto tcp comment out packages",
        "allow out to 10.0.0.25 port 587 proto tcp comment out smtp",  # the URL's port
        "allow out to 10.0.1.10 port 1433 proto tcp comment out database db1",
        "allow out to 10.0.1.11 port 1433 proto tcp comment out database db2",
        "allow out to 10.0.3.5 port 5432 proto tcp comment out database",
        "allow out to 10.0.9.20 port 22 proto tcp comment out backup backup1",
        "allow out to 192.0.2.40 port 443 proto tcp comment out backup",
        "allow out to 10.0.0.99 port 514 proto udp comment out extra"}
    # Every host mails its integrity reports through the relay itself.
    for host in ("db1", "backup1"):
        assert "allow out to 10.0.0.25 port 587 proto tcp comment out smtp" in outbound(rules[host]), rules[host]


def test_outgoing_can_be_left_open(tmp_path: Path) -> None:
    rules = firewall(tmp_path, appliance_outbound_policy="allow")
    for commands in rules.values():
        assert not outbound(commands) and "default allow outgoing" in commands, commands
        assert not any(re.match(r"default deny out", c) for c in commands)


def test_a_postgresql_server_must_be_given_as_an_address(tmp_path: Path) -> None:
    play = run_role_tasks(tmp_path / "play", "hardening", "main.yml", {"app": {"app1": {}}},
                          {**VALUES, "appliance_db_backend": "postgresql", "appliance_postgresql_host": "pg.example.com"})
    assert play.returncode != 0
    assert failed_task(play.output).endswith("hardening : Check that the app hosts may reach a PostgreSQL server")
    assert "appliance_outbound_database is empty" in " ".join(play.output.split())
    assert "Install the hardening packages" not in play.output  # stopped before anything changed
