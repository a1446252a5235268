"""`appliance keys status|rotate|new-master|rotate-master` as real processes, on SQLite/SQLCipher and
PostgreSQL: a rotation killed halfway and resumed, a master key rotation after which only the
new key file exists, and the ways an operator can get it wrong."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from appliance.actors import CLI
from appliance.backup.sites import ResticSite, parse_sites
from appliance.cases.reporting import NewReport
from appliance.clock import utcnow
from appliance.context import build_context
from appliance.crypto import totp
from appliance.crypto.keys import MasterKey
from appliance.keys.models import KeyRotation
from appliance.keys.secrets import BLIND_INDEX, INSTALLATION_DATA, restic_site_purpose
from appliance.operations.master_rotation import MasterKeyRotation
from appliance.persons.models import Person
from appliance.services import Services
from appliance.settings import load_settings
from tests.functional.console import (
    APPLIANCE,
    PASSWORD,
    Appliance,
    choose_own_password,
    in_process,
    initialised_on,
    one_line_failure,
    start_readers,
)
from tests.functional.keys_support import add_persons, all_person_names
from tests.support import BACKENDS

CRASH_ROWS = 600
SITE = "local"


@pytest.fixture(params=BACKENDS)
def appliance(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Appliance]:
    """An installation with one tenant, on the embedded database or on PostgreSQL."""
    with initialised_on(request.param, tmp_path) as app:
        with app.config.open("a") as handle:
            handle.write(f'backup_sites = ["{SITE}={tmp_path / "site"}"]\n')
        app.ok("tenant", "create", "--name", "Example AB", "--slug", "example")
        yield app




def rotation_state(app: Appliance) -> tuple[int, bool] | None:
    with in_process(app) as services:
        row = services.session.execute(sa.select(KeyRotation).order_by(KeyRotation.started_at.desc())).scalars().first()
        return None if row is None else (row.rows_done, row.finished_at is not None)


def rows_done(connection: Any) -> int | None:
    """The rotation's progress, read on a raw DB-API connection: no BEGIN IMMEDIATE (the engine's
    begin hook) and so no wait on SQLite's write lock, whose busy handler may sleep whole seconds."""
    cursor = connection.cursor()
    try:
        cursor.execute("SELECT rows_done FROM key_rotations")
        row = cursor.fetchone()
    finally:
        cursor.close()
        connection.rollback()  # PostgreSQL: the next look sees the next commit
    return None if row is None else int(row[0])


def tenant_names(app: Appliance) -> dict[int, list[str]]:
    with in_process(app) as services:
        tenant = services.tenants.by_slug("example")
        return all_person_names(services.session, services, tenant.id)


# --- rotation of a tenant's key -------------------------------------------------------------------
def doctor_checks(appliance: Appliance) -> list[dict[str, str]]:
    """doctor's checks, whatever its verdict (this installation has no escrow key: it fails)."""
    checks: list[dict[str, str]] = json.loads(appliance.run("doctor", "--json").stdout)["checks"]
    return checks


def test_rotation_killed_halfway_resumes_and_leaves_every_row_readable(appliance: Appliance) -> None:
    names = [f"Person {n:04d}" for n in range(CRASH_ROWS)]
    with in_process(appliance) as services:
        add_persons(services, services.tenants.by_slug("example").id, names)

    log = (appliance.cwd / "rotate.log").open("w")
    watch = build_context(load_settings(environ=appliance.env()))
    reader = watch.engine.raw_connection()
    process = subprocess.Popen([str(APPLIANCE), "keys", "rotate", "--tenant", "example", "--batch", "1"],
                               cwd=appliance.cwd, env=appliance.env(), stdout=log, stderr=log)
    try:
        # Looks cost one plain read each (a WAL reader on SQLite waits for no lock), so the
        # watch sees every few batches and kills the rotation long before its last one.
        deadline, done = time.monotonic() + 120, None
        while time.monotonic() < deadline and process.poll() is None:
            done = rows_done(reader)
            if done is not None and done >= 20:
                break
        assert process.poll() is None, f"the rotation ended before it could be interrupted ({done} rows)"
        process.send_signal(signal.SIGKILL)
        assert process.wait(timeout=30) == -signal.SIGKILL
    finally:
        reader.close()
        watch.close()
        if process.poll() is None:
            process.kill()
            process.wait()
        log.close()

    state = rotation_state(appliance)
    assert state is not None and 20 <= state[0] < CRASH_ROWS and state[1] is False
    interrupted = tenant_names(appliance)
    assert sorted(interrupted) == [1, 2] and sorted(interrupted[1] + interrupted[2]) == names
    status = appliance.json("keys", "status")
    example = status["tenants"][0]
    assert example["current_version"] == 2 and example["rows_on_old_versions"] == len(interrupted[1])
    assert example["unfinished_rotation"]["target_version"] == 2
    [warning] = [c for c in doctor_checks(appliance) if c["name"] == "key rotation"]
    assert warning["status"] == "warn" and "stopped halfway" in warning["detail"]

    result = appliance.run("keys", "rotate", "--tenant", "example", "--batch", "50", timeout=300)
    assert result.returncode == 0, result.stderr
    assert "example: resuming the unfinished rotation to key v2" in result.stderr
    left = len(interrupted[1])
    assert f"{left} row(s) to move" in result.stderr and f"example: {left}/{left} row(s)" in result.stderr
    assert "example: now on key v2" in result.stdout

    assert tenant_names(appliance) == {2: names}
    assert rotation_state(appliance) == (CRASH_ROWS, True)
    assert appliance.json("keys", "status")["tenants"][0]["rows_on_old_versions"] == 0
    assert "logbook OK" in appliance.ok("audit", "verify")
    [done] = [c for c in doctor_checks(appliance) if c["name"] == "key rotation"]
    assert done["status"] == "ok"


