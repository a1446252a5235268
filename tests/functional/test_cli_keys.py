"""`appliance keys …` in subprocesses: escrow file, recovery after a reset, grants, old cases."""

from __future__ import annotations

import json
import stat
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from appliance.actors import CLI
from appliance.audit.models import AuditEvent
from appliance.cases.models import Case, CaseKeySeal
from appliance.cases.service import QueueFilter
from appliance.crypto.case_cipher import CaseCipher
from appliance.crypto.fields import Place
from appliance.errors import AuthenticationFailed
from appliance.readers.service import Signer
from tests.functional.console import (
    PASSPHRASE,
    PASSWORD,
    Appliance,
    choose_own_password,
    file_report,
    in_process,
    offline,
    one_line_failure,
    start_readers,
)
from tests.support import principal


@pytest.fixture
def appliance(tmp_path: Path) -> Appliance:
    """A tenant whose handler (officer) is its first reader, confirmed by the lead (an admin)."""
    app = Appliance(tmp_path, tmp_path / "D" / "appliance.toml")
    app.init()
    app.ok("tenant", "create", "--name", "Example AB", "--slug", "example")
    for email, role in (("officer@example.com", "handler"), ("lead@example.com", "admin")):
        app.ok("user", "create", "--tenant", "example", "--email", email, "--role", role, "--password-stdin",
               stdin=PASSWORD + "\n")
        choose_own_password(app, email)
    start_readers(app, "example", "officer@example.com", "lead@example.com")
    return app


def officer_reads(app: Appliance, password: str, email: str = "officer@example.com") -> list[str]:
    with in_process(app) as services:
        user = services.users.by_email(email)
        me = services.users.principal(user.id, services.users.unlock_private_key(user.id, password))
        readable = []
        for row in services.cases.queue(me, QueueFilter()):
            if row.accessible:
                readable.append(services.cases.open_case(me, row.id).report.what)
        return sorted(readable)


def confirm_pending(app: Appliance, by_email: str, password: str = PASSWORD) -> int:
    """A reader confirms every pending change in the web app (here: through the same service)."""
    with in_process(app) as services:
        tenant = services.tenants.by_slug("example")
        user = services.users.by_email(by_email)
        me = principal(services, user.id, password)
        pending = services.readers.pending(tenant.id)
        for change in pending:
            services.readers.confirm(tenant.id, change.id, Signer.user(me), me.actor)
        return len(pending)


def make_offline_escrow(tmp_path: Path) -> tuple[Path, Path, str]:
    """`keys escrow init` on the compliance lead's offline machine: (private, public, fingerprint)."""
    machine = tmp_path / "offline-laptop"
    result = offline(machine, "keys", "escrow", "init", "--organisation", "example", "--out", "escrow.txt",
                     "--passphrase-stdin", "--json", stdin=PASSPHRASE + "\n")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    return machine / "escrow.txt", machine / "escrow.txt.public.txt", data["fingerprint"]


def test_the_escrow_key_is_made_offline_and_only_its_public_half_installed(
        appliance: Appliance, tmp_path: Path) -> None:
    # On the server (a configuration exists) the private key is not made at all.
    code, line = appliance.fails("keys", "escrow", "init", "--organisation", "example", "--out", "e.txt",
                                 "--passphrase-stdin", stdin=PASSPHRASE + "\n")
    assert "offline machine" in line and not (appliance.cwd / "e.txt").exists()
    private, public, fingerprint = make_offline_escrow(tmp_path)
    assert len(fingerprint) == 39 and stat.S_IMODE(private.stat().st_mode) == 0o600
    assert "BEGIN APPLIANCE ESCROW KEY" in private.read_text() and PASSPHRASE not in private.read_text()
    assert "BEGIN APPLIANCE ESCROW PUBLIC KEY" in public.read_text() and fingerprint in public.read_text()
    again = offline(private.parent, "keys", "escrow", "init", "--organisation", "example", "--out", "escrow.txt",
                    "--passphrase-stdin", stdin=PASSPHRASE + "\n")
    assert "already exists" in one_line_failure(again)[1]
    short = offline(private.parent, "keys", "escrow", "init", "--organisation", "example", "--out", "x.txt",
                    "--passphrase-stdin", stdin="short\n")
    assert "passphrase" in one_line_failure(short)[1]

    # Installing the private file, a tampered public file or another organisation's key: refused.
    for wrong in (private, tmp_path / "missing.txt"):
        code, line = appliance.fails("keys", "escrow", "install", "--tenant", "example", "--public-key", str(wrong))
        assert code == 8
    tampered = tmp_path / "tampered.txt"
    text = public.read_text()
    block = text.split("-----BEGIN APPLIANCE ESCROW PUBLIC KEY-----\n")[1].split("\n")[0]
    tampered.write_text(text.replace(block, block[:20] + ("A" if block[20] != "A" else "B") + block[21:]))
    code, line = appliance.fails("keys", "escrow", "install", "--tenant", "example", "--public-key", str(tampered))
    assert code == 8 and "signature" in line

    installed = appliance.json("keys", "escrow", "install", "--tenant", "example", "--public-key", str(public))
    assert installed["state"] == "pending" and installed["fingerprint"] == fingerprint
    listed = appliance.json("readers", "list", "--tenant", "example")
    assert listed["escrow"] == [] and [p["kind"] for p in listed["pending"]] == ["escrow"]
    receipt_before = file_report(appliance, "before the escrow key is confirmed")
    with in_process(appliance) as services:
        seals = services.session.execute(sa.select(CaseKeySeal.kind)).scalars().all()
        assert "escrow" not in seals, receipt_before
    assert confirm_pending(appliance, "officer@example.com") == 1
    assert appliance.json("readers", "list", "--tenant", "example")["escrow"] == [{"fingerprint": fingerprint}]


