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
* packages are not installed (``appliance_install_packages: false``): nginx, restic, sudo,
  openssl, aide, gpg and mat2 come from ./scripts/test.

The wheelhouse gets its manifest (deploy/wheelhouse-manifest) signed by a release key made
for the run (gpg in a temp home), as docs/install.md builds and signs it; the integrity role
watches the temp root with AIDE, so the first run records a baseline, and the second one must
check clean against it before it changes nothing.

The database is a fresh PostgreSQL database (SQL Server cannot run here; the mssql role is
run in check mode in test_mssql.py). The secrets come from Ansible Vault as in production:
an encrypted vars file and an encrypted master key file, opened with a password file.
"""

from __future__ import annotations

import contextlib
import hashlib
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
import zipfile
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
    sandbox_command,
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
    release_key: ReleaseKey | None = None

    def path(self, name: str) -> Path:
        return Path(str(self.values[name]))


def changed_tasks(output: str) -> set[str]:
    return set(re.findall(r"^TASK \[([^\]]+)\][^\n]*\n(?:(?:ok|skipping|included)[^\n]*\n)*changed: ", output, re.MULTILINE))


def failed_task(output: str) -> str:
    """The name of the task whose failure stopped the run (ansible-core prints an [ERROR]
    block between its header and the `fatal:` line)."""
    fatal = output.find("\nfatal: ")
    assert fatal >= 0, output[-4000:]
    header = re.findall(r"^TASK \[([^\]]+)\]", output[:fatal], re.MULTILINE)
    assert header, output[-4000:]
    return header[-1]


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
    """The appliance's wheel and its dependencies', with their manifest, as docs/install.md builds them."""
    done = subprocess.run([str(VENV_BIN / "python"), "-m", "pip", "wheel", "-q", "--disable-pip-version-check",
                           "-c", str(REPO / "constraints.txt"), "-w", str(directory), str(REPO)],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    assert list(directory.glob("appliance-*.whl"))
    write_manifest(directory)


def write_manifest(directory: Path) -> None:
    done = subprocess.run([SYSTEM_PYTHON, str(REPO / "deploy" / "wheelhouse-manifest"), str(directory)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr


@dataclass
class ReleaseKey:
    """The release manager's signing key, in a gpg home of its own (gpg-agent stopped at the end)."""

    home: Path
    public_key: Path  # binary export, as gpgv reads it

    def gpg(self, *args: str) -> None:
        done = subprocess.run([tool("gpg"), "--batch", "--quiet", "--pinentry-mode", "loopback", "--passphrase", "",
                               *args], env={"PATH": os.environ.get("PATH", ""), "GNUPGHOME": str(self.home)},
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr

    def sign(self, manifest: Path) -> None:
        manifest.with_name(manifest.name + ".asc").unlink(missing_ok=True)
        self.gpg("--armor", "--detach-sign", str(manifest))


@contextlib.contextmanager
def release_key(directory: Path) -> Iterator[ReleaseKey]:
    home = directory / "gnupg"
    home.mkdir(mode=0o700)
    key = ReleaseKey(home, directory / "release-signing-key.gpg")
    try:
        key.gpg("--quick-generate-key", "Release Manager <release@example.invalid>", "ed25519", "sign", "never")
        key.gpg("--output", str(key.public_key), "--export", "release@example.invalid")
        yield key
    finally:
        subprocess.run([tool("gpgconf"), "--kill", "gpg-agent"], env={"GNUPGHOME": str(home)},
                       capture_output=True, timeout=60)


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
    for name in ("nginx", "openssl", "restic", "sudo", "aide", "gpg", "gpgv", "gpgconf"):
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
    for existing in (root / "etc" / "systemd" / "system", site.parent, root / "etc" / "sudoers.d",
                     root / "etc" / "ssh" / "sshd_config.d"):
        existing.mkdir(parents=True)
    (root / "etc" / "sudoers").write_text("root ALL=(ALL:ALL) ALL\n@includedir /etc/sudoers.d\n")
    (root / "etc" / "ssh" / "sshd_config").write_text("Include /etc/ssh/sshd_config.d/*.conf\n")
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
        "appliance_release_signing_key_src": str(base / "release-signing-key.gpg"),
        # ALERT_EMAIL, which appliance doctor (the app role's last check) must accept, and by
        # default the integrity reports' recipients (no relay here: nothing is mailed).
        "appliance_alert_email": ["it-ops@example.com", "security@example.com"],
        "appliance_aide_config": str(root / "etc" / "aide" / "appliance.conf"),
        "appliance_aide_db_dir": str(root / "var" / "lib" / "aide" / "appliance"),
        "appliance_integrity_bin_dir": str(root / "usr" / "local" / "sbin"),
        "appliance_integrity_system_paths": [str(root / "etc" / "sudoers"), f"{root}/etc/sudoers.d/",
                                             str(root / "etc" / "ssh" / "sshd_config"), f"{root}/etc/ssh/sshd_config.d/",
                                             str(root / "etc" / "ld.so.preload")],
    }
    extra = controller / "test-values.json"
    extra.write_text(json.dumps(values))
    inventory = controller / "inventory.yml"
    inventory.write_text(json.dumps({"all": {"children": {"app": {"hosts": {"localhost": {
        "ansible_connection": "local", "ansible_python_interpreter": SYSTEM_PYTHON}}}}}}))

    def run(*args: str, succeed: bool = True, overrides: dict[str, object] | None = None) -> str:
        done = subprocess.run([playbook, "-i", str(inventory), *(args or ("site.yml", "--tags", "app,backup")),
                               "--vault-password-file", str(password_file), "-e", f"@{vault}", "-e", f"@{extra}",
                               *(["-e", json.dumps(overrides)] if overrides else [])],
                              cwd=ANSIBLE_DIR, env=ansible_env(ANSIBLE_LOCAL_TEMP=str(base / "ansible-tmp")),
                              capture_output=True, text=True, timeout=900)
        output = done.stdout + done.stderr
        assert (done.returncode == 0) == succeed, output[-6000:]
        return output

    cleanup = contextlib.ExitStack()
    try:
        key = cleanup.enter_context(release_key(base))
        key.sign(wheelhouse / "manifest.txt")
        first = run()
        second = run()
        result = Converged(root, first, second, values, https_port, http_port, root / "opt" / "appliance" / "venv", run)
        result.values["master_key_bytes"] = master_key_bytes.hex()
        result.release_key = key
        yield result
    finally:
        cleanup.close()
        pg_drop(database)
        shutil.rmtree(base, ignore_errors=True)


