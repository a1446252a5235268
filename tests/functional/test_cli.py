"""The real `appliance` console script in subprocesses, against real databases."""

from __future__ import annotations

import importlib.metadata
import json
import os
import secrets
import shutil
import socket
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import click
import pytest
import sqlalchemy as sa

from appliance.cli.main import cli
from appliance.context import build_context
from appliance.migrations import runner
from appliance.settings import load_settings
from tests.functional.console import (
    APPLIANCE,
    PASSWORD,
    Appliance,
    choose_own_password,
    mode,
    one_line_failure,
    start_readers,
)
from tests.light import LIGHT_ENV
from tests.support import pg_admin, pg_drop, pg_url


@pytest.fixture
def appliance(tmp_path: Path) -> Appliance:
    return Appliance(tmp_path, tmp_path / "D" / "appliance.toml")


@pytest.fixture
def initialised(appliance: Appliance) -> Appliance:
    appliance.init()
    return appliance


@pytest.fixture
def populated(initialised: Appliance) -> Appliance:
    """A tenant with a handler who is its first reader, confirmed by an administrator."""
    initialised.ok("tenant", "create", "--name", "Example AB", "--slug", "example")
    initialised.json("user", "create", "--tenant", "example", "--email", "Officer@Example.com", "--role", "handler",
                     "--password-stdin", stdin=PASSWORD + "\n")
    initialised.json("user", "create", "--tenant", "example", "--email", "lead@example.com", "--role", "admin",
                     "--password-stdin", stdin=PASSWORD + "\n")
    for email in ("officer@example.com", "lead@example.com"):
        choose_own_password(initialised, email)
    start_readers(initialised, "example", "officer@example.com", "lead@example.com")
    return initialised


# --- setting up ------------------------------------------------------------------------------------
def test_init_writes_private_config_key_and_database(appliance: Appliance) -> None:
    output = appliance.init()

    data = appliance.data_dir
    assert str(appliance.config) in output
    assert mode(data) == 0o700
    assert mode(appliance.config) == 0o600
    assert mode(data / "master.key") == 0o400 and (data / "master.key").stat().st_size == 32
    database = data / "appliance.db"
    assert mode(database) == 0o600
    for extra in data.glob("appliance.db-*"):
        assert mode(extra) & 0o077 == 0, extra
    assert not database.read_bytes().startswith(b"SQLite format 3")
    config = appliance.config.read_text()
    assert "sqlite+pysqlcipher:///" in config and str(data / "master.key") in config
    head = runner.head_revision()
    assert appliance.json("db", "status") == {"current": head, "head": head, "up_to_date": True}
    assert "logbook OK: 0 events" in appliance.ok("audit", "verify")


def test_init_twice_refuses_with_one_line(initialised: Appliance) -> None:
    key_before = (initialised.data_dir / "master.key").read_bytes()

    code, line = initialised.fails("init", "--data-dir", str(initialised.data_dir))

    assert code == 78 and "already exists" in line and line.startswith("error: ")
    assert (initialised.data_dir / "master.key").read_bytes() == key_before


def test_init_json_reports_where_things_went(appliance: Appliance) -> None:
    out = json.loads(appliance.ok("init", "--data-dir", str(appliance.data_dir), "--json"))
    assert out == {"config": str(appliance.config), "master_key_file": str(appliance.data_dir / "master.key"),
                   "backend": "sqlite+pysqlcipher"}