def test_recovery_after_a_reset_and_grants_with_the_offline_file(appliance: Appliance, tmp_path: Path) -> None:
    private, public, _fingerprint = make_offline_escrow(tmp_path)
    appliance.ok("keys", "escrow", "install", "--tenant", "example", "--public-key", str(public))
    confirm_pending(appliance, "officer@example.com")
    file_report(appliance, "first report")
    assert officer_reads(appliance, PASSWORD) == ["first report"]

    out = appliance.ok("user", "set-password", "--email", "officer@example.com", "--password-stdin",
                       stdin="a new password from the admin\n")
    assert "keys recover" in out
    with pytest.raises(AuthenticationFailed):  # the administrator's password opens no key
        officer_reads(appliance, "a new password from the admin")
    choose_own_password(appliance, "officer@example.com", "the officer's own again")
    assert officer_reads(appliance, "the officer's own again") == []
    pending = appliance.json("readers", "list", "--tenant", "example")["pending"]
    assert [p["kind"] for p in pending] == ["rekey"]

    code, line = appliance.fails("keys", "recover", "--tenant", "example", "--email", "officer@example.com",
                                 "--escrow-file", str(private), "--passphrase-stdin", stdin="not the passphrase\n")
    assert code == 8 and "wrong passphrase" in line
    code, line = appliance.fails("keys", "recover", "--tenant", "example", "--email", "officer@example.com",
                                 "--escrow-file", str(tmp_path / "missing.txt"), "--passphrase-stdin",
                                 stdin=PASSPHRASE + "\n")
    assert "cannot read" in line
    restored = appliance.json("keys", "recover", "--tenant", "example", "--email", "officer@example.com",
                              "--escrow-file", str(private), "--passphrase-stdin", stdin=PASSPHRASE + "\n")
    assert restored == {"restored": 1, "skipped": 0}  # and the escrow key confirmed the new key
    assert appliance.json("readers", "list", "--tenant", "example")["pending"] == []
    assert officer_reads(appliance, "the officer's own again") == ["first report"]

    appliance.ok("user", "create", "--tenant", "example", "--email", "newcomer@example.com", "--role", "handler",
                 "--password-stdin", stdin=PASSWORD + "\n")
    choose_own_password(appliance, "newcomer@example.com")
    code, line = appliance.fails("keys", "grant", "--tenant", "example", "--email", "newcomer@example.com",
                                 "--all-cases", "--escrow-file", str(private), "--passphrase-stdin",
                                 stdin=PASSPHRASE + "\n")
    assert "not a confirmed reader" in line
    proposed = appliance.json("readers", "propose", "--tenant", "example", "--email", "newcomer@example.com",
                              "--change", "add-not-receiving")
    assert proposed["state"] == "pending"
    confirm_pending(appliance, "officer@example.com", "the officer's own again")
    code, line = appliance.fails("keys", "grant", "--tenant", "example", "--email", "newcomer@example.com",
                                 "--escrow-file", str(private), "--passphrase-stdin", stdin=PASSPHRASE + "\n")
    assert "--all-cases" in line
    granted = appliance.json("keys", "grant", "--tenant", "example", "--email", "newcomer@example.com",
                             "--all-cases", "--escrow-file", str(private), "--passphrase-stdin",
                             stdin=PASSPHRASE + "\n")
    assert granted == {"granted": 1, "skipped": 0}
    assert officer_reads(appliance, PASSWORD, "newcomer@example.com") == ["first report"]
    with in_process(appliance) as services:
        events = services.session.execute(sa.select(AuditEvent)).scalars().all()
        actions = [e.action for e in events]
        assert actions.count("escrow.used") >= 2 and "escrow.granted" in actions and "escrow.installed" in actions
        assert PASSPHRASE not in repr([(e.action, e.detail) for e in events])
    assert "logbook OK" in appliance.ok("audit", "verify")