def test_the_roles_converge_and_a_second_run_changes_nothing(converged: Converged) -> None:
    changed, unreachable, failed = recap(converged.first)
    assert changed > 0 and unreachable == 0 and failed == 0
    changed, unreachable, failed = recap(converged.second)
    assert (changed, unreachable, failed) == (0, 0, 0), (changed_tasks(converged.second), converged.second[-6000:])


def integrity_check(converged: Converged) -> subprocess.CompletedProcess[str]:
    """appliance-integrity-check as appliance-integrity.service runs it (as root)."""
    command = [str(converged.path("appliance_integrity_bin_dir") / "appliance-integrity-check")]
    env = {"PATH": "/usr/bin:/bin"}
    # Under the unit's seccomp rules (MemoryDenyWriteExecute=, SystemCallFilter=), as systemd runs it.
    wrapped = sandbox_command(command, REPO / "systemd" / "appliance-integrity.service")
    if wrapped is not None:
        command, extra = wrapped
        env.update(extra)
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)


def test_the_first_run_records_the_integrity_baseline_and_the_second_checks_clean_against_it(
        converged: Converged) -> None:
    baseline_task = r"TASK \[integrity : Record the new baseline \(aide --init\)\][^\n]*\n"
    assert re.search(baseline_task + "changed", converged.first), converged.first[-4000:]
    # The second run checked the files first (nothing differed), changed nothing, recorded nothing.
    assert re.search(r"TASK \[integrity : Check the files against the last deployment's baseline[^\n]*\nok",
                     converged.second)
    assert re.search(baseline_task + "skipping", converged.second)

    config, db = converged.path("appliance_aide_config"), converged.path("appliance_aide_db_dir") / "aide.db"
    for path, mode in ((config, 0o600), (db.parent, 0o700)):
        assert (path.stat().st_mode & 0o7777, path.owner()) == (mode, "root"), path
    # The controller keeps the baseline's sha256, for the next deployment to compare.
    kept = converged.root.parent / "controller" / "secrets" / "integrity" / "localhost.aide.db.sha256"
    assert kept.read_text().strip() == hashlib.sha256(db.read_bytes()).hexdigest()

    text = db.read_text()
    spec = next(line for line in text.splitlines() if line.startswith("@@db_spec")).split()[1:]
    entries = {line.split(" ")[0]: line.split(" ") for line in text.splitlines() if line.startswith("/")}
    sha256 = spec.index("sha256")
    config_dir, units = converged.path("appliance_config_dir"), converged.path("appliance_systemd_dir")
    (module,) = converged.venv.glob("lib/python3.*/site-packages/appliance/__init__.py")
    content = [module, converged.venv / "bin" / "appliance", config_dir / "appliance.toml",
               converged.path("appliance_install_dir") / "wheelhouse" / "manifest.txt",
               units / "appliance-web.service", units / "appliance-integrity.service",
               converged.path("appliance_nginx_conf_dir") / "appliance.conf", converged.path("appliance_tls_certificate"),
               converged.root / "etc" / "sudoers", converged.root / "etc" / "ssh" / "sshd_config",
               converged.path("appliance_integrity_bin_dir") / "appliance-integrity-check",
               converged.path("appliance_integrity_bin_dir") / "appliance-verify-installation", config]
    for path in content:
        assert path.is_file() and entries[str(path)][sha256] != "0", path
    # Secrets by their attributes: AIDE never reads them (the audit rules report every read).
    for path in (converged.path("appliance_data_dir") / "master.key", config_dir / "restic.password",
                 config_dir / "backup.env", converged.path("appliance_tls_key")):
        assert entries[str(path)][sha256] == "0", path
    # Neither the rest of the state directory nor AIDE's own database is watched.
    assert not any(name.startswith(str(converged.path("appliance_aide_db_dir"))) for name in entries)
    assert str(converged.path("appliance_data_dir") / ".ssh" / "known_hosts") not in entries

    # The daily check's units, from systemd/ with the configured path.
    unit = (units / "appliance-integrity.service").read_text()
    assert unit == (REPO / "systemd" / "appliance-integrity.service").read_text().replace(
        "/usr/local/sbin", str(converged.path("appliance_integrity_bin_dir")))
    assert (units / "appliance-integrity.timer").read_text() == (REPO / "systemd" / "appliance-integrity.timer").read_text()

    # The daily check, as the timer runs it: nothing differs, and the venv is the signed release's.
    done = integrity_check(converged)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "AIDE found NO differences" in done.stdout
    assert re.search(r"verified: \d+ distributions, \d+ files and \d+ compiled files as in the signed manifest",
                     done.stdout), done.stdout
    assert "no differences from the last deployment's baseline" in done.stdout


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
    assert 'alert_email = ["it-ops@example.com", "security@example.com"]' in toml
    check = (converged.path("appliance_integrity_bin_dir") / "appliance-integrity-check").read_text()
    assert "MAIL_TO=it-ops@example.com,security@example.com\n" in check
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
    # Nothing changed but the integrity baseline, which takes in the new migration venv.
    changed = changed_tasks(rolling)
    assert changed <= {"integrity : Record the new baseline (aide --init)", "integrity : Put the new baseline in place",
                       "integrity : Write this host's baseline checksum"}, rolling[-4000:]
    done = integrity_check(converged)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Check the files against the last deployment's baseline (the daily check)" in output.split(
        "PLAY [Migrations first, from one app host]", 1)[0]