# --- tenants and users ------------------------------------------------------------------------------
def test_tenant_and_user_administration(initialised: Appliance) -> None:
    created = initialised.ok("tenant", "create", "--name", "Example AB", "--slug", "example")
    assert "/r/example/" in created
    (tenant,) = initialised.json("tenant", "list")
    assert (tenant["slug"], tenant["name"]) == ("example", "Example AB")
    uuid.UUID(tenant["id"])

    user = initialised.json("user", "create", "--tenant", "example", "--email", "Officer@Example.com",
                            "--role", "handler", "--role", "auditor", "--password-stdin", stdin=PASSWORD + "\n")
    assert isinstance(user, dict)
    assert user["email"] == "officer@example.com" and user["roles"] == ["handler", "auditor"]
    assert user["totp_uri"].startswith("otpauth://totp/") and user["totp_secret"] in user["totp_uri"]

    code, line = initialised.fails("user", "create", "--tenant", "example", "--email", "officer@EXAMPLE.com",
                                   "--role", "handler", "--password-stdin", stdin=PASSWORD + "\n")
    assert code != 0 and "already exists" in line

    (listed,) = initialised.json("user", "list", "--tenant", "example")
    assert listed == {"id": user["id"], "email": "officer@example.com", "roles": ["auditor", "handler"],
                      "disabled": False, "two_factor": False}

    assert "disabled" in initialised.ok("user", "disable", "--email", "officer@example.com")
    (listed,) = initialised.json("user", "list", "--tenant", "example")
    assert listed["disabled"] is True

    reset = initialised.json("user", "reset-2fa", "--email", "officer@example.com")
    assert isinstance(reset, dict)
    assert reset["totp_uri"].startswith("otpauth://totp/") and reset["totp_secret"] != user["totp_secret"]

    assert "logbook OK" in initialised.ok("audit", "verify")


BAD_INPUT = [
    (("tenant", "create", "--name", "Bad", "--slug", "Not A Slug"), "slug"),
    (("tenant", "create", "--name", "Example AB", "--slug", "example"), "already exists"),
    (("user", "create", "--tenant", "nowhere", "--email", "a@example.com", "--role", "handler", "--password-stdin"),
     "tenant nowhere not found"),
    (("user", "create", "--tenant", "example", "--email", "not-an-address", "--role", "handler", "--password-stdin"),
     "e-mail"),
    (("user", "create", "--tenant", "example", "--email", "a@example.com", "--role", "handler"), "password-stdin"),
    (("user", "disable", "--email", "nobody@example.com"), "user with the e-mail address given not found"),
    (("user", "reset-2fa", "--email", "nobody@example.com"), "user with the e-mail address given not found"),
    (("user", "list", "--tenant", "nowhere"), "tenant nowhere not found"),
]


def test_bad_input_is_one_clear_line(populated: Appliance) -> None:
    for args, expected in BAD_INPUT:  # one after the other: they share one SQLite file
        _, line = populated.fails(*args, stdin=PASSWORD + "\n")
        assert expected in line, (args, line)
    for stdin, expected in (("short\n", "at least 12"), ("", "nothing on standard input")):
        _, line = populated.fails("user", "create", "--tenant", "example", "--email", "a@example.com", "--role",
                                  "handler", "--password-stdin", stdin=stdin)
        assert expected in line
    assert "chain intact" in populated.ok("audit", "verify")


# --- the logbook ------------------------------------------------------------------------------------
def test_audit_verify_names_the_tampered_event(populated: Appliance) -> None:
    assert "chain intact" in populated.ok("audit", "verify")
    settings = load_settings(environ={"APPLIANCE_CONFIG": str(populated.config), **LIGHT_ENV})
    context = build_context(settings)
    try:
        with context.unit_of_work() as session:
            count = session.execute(sa.text("SELECT count(*) FROM audit_events")).scalar_one()
            victim = count // 2 + 1
            # A value no event holds: the verification `audit verify` just recorded moved the victim.
            session.execute(sa.text("UPDATE audit_events SET detail = 'role=admin granted-by=dba' WHERE seq = :s"),
                            {"s": victim})
    finally:
        context.close()

    result = populated.run("audit", "verify")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"BROKEN at event {victim}" in result.stdout
    report = json.loads(populated.run("audit", "verify", "--json").stdout)
    assert (report["ok"], report["broken_seq"]) == (False, victim)
    doctor = json.loads(populated.run("doctor", "--json").stdout)
    assert doctor["ok"] is False
    assert any(c["name"] == "logbook" and c["status"] == "fail" and str(victim) in c["detail"]
               for c in doctor["checks"])