def test_rotate_all_with_json_and_progress_lines(appliance: Appliance) -> None:
    with in_process(appliance) as services:
        add_persons(services, services.tenants.by_slug("example").id, ["Tenant One", "Tenant Two", "Tenant Three"])
        add_persons(services, None, ["Staff One"])
    result = appliance.run("keys", "rotate", "--all", "--batch", "2")
    assert result.returncode == 0, result.stderr
    assert "example: 2/3 row(s)" in result.stderr and "example: 3/3 row(s)" in result.stderr
    summary = appliance.json("keys", "rotate", "--all")
    assert summary == {"installation": {"target_version": 3, "resumed": False, "rows_moved": 1, "finished": True},
                       "example": {"target_version": 3, "resumed": False, "rows_moved": 3, "finished": True}}
    status = appliance.json("keys", "status")
    assert status["installation"]["rows"] == {"persons": {"3": 1}}
    assert status["tenants"][0]["rows"]["persons"] == {"3": 3}
    # Since 0.4 content keys are called so ("case_keys" and "legacy case keys" before; README, "Upgrading").
    assert status["tenants"][0]["rows"]["legacy content keys"] == {}
    assert status["tenants"][0]["content_keys"] == {"sealed": 0, "legacy": 0} and "case_keys" not in status["tenants"][0]
    assert "content keys sealed 0, legacy 0" in appliance.ok("keys", "status")


def test_rotate_refuses_bad_scopes_with_one_line(appliance: Appliance) -> None:
    code, line = appliance.fails("keys", "rotate", "--tenant", "nowhere")
    assert code == 6 and "tenant nowhere not found" in line
    _, line = appliance.fails("keys", "rotate")
    assert "--tenant SLUG, --installation or --all" in line
    _, line = appliance.fails("keys", "rotate", "--tenant", "example", "--all")
    assert "one of" in line


# --- the master key ---------------------------------------------------------------------------------
def make_everything(app: Appliance) -> dict[str, object]:
    """A handler (TOTP pending), a report with its case key, persons of the tenant and of the
    installation, and the backup site's repository, all under the current master key."""
    user = app.json("user", "create", "--tenant", "example", "--email", "officer@example.com", "--role", "handler",
                    "--password-stdin", stdin=PASSWORD + "\n")
    app.json("user", "create", "--tenant", "example", "--email", "lead@example.com", "--role", "admin",
             "--password-stdin", stdin=PASSWORD + "\n")
    for email in ("officer@example.com", "lead@example.com"):
        choose_own_password(app, email)
    start_readers(app, "example", "officer@example.com", "lead@example.com")  # MACs under the key binding
    with in_process(app) as services:
        tenant = services.tenants.by_slug("example")
        category = services.tenants.categories(tenant.id)[0]
        receipt = services.reporting.submit(tenant, NewReport(category.id, "what the reporter saw"), [])
        add_persons(services, tenant.id, ["Tenant Person"])
        add_persons(services, None, ["Staff Person"])
        spec = parse_sites(services.ctx.settings.backup_sites)[0]
        password = services.ctx.secret(restic_site_purpose(SITE))
        ResticSite(spec, password.hex(), services.ctx.settings).ensure_repository(may_create=True)
        secrets = {p: services.ctx.secret(p) for p in (BLIND_INDEX, INSTALLATION_DATA, restic_site_purpose(SITE))}
    with in_process(app) as services:  # a signed logbook checkpoint, which verify checks after the rotation
        assert services.audit_pruner.prune(services.ctx.clock()).checkpoint_seq is not None
    return {"totp_secret": user["totp_secret"], "case_key": receipt.case_key.display, "secrets": secrets}