def test_the_cli_proposes_and_withdraws_but_never_confirms(appliance: Appliance) -> None:
    appliance.ok("user", "create", "--tenant", "example", "--email", "second@example.com", "--role", "handler",
                 "--password-stdin", stdin=PASSWORD + "\n")
    code, line = appliance.fails("readers", "propose", "--tenant", "example", "--email", "second@example.com",
                                 "--change", "add")
    assert "not bound" in line or "key" in line  # no key until they choose their own password
    choose_own_password(appliance, "second@example.com")
    change = appliance.json("readers", "propose", "--tenant", "example", "--email", "second@example.com",
                            "--change", "add")["change"]
    text = appliance.ok("readers", "list", "--tenant", "example")
    assert "PENDING add" in text and "second@example.com" in text and "by cli" in text
    assert appliance.json("readers", "withdraw", "--tenant", "example", "--change", change)["state"] == "withdrawn"
    code, line = appliance.fails("readers", "withdraw", "--tenant", "example", "--change", change)
    assert "already withdrawn" in line
    code, line = appliance.fails("readers", "withdraw", "--tenant", "example", "--change", "not-an-id")
    assert code == 2
    assert [r["email"] for r in appliance.json("readers", "list", "--tenant", "example")["readers"]] == [
        "officer@example.com"]


def test_seal_existing_converts_old_cases_with_progress(appliance: Appliance) -> None:
    file_report(appliance, "old one")
    file_report(appliance, "old two")
    with in_process(appliance) as services:  # make them look like the foundation's cases
        tenant = services.tenants.by_slug("example")
        for case in services.session.execute(sa.select(Case)).scalars():
            seal = services.session.execute(sa.select(CaseKeySeal).where(
                CaseKeySeal.case_id == case.id, CaseKeySeal.kind == "handler")).scalars().first()
            assert seal is not None
            user = services.users.by_email("officer@example.com")
            private = services.users.unlock_private_key(user.id, PASSWORD)
            keys = services.case_access.open_for_user(case, user.id, private, CLI)
            assert keys.cipher.content_key is not None
            case.wrapped_key, case.key_version = services.keyring.wrap_case_key(tenant.id, case.id,
                                                                                keys.cipher.content_key, CLI)
            case.public_key = case.content_key_sealed = case.reporter_public_key = None
        services.session.execute(sa.delete(CaseKeySeal))
    result = appliance.run("keys", "seal-existing", "--tenant", "example")
    assert result.returncode == 0, result.stderr
    assert "example: sealed 2/2" in result.stderr and "2 case(s) sealed" in result.stdout
    assert appliance.json("keys", "seal-existing") == {"example": 0}
    assert officer_reads(appliance, PASSWORD) == ["old one", "old two"]
    with in_process(appliance) as services:
        assert services.session.execute(sa.select(sa.func.count()).select_from(Case).where(
            Case.wrapped_key.is_not(None))).scalar_one() == 0


def test_seal_existing_refuses_with_nobody_to_seal_to(tmp_path: Path) -> None:
    app = Appliance(tmp_path, tmp_path / "D" / "appliance.toml")
    app.init()
    app.ok("tenant", "create", "--name", "Empty AB", "--slug", "empty")
    with in_process(app) as services:
        tenant = services.tenants.by_slug("empty")
        case_id = uuid.uuid4()
        case = Case(id=case_id, tenant_id=tenant.id, reference="OLD1-CASE", status="received",
                    received_at=services.ctx.clock(), updated_at=services.ctx.clock(), case_key_index=b"\x00" * 32,
                    what_sealed=CaseCipher(b"k" * 32).seal("old", Place("cases", "what", case_id)))
        case.wrapped_key, case.key_version = services.keyring.wrap_case_key(tenant.id, case_id, b"k" * 32, CLI)
        services.session.add(case)
    _code, line = one_line_failure(app.run("keys", "seal-existing", "--tenant", "empty"))
    assert "reader list" in line


def test_doctor_reports_each_tenants_keys(appliance: Appliance, tmp_path: Path) -> None:
    checks = {c["name"]: c for c in appliance.json("doctor")["checks"]}
    assert checks["keys example"]["status"] == "warn" and "no confirmed escrow key" in checks["keys example"]["detail"]
    _private, public, _fingerprint = make_offline_escrow(tmp_path)
    appliance.ok("keys", "escrow", "install", "--tenant", "example", "--public-key", str(public))
    checks = {c["name"]: c for c in appliance.json("doctor")["checks"]}
    assert "1 change(s) wait for a reader" in checks["keys example"]["detail"]
    confirm_pending(appliance, "officer@example.com")
    appliance.ok("tenant", "create", "--name", "Nobody AB", "--slug", "nobody")
    report = json.loads(appliance.run("doctor", "--json").stdout)
    checks = {c["name"]: c for c in report["checks"]}
    assert checks["keys example"]["status"] == "ok"
    assert checks["keys nobody"]["status"] == "fail" and "refuses reports" in checks["keys nobody"]["detail"]
    assert report["ok"] is False
