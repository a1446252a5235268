"""deploy/ansible: lint, syntax, and the app, nginx and backup roles converged for real.

The converge runs site.yml (tags app and backup: the app and nginx roles, the backup
preparation and repositories) against this machine over a local connection, as root, twice:
the second run must change nothing. Everything the roles write goes under a temp "root"
(every path is an appliance_ variable), except what cannot be moved there:

* a system user and group ``appliance-test`` (the service user) are created for real, and
  nginx's user (www-data) joins that group;
* systemd is not running in the test container, so ``appliance_systemd: false``: the units
  are installed (into the temp root) but not started, and the health checks that need them
  are skipped. Instead the test starts what the roles installed itself — gunicorn from the
  role's venv with the installed unit's ExecStart and Environment=, nginx from the rendered
  site — and checks the portal through it;
* packages are not installed (``appliance_install_packages: false``): nginx, restic, sudo and
  openssl come from ./scripts/test.

The database is a fresh PostgreSQL database (SQL Server cannot run here; the mssql role is
run in check mode in test_mssql.py). The secrets come from Ansible Vault as in production:
an encrypted vars file and an encrypted master key file, opened with a password file.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.deploy.stack import (
    MONITORING_CLIENT,
    REPO,
    SBIN_PATH,
    accepts,
    free_port,
    main_config,
    stop,
    tool,
    wait_until,
)
from tests.support import pg_admin, pg_drop, pg_url

# One converge per run: the module fixture creates a real system user, which two xdist
# workers must not converge at once; scripts/test runs pytest with --dist loadfile, so
# every test of this module runs in one worker.
pytestmark = pytest.mark.deploy

ANSIBLE_DIR = REPO / "deploy" / "ansible"
VENV_BIN = Path(sys.executable).parent
SERVICE_USER = "appliance-test"
# The host's own Python, as on a real app host: it runs Ansible's modules (with Debian's
# python3-cryptography for community.crypto) and builds the venv. This checkout's venv may
# live where the service user cannot reach (e.g. pyenv under /root).
SYSTEM_PYTHON = "/usr/bin/python3"
RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.MULTILINE)


def ansible_tool(name: str) -> str:
    path = VENV_BIN / name
    if not path.exists():
        pytest.skip(f"{name} is not installed (./scripts/test installs the deploy extra)")
    return str(path)


def ansible_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "APPLIANCE_"))}
    env.update(PATH=os.pathsep.join([str(VENV_BIN), SBIN_PATH]), ANSIBLE_CONFIG=str(ANSIBLE_DIR / "ansible.cfg"),
               ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", ANSIBLE_LOCAL_TEMP=extra.pop("ANSIBLE_LOCAL_TEMP", "/tmp"),
               **extra)
    return env


# --- static checks ----------------------------------------------------------------------------


def test_ansible_lint_production_profile_is_clean() -> None:
    done = subprocess.run([ansible_tool("ansible-lint"), "--profile", "production", "--offline", "--nocolor",
                           str(ANSIBLE_DIR)], cwd=ANSIBLE_DIR, env=ansible_env(), capture_output=True, text=True,
                          timeout=600)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "Profile 'production' was required, and it passed" in output, output


@pytest.mark.parametrize("playbook", ["site.yml", "upgrade.yml"])
def test_playbooks_pass_the_syntax_check(playbook: str) -> None:
    done = subprocess.run([ansible_tool("ansible-playbook"), "--syntax-check", "-i", "inventory.example.yml", playbook],
                          cwd=ANSIBLE_DIR, env=ansible_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_default_is_prefixed_and_documented() -> None:
    defaults = (ANSIBLE_DIR / "group_vars" / "all" / "defaults.yml").read_text("utf-8")
    names = re.findall(r"^(\w+):", defaults, re.MULTILINE)
    assert names and all(name.startswith("appliance_") for name in names), names
    lines = defaults.splitlines()
    undocumented = [name for name in names
                    if not any(lines[i - 1].startswith("#") or lines[i - 1].startswith("appliance_")
                               for i, line in enumerate(lines) if line.startswith(f"{name}:"))]
    assert not undocumented, undocumented
    # Every appliance_ variable a role or playbook reads has a default, or is a vault secret.
    vault = (ANSIBLE_DIR / "examples" / "vault.yml").read_text("utf-8")
    secrets_ = set(re.findall(r"^(appliance_\w+):", vault, re.MULTILINE))
    used: set[str] = set()
    for path in ANSIBLE_DIR.rglob("*"):
        if (path.is_file() and path.suffix in (".yml", ".j2") and "examples" not in path.parts
                and path.name != "defaults.yml"):
            used |= set(re.findall(r"\b(appliance_\w+)", path.read_text("utf-8")))
    missing = sorted(used - set(names) - secrets_)
    assert not missing, f"used without a default: {missing}"


# --- the converge -----------------------------------------------------------------------------


@dataclass
class Converged:
    root: Path
    first: str
    second: str
    values: dict[str, object]
    https_port: int
    http_port: int
    venv: Path
    play: Callable[..., str]  # ansible-playbook with the test's inventory, vault and values

    def path(self, name: str) -> Path:
        return Path(str(self.values[name]))


def recap(output: str) -> tuple[int, int, int]:
    match = RECAP.search(output)
    assert match, output[-3000:]
    return int(match.group(3)), int(match.group(4)), int(match.group(5))


def distribution_version() -> str:
    """This host's ansible_distribution_version fact."""
    facts = subprocess.run([ansible_tool("ansible"), "localhost", "-c", "local",
                            "-e", f"ansible_python_interpreter={SYSTEM_PYTHON}",
                            "-m", "ansible.builtin.setup", "-a", "filter=ansible_distribution_version"],
                           env=ansible_env(), capture_output=True, text=True, timeout=120)
    release = re.search(r'"ansible_distribution_version": "([^"]+)"', facts.stdout)
    assert release, facts.stdout + facts.stderr
    return release.group(1)