def everything_still_opens(app: Appliance, made: dict[str, object]) -> None:
    with in_process(app) as services:
        tenant = services.tenants.by_slug("example")
        signed_in = services.users.authenticate_password("Officer@Example.com", PASSWORD, "test")  # e-mail index
        code = totp.current_code(str(made["totp_secret"]), services.ctx.clock())
        services.users.complete_enrolment(signed_in.user.id, code, "test")  # the TOTP secret: installation cipher
        assert services.users.email_of(signed_in.user) == "officer@example.com"
        access = services.reporting.open_with_key(tenant, str(made["case_key"]), "reporter")  # blind index
        assert services.reporting.view(tenant, access.case_id, access.private_key).report.what == \
            "what the reporter saw"
        assert all_person_names(services.session, services, tenant.id) == {1: ["Tenant Person"]}
        state = services.readers.state(tenant.id)  # the reader list's MACs (a preserved secret) still verify
        assert state is not None and [r.user_id for r in state.readers] == [signed_in.user.id]
        assert all_person_names(services.session, services, None) == {1: ["Staff Person"]}
        preserved = {p: services.ctx.secret(p) for p in made["secrets"]}  # type: ignore[attr-defined]
        assert preserved == made["secrets"]  # the backup site's password too
        spec = parse_sites(services.ctx.settings.backup_sites)[0]
        ResticSite(spec, preserved[restic_site_purpose(SITE)].hex(), services.ctx.settings).run("cat", "config")


def test_master_key_rotation_then_only_the_new_key_file_reads_everything(appliance: Appliance) -> None:
    made = make_everything(appliance)
    key_file = appliance.data_dir / "master.key"
    old_id = MasterKey.load(key_file).key_id
    new_file = appliance.cwd / "new.key"
    created = appliance.json("keys", "new-master", "--out", str(new_file))
    assert stat.S_IMODE(new_file.stat().st_mode) == 0o400 and new_file.stat().st_size == 32

    report = appliance.json("keys", "rotate-master", "--new-key-file", str(new_file))
    assert (report["old_key_id"], report["new_key_id"]) == (old_id, created["key_id"])
    assert report["tenant_keys"] == 1 and report["installation_keys"] == 1 and report["resumed"] is False
    assert report["sites"] == {SITE: "added"} and report["retired_key_file"] is None
    assert set(report["preserved_secrets"]) >= {BLIND_INDEX, INSTALLATION_DATA, restic_site_purpose(SITE)}
    assert report["database_rekeyed"] is (appliance.data_dir / "appliance.db").exists()
    assert list(appliance.data_dir.glob("master.key*")) == [key_file]
    assert key_file.read_bytes() == new_file.read_bytes() and stat.S_IMODE(key_file.stat().st_mode) == 0o400
    new_file.unlink()  # the operator moves it offline: only the installed copy is left

    everything_still_opens(appliance, made)
    status = appliance.json("keys", "status")
    assert status["master_key_id"] == status["recorded_master_key_id"] == created["key_id"]
    assert "master-key-check" not in status["preserved_secrets"]
    verified = appliance.ok("audit", "verify")
    assert "logbook OK" in verified and "1 signed checkpoint(s) genuine" in verified
    doctor = appliance.json("doctor")
    assert doctor["ok"] is True, doctor
    # The repository also opens with the password the new key file alone derives (restore without database).
    spec = parse_sites(load_settings(environ=appliance.env()).backup_sites)[0]
    derived = MasterKey.load(key_file).derive(restic_site_purpose(SITE)).hex()
    ResticSite(spec, derived, load_settings(environ=appliance.env())).run("cat", "config")


def test_the_old_key_file_is_refused_in_one_line_and_kept_only_when_asked(appliance: Appliance) -> None:
    key_file = appliance.data_dir / "master.key"
    old_bytes, old_id = key_file.read_bytes(), MasterKey.load(key_file).key_id
    new_file = appliance.cwd / "new.key"
    new_id = appliance.json("keys", "new-master", "--out", str(new_file))["key_id"]
    report = appliance.json("keys", "rotate-master", "--new-key-file", str(new_file), "--keep-old")
    retired = appliance.data_dir / f"master.key.retired-{old_id}"
    assert report["retired_key_file"] == str(retired) and retired.read_bytes() == old_bytes
    assert stat.S_IMODE(retired.stat().st_mode) == 0o400

    key_file.chmod(0o600)
    key_file.write_bytes(old_bytes)  # the wrong file put back
    key_file.chmod(0o400)
    _code, line = appliance.fails("tenant", "list")
    if (appliance.data_dir / "appliance.db").exists():
        assert "wrong master key" in line  # SQLCipher: the file does not open at all
    else:
        assert f"the database is wrapped for master key {new_id}; this file is {old_id}" in line