def test_doctor_passes_on_a_fresh_install(populated: Appliance) -> None:
    report = populated.json("doctor")
    assert isinstance(report, dict) and report["ok"] is True
    statuses = {c["name"]: c["status"] for c in report["checks"]}
    for name in ("settings", "master key file", "database", "database tls", "schema", "logbook"):
        assert statuses[name] == "ok", report
    # A fresh install has no backup site yet: a warning, not a failure.
    sites = next(c for c in report["checks"] if c["name"] == "backup sites")
    assert sites["status"] == "warn" and "at least 2" in sites["detail"]


# --- broken installs: one line, never a traceback ---------------------------------------------------
EVERY_COMMAND = [
    ("db", "status"), ("db", "upgrade"), ("tenant", "list", "--json"),
    ("tenant", "create", "--name", "X", "--slug", "x"), ("user", "list", "--tenant", "example"),
    ("user", "create", "--tenant", "example", "--email", "b@example.com", "--role", "handler", "--password-stdin"),
    ("user", "grant", "--email", "officer@example.com", "--tenant", "example", "--role", "admin"),
    ("user", "revoke", "--email", "officer@example.com", "--tenant", "example", "--role", "handler"),
    ("user", "disable", "--email", "officer@example.com"), ("user", "enable", "--email", "officer@example.com"),
    ("user", "reset-2fa", "--email", "officer@example.com"),
    ("user", "set-password", "--email", "officer@example.com", "--password-stdin"),
    ("audit", "verify", "--json"), ("demo", "setup"), ("serve", "--bind", "127.0.0.1:0"), ("api-token", "list", "--json"),
]


def replace_master_key(appliance: Appliance) -> None:
    key = appliance.data_dir / "master.key"
    key.chmod(0o600)
    key.write_bytes(secrets.token_bytes(32))
    key.chmod(0o400)


def test_wrong_master_key_every_command_fails_with_one_line(populated: Appliance) -> None:
    replace_master_key(populated)

    for result in populated.run_all(EVERY_COMMAND, stdin=PASSWORD + "\n"):
        code, line = one_line_failure(result)
        assert code == 69 and "wrong master key" in line, result.args

    result = populated.run("doctor", "--json")
    assert result.returncode == 1 and "Traceback" not in result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert any(c["status"] == "fail" and "wrong master key" in c["detail"] for c in report["checks"])


def test_missing_config_is_one_clear_line(appliance: Appliance) -> None:
    for result in appliance.run_all(EVERY_COMMAND, stdin=PASSWORD + "\n"):
        code, line = one_line_failure(result)
        assert code == 78 and str(appliance.config) in line and "appliance init" in line, result.args


@pytest.mark.parametrize(("breakage", "expected"), [
    ("key-mode", "chmod 0400"),
    ("key-missing", "file not found"),
    ("key-short", "exactly 32 bytes"),
    ("config-toml", "not valid TOML"),
    ("config-unknown", "UNKNOWN_THING"),
    ("config-backend", "DATABASE_URL"),
    ("config-no-tls", "setting DATABASE_URL: reaches PostgreSQL at db1.example.com over the network without a verified"),
    ("database-gone", "not found; restore it from a backup"),
    ("vault-gone", "not found; restore it with `appliance backup restore-vault`"),
])
def test_broken_install_is_one_clear_line(initialised: Appliance, breakage: str, expected: str) -> None:
    key = initialised.data_dir / "master.key"
    if breakage == "key-mode":
        key.chmod(0o644)
    elif breakage == "key-missing":
        key.unlink()
    elif breakage == "key-short":
        key.chmod(0o600)
        key.write_bytes(b"x" * 16)
        key.chmod(0o400)
    elif breakage == "config-toml":
        initialised.config.write_text("database_url = \n")
    elif breakage == "config-unknown":
        initialised.config.write_text(initialised.config.read_text() + 'unknown_thing = "x"\n')
    elif breakage == "config-backend":
        text = initialised.config.read_text().replace("sqlite+pysqlcipher:///", "mysql:///")
        initialised.config.write_text(text)
    elif breakage == "config-no-tls":
        lines = [line for line in initialised.config.read_text().splitlines() if not line.startswith("database_url")]
        initialised.config.write_text("\n".join([*lines, 'database_url = "postgresql+psycopg://app:secret-pw@'
                                                 'db1.example.com/appliance?sslmode=require"', ""]))
    elif breakage == "database-gone":  # e.g. a volume that did not mount
        for file in initialised.data_dir.glob("appliance.db*"):
            file.unlink()
    elif breakage == "vault-gone":
        (initialised.data_dir / "vault.db").unlink()

    for args in (("tenant", "list"), ("audit", "verify")):
        _, line = initialised.fails(*args)
        assert expected in line, (args, line)
        assert "secret-pw" not in line  # a refused URL's password is never printed