def install_playbook(directory: Path) -> Path:
    """A playbook running the app role's install.yml (copy and check the wheelhouse, pip)."""
    playbook = directory / "install.yml"
    playbook.write_text(json.dumps([{"name": "Install from a wheelhouse", "hosts": "app", "gather_facts": False,
                                     "vars_files": [str(ANSIBLE_DIR / "group_vars" / "all" / "defaults.yml")],
                                     "tasks": [{"name": "The app role's install tasks", "ansible.builtin.include_role": {
                                         "name": str(ANSIBLE_DIR / "roles" / "app"), "tasks_from": "install.yml"},
                                         "vars": {"app_venv": "{{ appliance_install_dir }}/venv"}}]}]))
    return playbook


@pytest.mark.parametrize("signed", [False, True], ids=["hashes", "signature"])
def test_a_wheel_that_differs_from_the_signed_manifest_is_not_installed(converged: Converged, tmp_path: Path,
                                                                        signed: bool) -> None:
    """A dependency's wheel swapped on the way. Unsigned, the manifest's hash stops pip; with a
    signed release, the swapper can rewrite the manifest too, and the signature stops it."""
    wheelhouse = tmp_path / "wheelhouse"
    shutil.copytree(converged.path("appliance_wheelhouse"), wheelhouse)
    (victim,) = wheelhouse.glob("itsdangerous-*.whl")
    with zipfile.ZipFile(victim, "a") as archive:
        archive.writestr("itsdangerous/_capture.py", "import os\n")
    if signed:
        write_manifest(wheelhouse)  # hashes that match, but not the release manager's signature
    install_dir = tmp_path / "install"
    values = {"appliance_wheelhouse": str(wheelhouse), "appliance_install_dir": str(install_dir),
              "appliance_release_signing_key_src": converged.values["appliance_release_signing_key_src"] if signed else ""}
    output = converged.play(str(install_playbook(tmp_path)), succeed=False, overrides=values)
    if signed:
        assert failed_task(output).endswith("Verify the manifest's signature on the host"), output[-4000:]
        assert "BAD signature" in output
        assert not (install_dir / "venv").exists()
    else:
        assert "THESE PACKAGES DO NOT MATCH THE HASHES" in output and victim.name.split("-")[0] in output, output[-4000:]
        # pip checks every wheel before it installs any.
        site = install_dir / "venv" / "lib"
        assert not list(site.glob("python3.*/site-packages/itsdangerous*"))
        assert not list(site.glob("python3.*/site-packages/appliance"))