def test_an_interrupted_master_rotation_is_finished_by_running_it_again(appliance: Appliance,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    made = make_everything(appliance)
    new_file = appliance.cwd / "new.key"
    appliance.json("keys", "new-master", "--out", str(new_file))
    settings = load_settings(environ=appliance.env())

    def crash(*_args: object) -> None:
        raise KeyboardInterrupt("power cut")  # after the database, before the key file

    monkeypatch.setattr("appliance.operations.master_rotation.install_key_file", crash)
    with pytest.raises(KeyboardInterrupt):
        MasterKeyRotation(settings, new_file, utcnow, CLI, lambda _m: None).run(keep_old=False)
    monkeypatch.undo()

    _code, line = appliance.fails("tenant", "list")  # the old file no longer fits: one line, no traceback
    assert "wrong master key" in line or "rotate-master" in line
    result = appliance.run("keys", "rotate-master", "--new-key-file", str(new_file))
    assert result.returncode == 0, result.stderr
    assert "finished an interrupted rotation" in result.stdout
    everything_still_opens(appliance, made)


def test_bad_new_key_files_are_refused_in_one_line_and_nothing_changes(appliance: Appliance) -> None:
    key_file = appliance.data_dir / "master.key"
    before = key_file.read_bytes()
    short, loose = appliance.cwd / "short.key", appliance.cwd / "loose.key"
    short.write_bytes(os.urandom(16))
    short.chmod(0o400)
    loose.write_bytes(os.urandom(32))
    loose.chmod(0o644)
    for path, expected in ((short, "exactly 32 bytes"), (loose, "chmod 0400"), (key_file, "current master key"),
                           (appliance.cwd / "missing.key", "file not found")):
        _code, line = appliance.fails("keys", "rotate-master", "--new-key-file", str(path))
        assert expected in line, line
    assert key_file.read_bytes() == before
    status = appliance.json("keys", "status")
    assert status["master_key_id"] == MasterKey.load(key_file).key_id and status["preserved_secrets"] == []
    _code, line = appliance.fails("keys", "new-master", "--out", str(short))
    assert "already exists" in line


def test_status_never_shows_key_material(appliance: Appliance) -> None:
    with in_process(appliance) as services:
        tenant = services.tenants.by_slug("example")
        add_persons(services, tenant.id, ["Secret Name"])
        wrapped = bytes(services.session.execute(sa.select(Person.wrapped_key)).scalar_one())
        material = [services.ctx.master.derive(p).hex() for p in ("tenant-key-wrap/v1", BLIND_INDEX)]
    out = appliance.ok("keys", "status") + appliance.ok("keys", "status", "--json")
    assert "Secret Name" not in out and wrapped.hex() not in out
    assert not any(m in out for m in material)
    assert "example: key v1; persons v1: 1" in out


def test_a_failed_rotate_master_is_one_line(appliance: Appliance) -> None:
    result = appliance.run("keys", "rotate-master")
    assert result.returncode != 0 and "--new-key-file" in result.stderr
    code, line = one_line_failure(appliance.run("keys", "rotate-master", "--new-key-file", "/nonexistent/key"))
    assert code == 78 and "file not found" in line
    assert json.loads(appliance.ok("keys", "status", "--json"))["tenants"][0]["name"] == "example"


def test_a_restore_with_no_database_needs_only_the_new_key_file(tmp_path: Path) -> None:
    app = Appliance(tmp_path, tmp_path / "D" / "appliance.toml")
    app.init()
    with app.config.open("a") as handle:
        handle.write(f'backup_sites = ["{SITE}={tmp_path / "site"}"]\n')
    app.ok("tenant", "create", "--name", "Example AB", "--slug", "example")
    with in_process(app) as services:
        add_persons(services, services.tenants.by_slug("example").id, ["Backed Up"])
    app.ok("backup", "full")  # the site's repository is created under the old key's password
    new_file = tmp_path / "new.key"
    app.ok("keys", "new-master", "--out", str(new_file))
    app.ok("keys", "rotate-master", "--new-key-file", str(new_file))
    new_file.unlink()
    app.ok("backup", "full")  # the app still copies with the preserved password

    for database in app.data_dir.glob("appliance.db*"):
        database.unlink()  # the host's disk is lost; the key file is back from the offline copy
    restored = tmp_path / "restored.db"
    app.ok("backup", "restore", "--site", SITE, "--into", str(restored))
    env = app.env() | {"APPLIANCE_DATABASE_URL": f"sqlite+pysqlcipher:///{restored}"}
    ctx = build_context(load_settings(environ=env))
    try:
        with ctx.sessions() as session:
            services = Services(ctx, session)
            tenant = services.tenants.by_slug("example")
            assert all_person_names(session, services, tenant.id) == {1: ["Backed Up"]}
            session.rollback()
    finally:
        ctx.close()