def test_a_missing_vault_is_refused_never_recreated_empty(populated: Appliance) -> None:
    """An empty vault.db would make every person's data unreadable without a word: only `init`
    and `backup restore-vault` may create it."""
    populated.ok("backup", "full")  # no sites: the vault's copy goes beside the local backups
    vault = populated.data_dir / "vault.db"
    vault.unlink()

    for args in (("tenant", "list"), ("person", "find", "--email", "officer@example.com"), ("db", "upgrade"),
                 ("serve", "--bind", "127.0.0.1:0")):
        code, line = populated.fails(*args)
        assert code == 69 and str(vault) in line and "`appliance backup restore-vault`" in line, (args, line)
    assert not vault.exists()
    result = populated.run("doctor", "--json")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    assert checks["person vault"]["status"] == "fail" and "restore-vault" in checks["person vault"]["detail"]
    assert not vault.exists()

    assert "restored 2 person key share" in populated.ok("backup", "restore-vault")  # the officer and the lead
    assert vault.exists()
    report = populated.json("doctor")
    assert {c["name"]: c["status"] for c in report["checks"]}["person vault"] != "fail", report
    assert "officer@example.com" not in populated.ok("person", "find", "--email", "officer@example.com")


def test_db_upgrade_makes_the_vault_of_an_install_from_before_it(initialised: Appliance) -> None:
    """An install from before the person chain has no vault and no person: nothing to lose."""
    (initialised.data_dir / "vault.db").unlink()
    initialised.ok("db", "upgrade")
    assert (initialised.data_dir / "vault.db").exists()


def unreadable_runs(data_dir: Path) -> tuple[list[str], Callable[[], None]]:
    """A command prefix under which ``data_dir`` cannot be read, and how to undo it. As root (CI)
    the directory goes to another owner and the command runs without CAP_DAC_OVERRIDE and
    CAP_DAC_READ_SEARCH, which root needs to read someone else's private directory."""
    if os.geteuid() != 0:
        data_dir.chmod(0)
        return [], lambda: data_dir.chmod(0o700)
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("setpriv (util-linux) is not installed")
    os.chown(data_dir, 65534, 65534)
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search", "--"], lambda: os.chown(data_dir, 0, 0)


def test_an_unreadable_data_dir_is_one_clear_line(populated: Appliance, tmp_path: Path) -> None:
    data = populated.data_dir
    # The config (and the key) can also live outside the data directory, as in production.
    outside = tmp_path / "etc"
    outside.mkdir()
    key_outside = outside / "master.key"
    key_outside.write_bytes((data / "master.key").read_bytes())
    key_outside.chmod(0o400)
    config_with_key_inside = outside / "appliance.toml"
    config_with_key_inside.write_text(populated.config.read_text())
    config_with_key_outside = outside / "outside-key.toml"
    config_with_key_outside.write_text(populated.config.read_text().replace(str(data / "master.key"), str(key_outside)))
    prefix, undo = unreadable_runs(data)
    try:
        for config in (populated.config, config_with_key_inside, config_with_key_outside):
            env = populated.env() | {"APPLIANCE_CONFIG": str(config)}
            for args in (("tenant", "list"), ("audit", "verify"), ("serve", "--bind", "127.0.0.1:0")):
                result = subprocess.run([*prefix, str(APPLIANCE), *args], env=env, cwd=populated.cwd, text=True,
                                        capture_output=True, timeout=120, check=False)
                _, line = one_line_failure(result)
                assert "permission denied" in line and "user" in line, (config.name, args, line)
            result = subprocess.run([*prefix, str(APPLIANCE), "doctor", "--json"], env=env, cwd=populated.cwd,
                                    text=True, capture_output=True, timeout=120, check=False)
            assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
            report = json.loads(result.stdout)
            assert any(c["status"] == "fail" and "permission denied" in c["detail"] for c in report["checks"])
    finally:
        undo()


