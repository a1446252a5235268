"""What the roles refuse before they change anything, run through ansible-playbook on this host
(check mode, local connection): an empty admin network list (ufw would lock SSH out), Microsoft's
licence terms not accepted, SQL Server passwords its policy would refuse. And deploy/new-vault,
whose passwords that policy accepts."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.deploy.test_ansible import ANSIBLE_DIR, SYSTEM_PYTHON, ansible_env, ansible_tool, distribution_version, recap
from tests.deploy.test_mssql import HOSTILE

pytestmark = pytest.mark.deploy
yaml = pytest.importorskip("yaml", reason="PyYAML comes with the deploy extra (./scripts/test installs it)")

NEW_VAULT = ANSIBLE_DIR.parent / "new-vault"
GOOD = "Aa1-" + "x" * 20
PASSWORDS = ("appliance_mssql_sa_password", "appliance_mssql_master_key_password", "appliance_mssql_tde_backup_password",
             "appliance_mssql_migration_password", "appliance_mssql_runtime_password")


def converge(group: str, tags: str, values: dict[str, object]) -> tuple[int, str]:
    """site.yml in check mode with ``tags`` against this host placed in ``group``."""
    with tempfile.TemporaryDirectory(prefix="appliance-preflight-") as work:
        base = Path(work)
        extra = base / "values.json"
        extra.write_text(json.dumps({"appliance_systemd": False, "appliance_secrets_dir": str(base / "secrets"),
                                     **values}))
        inventory = base / "inventory.yml"
        inventory.write_text(json.dumps({"all": {"children": {group: {"hosts": {"localhost": {
            "ansible_connection": "local", "ansible_python_interpreter": SYSTEM_PYTHON}}}}}}))
        done = subprocess.run([ansible_tool("ansible-playbook"), "-i", str(inventory), "site.yml", "--tags", tags,
                               "--check", "-e", f"@{extra}"], cwd=ANSIBLE_DIR,
                              env=ansible_env(ANSIBLE_LOCAL_TEMP=str(base / "tmp")), capture_output=True, text=True,
                              timeout=600)
        return done.returncode, done.stdout + done.stderr


def test_an_empty_admin_network_list_stops_the_firewall_before_it_locks_ssh_out() -> None:
    code, output = converge("app", "hardening", {"appliance_admin_networks": []})
    assert code != 0
    _, _, failed = recap(output)
    assert failed == 1, output[-4000:]
    assert "TASK [hardening : Check that SSH stays open to the administrators]" in output
    assert "appliance_admin_networks is empty: the firewall would refuse SSH from everywhere" in " ".join(output.split())
    # It stopped there: not one firewall rule, package or file was reached.
    assert "TASK [hardening : Allow SSH from the admin networks]" not in output
    assert "TASK [hardening : Install the hardening packages]" not in output


def test_an_admin_network_list_of_blanks_is_refused_as_well() -> None:
    code, output = converge("app", "hardening", {"appliance_admin_networks": [" "]})
    assert code != 0 and "appliance_admin_networks is empty" in " ".join(output.split())


def mssql_values(**overrides: object) -> dict[str, object]:
    return {"appliance_mssql_supported_releases": [distribution_version()],
            **dict.fromkeys(PASSWORDS, GOOD), **overrides}


def test_sql_server_is_not_installed_until_the_customer_accepts_the_licence() -> None:
    code, output = converge("db", "mssql", mssql_values())  # appliance_mssql_accept_eula: its default, false
    flat = " ".join(output.split())
    assert code != 0 and "accepts Microsoft's licence terms (EULA) on your behalf" in flat
    assert "set appliance_mssql_accept_eula: true" in flat and "(Standard edition)" in flat
    assert "TASK [mssql : Install mssql-server and mssql-tools18]" not in output


def test_a_password_sql_server_would_refuse_is_named_and_never_printed() -> None:
    weak = {"appliance_mssql_sa_password": "0123456789abcdef" * 4,  # `openssl rand -hex 32`: two kinds only
            "appliance_mssql_runtime_password": "Aa1-",  # four kinds, too short
            "appliance_mssql_migration_password": "runtime-" + HOSTILE}  # lower, upper, symbols: accepted
    code, output = converge("db", "mssql", mssql_values(appliance_mssql_accept_eula=True, **weak))
    flat = " ".join(output.split())
    assert code != 0
    assert "appliance_mssql_sa_password, appliance_mssql_runtime_password: not within SQL Server's password policy" \
        in flat, output[-4000:]
    for value in (*weak.values(), HOSTILE.replace("'", "''"), GOOD):
        assert value not in output
    assert "TASK [mssql : Install mssql-server and mssql-tools18]" not in output


# --- deploy/new-vault -------------------------------------------------------------------------------
def test_new_vault_fills_every_password_within_sql_servers_policy(tmp_path: Path) -> None:
    target = tmp_path / "vault.yml"
    done = subprocess.run([sys.executable, str(NEW_VAULT), str(target)], capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert target.stat().st_mode & 0o777 == 0o600
    values = yaml.safe_load(target.read_text("utf-8"))
    template = yaml.safe_load((ANSIBLE_DIR / "examples" / "vault.yml").read_text("utf-8"))
    assert set(values) == set(template)
    secrets = {k: v for k, v in values.items() if template[k] == "CHANGE-ME"}
    assert set(PASSWORDS) <= set(secrets) and "appliance_restic_password" in secrets
    for name, value in secrets.items():
        assert len(value) == 32 and re.fullmatch(r"[A-Za-z0-9._~-]+", value), name
        assert all(re.search(kind, value) for kind in ("[A-Z]", "[a-z]", "[0-9]", "[-_.~]")), name
    assert len(set(secrets.values())) == len(secrets)
    assert values["appliance_backup_s3_access_key_id"] == ""
    # Never overwritten.
    again = subprocess.run([sys.executable, str(NEW_VAULT), str(target)], capture_output=True, text=True, timeout=60,
                           check=False)
    assert again.returncode == 1 and "already exists" in again.stderr
    assert yaml.safe_load(target.read_text("utf-8")) == values