def test_a_change_outside_a_deployment_is_reported_and_stops_the_next_deployment(converged: Converged) -> None:
    """Last in this module: it leaves the host with a baseline that a root user re-recorded."""
    (module,) = converged.venv.glob("lib/python3.*/site-packages/appliance/__init__.py")
    original = module.read_bytes()
    module.write_bytes(original + b"\n# captures passwords\n")
    dropped = converged.root / "etc" / "sudoers.d" / "helpdesk"
    dropped.write_text("helpdesk ALL=(ALL) NOPASSWD: ALL\n")

    done = integrity_check(converged)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "AIDE found differences between database and filesystem" in done.stdout
    assert re.search(rf"^f[^\n]*: {re.escape(str(module))}$", done.stdout, re.MULTILINE), done.stdout  # AIDE: changed
    assert re.search(rf"^f\+*[^\n]*: {re.escape(str(dropped))}$", done.stdout, re.MULTILINE), done.stdout  # added
    assert f"DIFFERS {module}: not the file in appliance-" in done.stdout  # and not the signed release's
    assert "FILES DIFFER from the last deployment's baseline" in done.stdout

    # The next deployment stops before it changes anything (it would take the change in).
    output = converged.play("site.yml", "--tags", "integrity", succeed=False)
    assert failed_task(output) == "integrity : Check the files against the last deployment's baseline (the daily check)"
    assert str(dropped) in output and "Record the new baseline" not in output

    # Investigated: the program is put back, the sudoers change is kept; the operator accepts.
    module.write_bytes(original)
    output = converged.play("site.yml", "--tags", "integrity", "-e", "appliance_integrity_accept_changes=true")
    assert re.search(r"TASK \[integrity : Record the new baseline \(aide --init\)\][^\n]*\nchanged", output), \
        output[-6000:]
    done = integrity_check(converged)
    assert done.returncode == 0, done.stdout + done.stderr

    # root hides a change by recording a baseline of its own: the daily check sees nothing, but
    # the next deployment finds the baseline is not the one the controller kept.
    dropped.write_text("helpdesk ALL=(ALL) NOPASSWD: ALL\nsupport ALL=(ALL) NOPASSWD: ALL\n")
    aide_config = f"--config={converged.path('appliance_aide_config')}"
    db = converged.path("appliance_aide_db_dir") / "aide.db"
    subprocess.run([tool("aide"), aide_config, "--init"], check=True, capture_output=True, timeout=600)
    db.with_name("aide.db.new").replace(db)
    assert integrity_check(converged).returncode == 0
    output = converged.play("site.yml", "--tags", "integrity", succeed=False)
    assert failed_task(output) == "integrity : Check that the baseline is the one the last deployment recorded"
    assert "is not the baseline the last deployment recorded" in output, output[-4000:]