def test_serve_on_a_busy_address_is_one_clear_line(populated: Appliance, tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, line = populated.fails("serve", "--bind", f"127.0.0.1:{port}")
        assert code == 69 and f"127.0.0.1:{port}" in line and "already in use" in line
    path = tmp_path / "web.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as busy:
        busy.bind(str(path))
        busy.listen()
        code, line = populated.fails("serve", "--bind", f"unix:{path}")
        assert code == 69 and str(path) in line and "already listens" in line
    code, line = populated.fails("serve", "--bind", "nonsense")
    assert code == 69 and "HOST:PORT" in line


# --- help -------------------------------------------------------------------------------------------------
def command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for name, command in sorted(group.commands.items()):
        yield (*prefix, name)
        if isinstance(command, click.Group):
            yield from command_paths(command, (*prefix, name))


def test_help_works_for_every_command_without_a_configuration(appliance: Appliance) -> None:
    paths = [(), *command_paths(cli)]
    assert ("user", "reset-2fa") in paths and ("audit", "verify") in paths
    for path, result in zip(paths, appliance.run_all([(*path, "--help") for path in paths]), strict=True):
        assert result.returncode == 0, (path, result.stderr)
        assert result.stdout.startswith(f"Usage: appliance {' '.join(path)}".rstrip()), (path, result.stdout)
        assert result.stderr == "", (path, result.stderr)
    assert not appliance.config.exists()


def test_version(appliance: Appliance) -> None:
    assert appliance.ok("--version").strip() == f"appliance, version {importlib.metadata.version('appliance')}"


# --- PostgreSQL ---------------------------------------------------------------------------------------
@pytest.fixture
def pg_database() -> Iterator[str]:
    name = f"appliance_cli_{uuid.uuid4().hex[:12]}"
    pg_admin(f'CREATE DATABASE "{name}"')
    yield name
    pg_drop(name)


def test_init_on_postgresql(appliance: Appliance, pg_database: str) -> None:
    url = pg_url(pg_database)
    appliance.init("--database-url", url)

    assert url in appliance.config.read_text()
    assert mode(appliance.data_dir / "master.key") == 0o400
    assert not (appliance.data_dir / "appliance.db").exists()
    head = runner.head_revision()
    assert appliance.json("db", "status") == {"current": head, "head": head, "up_to_date": True}
    appliance.ok("tenant", "create", "--name", "Example AB", "--slug", "example")
    for email, role in (("officer@example.com", "handler"), ("lead@example.com", "admin")):
        appliance.json("user", "create", "--tenant", "example", "--email", email, "--role", role,
                       "--password-stdin", stdin=PASSWORD + "\n")
        choose_own_password(appliance, email)
    refused = appliance.run("doctor", "--json")  # nobody can read reports yet: refused
    assert refused.returncode == 1 and json.loads(refused.stdout)["ok"] is False
    start_readers(appliance, "example", "officer@example.com", "lead@example.com")
    assert "chain intact" in appliance.ok("audit", "verify")
    assert appliance.json("doctor")["ok"] is True

    replace_master_key(appliance)  # PostgreSQL opens, and says which master key it is wrapped for
    code, line = appliance.fails("user", "list", "--tenant", "example")
    assert code == 78 and "the database is wrapped for master key" in line


def test_init_on_unreachable_postgresql_is_one_line(appliance: Appliance) -> None:
    code, line = appliance.fails("init", "--data-dir", str(appliance.data_dir), "--database-url",
                                 pg_url(f"appliance_missing_{uuid.uuid4().hex[:8]}"))
    assert code != 0 and "database" in line
    assert not appliance.config.exists()