def build_wheelhouse(directory: Path) -> None:
    """The appliance's wheel and its dependencies', as docs/install.md builds them."""
    done = subprocess.run([str(VENV_BIN / "python"), "-m", "pip", "wheel", "-q", "--disable-pip-version-check",
                           "-c", str(REPO / "constraints.txt"), "-w", str(directory), str(REPO)],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    assert list(directory.glob("appliance-*.whl"))


def vault_encrypt(path: Path, password_file: Path) -> None:
    done = subprocess.run([ansible_tool("ansible-vault"), "encrypt", "--vault-password-file", str(password_file), str(path)],
                          env=ansible_env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert path.read_bytes().startswith(b"$ANSIBLE_VAULT;")


@pytest.fixture(scope="module")
def converged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Converged]:
    if os.geteuid() != 0:
        pytest.skip("the converge creates a system user: run as root (CI and ./scripts/test in the container do)")
    playbook = ansible_tool("ansible-playbook")
    for name in ("nginx", "openssl", "restic", "sudo"):
        tool(name)
    probe = subprocess.run([SYSTEM_PYTHON, "-c", "import sys, venv, cryptography; assert sys.version_info >= (3, 11)"],
                           capture_output=True, text=True, timeout=60)
    if probe.returncode != 0:
        pytest.skip(f"{SYSTEM_PYTHON} needs Python 3.11+, venv and cryptography (./scripts/test installs them)")
    try:
        pg_admin("SELECT 1")
    except Exception as exc:  # psycopg's OperationalError: no server here
        pytest.skip(f"PostgreSQL is not reachable for the app role's database ({exc})")

    # Not under pytest's temp root (0700): the service user must walk down to its directories.
    base = Path(tempfile.mkdtemp(prefix="appliance-converge-"))
    base.chmod(0o755)
    root, controller = base / "root", base / "controller"
    (controller / "secrets").mkdir(parents=True)
    wheelhouse = controller / "wheelhouse"
    build_wheelhouse(wheelhouse)

    # Secrets as an operator keeps them: Ansible Vault, opened with a password file.
    password_file = controller / "vault-password"
    password_file.write_text(secrets.token_hex(16))
    master_key = controller / "secrets" / "master.key"
    master_key_bytes = secrets.token_bytes(32)
    master_key.write_bytes(master_key_bytes)
    vault_encrypt(master_key, password_file)
    vault = controller / "vault.yml"
    vault.write_text(json.dumps({"appliance_restic_password": secrets.token_hex(16)}))
    vault_encrypt(vault, password_file)

    database = f"converge_{uuid.uuid4().hex[:12]}"
    pg_admin(f'CREATE DATABASE "{database}"')

    http_port, https_port = free_port(), free_port()
    nginx_dir = root / "nginx"
    (nginx_dir / "logs").mkdir(parents=True)
    (nginx_dir / "temp").mkdir()
    (root / "etc" / "nginx" / "sites-enabled").mkdir(parents=True)
    (root / "etc" / "nginx" / "sites-enabled" / "default").write_text("# the distribution's default site\n")
    site = root / "etc" / "nginx" / "conf.d" / "appliance.conf"
    # What the distribution's packages (systemd, nginx) have made on a real host.
    for existing in (root / "etc" / "systemd" / "system", site.parent):
        existing.mkdir(parents=True)
    (nginx_dir / "nginx.conf").write_text(main_config(nginx_dir, site))
    values: dict[str, object] = {
        # The test machine is not Ubuntu: the role's release check is told about it.
        "appliance_app_supported_releases": [distribution_version()],
        "appliance_server_name": "localhost",
        "appliance_base_url": f"https://localhost:{https_port}",
        "appliance_install_packages": False,
        "appliance_systemd": False,
        "appliance_user": SERVICE_USER,
        "appliance_group": SERVICE_USER,
        "appliance_python": SYSTEM_PYTHON,
        "appliance_wheelhouse": str(wheelhouse),
        "appliance_install_dir": str(root / "opt" / "appliance"),
        "appliance_config_dir": str(root / "etc" / "appliance"),
        "appliance_data_dir": str(root / "var" / "lib" / "appliance"),
        "appliance_runtime_dir": str(root / "run" / "appliance"),
        "appliance_systemd_dir": str(root / "etc" / "systemd" / "system"),
        "appliance_master_key_src": str(master_key),
        "appliance_database_url": pg_url(database),
        "appliance_migration_database_url": pg_url(database),
        "appliance_monitoring_network": f"{MONITORING_CLIENT}/32",
        "appliance_nginx_conf_dir": str(site.parent),
        "appliance_nginx_log_dir": str(nginx_dir / "logs"),
        "appliance_nginx_default_site": str(root / "etc" / "nginx" / "sites-enabled" / "default"),
        "appliance_nginx_http_port": http_port,
        "appliance_nginx_https_port": https_port,
        "appliance_nginx_check_command": [tool("nginx"), "-t", "-q", "-p", str(nginx_dir), "-c", str(nginx_dir / "nginx.conf")],
        "appliance_tls_certificate": str(root / "etc" / "ssl" / "appliance" / "fullchain.pem"),
        "appliance_tls_key": str(root / "etc" / "ssl" / "private" / "appliance.key"),
        "appliance_backup_dir": str(root / "var" / "backups" / "appliance"),
        "appliance_restic_cache_dir": str(root / "var" / "cache" / "appliance" / "restic"),
        "appliance_backup_sites": [{"name": "site-a", "repository": str(root / "srv" / "backup-a")},
                                   {"name": "site-b", "repository": str(root / "srv" / "backup-b")}],
    }
    extra = controller / "test-values.json"
    extra.write_text(json.dumps(values))
    inventory = controller / "inventory.yml"
    inventory.write_text(json.dumps({"all": {"children": {"app": {"hosts": {"localhost": {
        "ansible_connection": "local", "ansible_python_interpreter": SYSTEM_PYTHON}}}}}}))

    def run(*args: str) -> str:
        done = subprocess.run([playbook, "-i", str(inventory), *(args or ("site.yml", "--tags", "app,backup")),
                               "--vault-password-file", str(password_file), "-e", f"@{vault}", "-e", f"@{extra}"],
                              cwd=ANSIBLE_DIR, env=ansible_env(ANSIBLE_LOCAL_TEMP=str(base / "ansible-tmp")),
                              capture_output=True, text=True, timeout=900)
        output = done.stdout + done.stderr
        assert done.returncode == 0, output[-6000:]
        return output

    try:
        first = run()
        second = run()
        result = Converged(root, first, second, values, https_port, http_port, root / "opt" / "appliance" / "venv", run)
        result.values["master_key_bytes"] = master_key_bytes.hex()
        yield result
    finally:
        pg_drop(database)
        shutil.rmtree(base, ignore_errors=True)


def test_the_roles_converge_and_a_second_run_changes_nothing(converged: Converged) -> None:
    changed, unreachable, failed = recap(converged.first)
    assert changed > 0 and unreachable == 0 and failed == 0
    changed, unreachable, failed = recap(converged.second)
    assert (changed, unreachable, failed) == (0, 0, 0), converged.second[-6000:]


def test_configuration_key_and_units_are_in_place_with_their_modes(converged: Converged) -> None:
    config = converged.path("appliance_config_dir")
    data = converged.path("appliance_data_dir")
    expected = {
        config: (0o750, "root", SERVICE_USER),
        config / "appliance.toml": (0o640, "root", SERVICE_USER),
        config / "freetds.conf": (0o644, "root", SERVICE_USER),
        config / "restic.password": (0o400, SERVICE_USER, SERVICE_USER),
        config / "backup.env": (0o600, "root", "root"),
        data: (0o700, SERVICE_USER, SERVICE_USER),
        data / "master.key": (0o400, SERVICE_USER, SERVICE_USER),
        data / ".ssh" / "id_ed25519": (0o600, SERVICE_USER, SERVICE_USER),
        converged.path("appliance_tls_key"): (0o600, "root", "root"),
    }
    for path, (mode, owner, group) in expected.items():
        st = path.stat()
        assert (st.st_mode & 0o7777, path.owner(), path.group()) == (mode, owner, group), path
    # The vault-encrypted key arrives decrypted, byte for byte.
    assert (data / "master.key").read_bytes().hex() == converged.values["master_key_bytes"]
    toml = (config / "appliance.toml").read_text()
    assert 'base_url = "https://localhost:' in toml and "proxy_count = 1" in toml and "cookie_secure = true" in toml
    assert f'runtime_dir = "{converged.path("appliance_runtime_dir")}"' in toml
    assert f'backup_sites = ["site-a={converged.root}/srv/backup-a", "site-b={converged.root}/srv/backup-b"]' in toml
    # The appliance opens each site with the password the backup role initialised it with.
    assert (f'backup_site_passwords = ["site-a={config}/restic.password", "site-b={config}/restic.password"]'
            in toml)
    assert "encryption = require" in (config / "freetds.conf").read_text()
    # The units are this repository's, with the configured paths.
    units = converged.path("appliance_systemd_dir")
    for name in ("appliance-web.service", "appliance-scheduler.service"):
        unit = (units / name).read_text()
        original = (REPO / "systemd" / name).read_text()
        assert unit == (original.replace("/opt/appliance/venv", str(converged.venv))
                        .replace("/etc/appliance", str(config)).replace("/var/lib/appliance", str(data))
                        .replace("/run/appliance", str(converged.path("appliance_runtime_dir")))
                        .replace("/var/backups/appliance", str(converged.path("appliance_backup_dir")))
                        .replace("/var/cache/appliance/restic", str(converged.path("appliance_restic_cache_dir"))))
    # The default site is gone, so the appliance is the only server on 80 and 443.
    assert not converged.path("appliance_nginx_default_site").exists()


def test_the_role_ends_with_appliance_doctor(converged: Converged) -> None:
    for output in (converged.first, converged.second):
        assert re.search(r"TASK \[app : Check this host end to end[^\n]*\nok: \[localhost\]", output)


def test_the_venv_came_from_the_wheelhouse_and_the_migrations_ran(converged: Converged) -> None:
    env = {"PATH": "/usr/bin:/bin", "APPLIANCE_CONFIG": str(converged.path("appliance_config_dir") / "appliance.toml")}
    done = subprocess.run([str(converged.venv / "bin" / "appliance"), "db", "status", "--json"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["up_to_date"] is True
    assert re.search(r"TASK \[app : Apply the pending migrations\][^\n]*\nskipping", converged.second), \
        "the second run migrated again"


def test_backup_repositories_are_initialised_on_every_site(converged: Converged) -> None:
    for site in ("backup-a", "backup-b"):
        assert (converged.root / "srv" / site / "config").is_file(), site
    env = {"PATH": os.environ.get("PATH", ""),
           "RESTIC_PASSWORD_FILE": str(converged.path("appliance_config_dir") / "restic.password"),
           "RESTIC_REPOSITORY": str(converged.root / "srv" / "backup-a"),
           "RESTIC_CACHE_DIR": str(converged.root / "restic-cache")}
    done = subprocess.run([tool("restic"), "cat", "config"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr  # opens with the password the role installed


def test_the_converged_host_serves_the_portal_through_nginx(converged: Converged, tmp_path: Path) -> None:
    """Start what the roles installed the way systemd would (the unit's ExecStart and
    Environment= as installed, as the service user) and nginx on the rendered site."""
    import http.client
    import ssl

    unit = (converged.path("appliance_systemd_dir") / "appliance-web.service").read_text()
    (exec_start,) = [line.split("=", 1)[1] for line in unit.splitlines() if line.startswith("ExecStart=")]
    env = {"PATH": "/usr/bin:/bin"}
    for line in unit.splitlines():
        if line.startswith("Environment="):
            key, _, value = line.split("=", 1)[1].partition("=")
            env[key] = value
    runtime = converged.path("appliance_runtime_dir")
    runtime.mkdir(parents=True, exist_ok=True)  # systemd's RuntimeDirectory=
    shutil.chown(runtime, SERVICE_USER, SERVICE_USER)
    runtime.chmod(0o750)
    log = tmp_path / "gunicorn.log"
    sudo = tool("sudo")
    argv = [sudo, "-u", SERVICE_USER, "--", "env", *[f"{k}={v}" for k, v in env.items()], *shlex.split(exec_start)]
    with log.open("wb") as out:
        gunicorn = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    nginx_dir = converged.root / "nginx"
    try:
        wait_until(accepts(str(runtime / "web.sock")), gunicorn, "gunicorn", log)
        nginx_log = tmp_path / "nginx.log"
        with nginx_log.open("wb") as out:
            nginx = subprocess.Popen([tool("nginx"), "-p", str(nginx_dir), "-c", str(nginx_dir / "nginx.conf"),
                                      "-g", "daemon off;"], stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_until(accepts(("127.0.0.1", converged.https_port)), nginx, "nginx", nginx_log)
            context = ssl.create_default_context(cafile=str(converged.path("appliance_tls_certificate")))
            conn = http.client.HTTPSConnection("localhost", converged.https_port, context=context, timeout=30)
            try:
                conn.request("GET", "/readyz", headers={"Host": "localhost"})
                response = conn.getresponse()
                body = response.read()
            finally:
                conn.close()
            assert response.status == 200, body
            assert json.loads(body)["status"] == "ready"
            assert response.getheader("Strict-Transport-Security")
            plain = http.client.HTTPConnection("127.0.0.1", converged.http_port, timeout=30)
            try:
                plain.request("GET", "/r/demo/", headers={"Host": "localhost"})
                redirect = plain.getresponse()
                redirect.read()
            finally:
                plain.close()
            assert redirect.status == 301
            assert redirect.getheader("Location") == f"https://localhost:{converged.https_port}/r/demo/"
            # The unit's metrics directory is in use: the workers keep their counters there.
            assert any((runtime / "metrics").iterdir())
        finally:
            stop(nginx)
    finally:
        stop(gunicorn)


def test_upgrade_playbook_migrates_from_a_separate_venv_then_rolls(converged: Converged) -> None:
    # The same version again: the migration venv is made and finds the schema current; the
    # rolling part changes nothing on the (single) app host.
    output = converged.play("upgrade.yml")
    assert "PLAY [Migrations first, from one app host]" in output and "PLAY [One app host at a time]" in output
    migrate_venv = converged.path("appliance_install_dir") / "venv-migrate"
    assert (migrate_venv / "bin" / "appliance").exists()
    assert re.search(r"TASK \[app : Apply the pending migrations\][^\n]*\nskipping", output), output[-4000:]
    rolling = output.split("PLAY [One app host at a time]", 1)[1]
    _, unreachable, failed = recap(rolling)
    assert (unreachable, failed) == (0, 0)
    assert not re.search(r"^changed: ", rolling, re.MULTILINE), rolling[-4000:]
