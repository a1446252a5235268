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
from appliance.cases.reporting import ReportForm
from appliance.cases.service import QueueFilter
from appliance.crypto.case_cipher import CaseCipher
from appliance.crypto.fields import Place
from tests.functional.test_cli import PASSWORD, Appliance, in_process, one_line_failure

PASSPHRASE = "orchid tundra lantern basalt quiver"


@pytest.fixture
def appliance(tmp_path: Path) -> Appliance:
    app = Appliance(tmp_path, tmp_path / "D" / "appliance.toml")
    app.init()
    app.ok("tenant", "create", "--name", "Example AB", "--slug", "example")
    app.ok("user", "create", "--tenant", "example", "--email", "officer@example.com", "--role", "handler",
           "--password-stdin", stdin=PASSWORD + "\n")
    return app




def file_report(app: Appliance, what: str) -> str:
    with in_process(app) as services:
        tenant = services.tenants.by_slug("example")
        category = services.tenants.categories(tenant.id)[0]
        return services.reporting.submit(tenant, ReportForm(category.id, what), []).case_key


def officer_reads(app: Appliance, password: str) -> list[str]:
    with in_process(app) as services:
        user = services.users.by_email("officer@example.com")
        principal = services.users.principal(user.id, services.users.unlock_private_key(user.id, password))
        readable = []
        for row in services.cases.queue(principal, QueueFilter()):
            if row.accessible:
                readable.append(services.cases.open_case(principal, row.id).report.what)
        return sorted(readable)


def test_escrow_init_recover_and_grant(appliance: Appliance) -> None:
    escrow = appliance.cwd / "escrow.txt"
    data = appliance.json("keys", "escrow", "init", "--tenant", "example", "--out", str(escrow), "--passphrase-stdin",
                          stdin=PASSPHRASE + "\n")
    assert data["tenant"] == "example" and len(data["fingerprint"]) == 39
    assert stat.S_IMODE(escrow.stat().st_mode) == 0o600 and "BEGIN APPLIANCE ESCROW KEY" in escrow.read_text()
    assert PASSPHRASE not in escrow.read_text()
    code, line = appliance.fails("keys", "escrow", "init", "--tenant", "example", "--out", str(escrow),
                                 "--passphrase-stdin", stdin=PASSPHRASE + "\n")
    assert "already exists" in line
    code, line = appliance.fails("keys", "escrow", "init", "--tenant", "example", "--out", str(escrow) + "2",
                                 "--passphrase-stdin", stdin=PASSPHRASE + "\n")
    assert "already has an escrow key" in line
    code, line = appliance.fails("keys", "escrow", "init", "--tenant", "example", "--out", str(escrow) + "3",
                                 "--replace", "--passphrase-stdin", stdin="short\n")
    assert "passphrase" in line

    file_report(appliance, "first report")
    assert officer_reads(appliance, PASSWORD) == ["first report"]
    out = appliance.ok("user", "set-password", "--email", "officer@example.com", "--password-stdin",
                       stdin="a new password from the admin\n")
    assert "keys recover" in out
    assert officer_reads(appliance, "a new password from the admin") == []

    code, line = appliance.fails("keys", "recover", "--tenant", "example", "--email", "officer@example.com",
                                 "--escrow-file", str(escrow), "--passphrase-stdin", stdin="not the passphrase\n")
    assert code == 8 and "wrong passphrase" in line
    code, line = appliance.fails("keys", "recover", "--tenant", "example", "--email", "officer@example.com",
                                 "--escrow-file", str(appliance.cwd / "missing.txt"), "--passphrase-stdin",
                                 stdin=PASSPHRASE + "\n")
    assert "cannot read" in line
    restored = appliance.json("keys", "recover", "--tenant", "example", "--email", "officer@example.com",
                              "--escrow-file", str(escrow), "--passphrase-stdin", stdin=PASSPHRASE + "\n")
    assert restored == {"restored": 1, "skipped": 0}
    assert officer_reads(appliance, "a new password from the admin") == ["first report"]

    appliance.ok("user", "create", "--tenant", "example", "--email", "newcomer@example.com", "--role", "handler",
                 "--password-stdin", stdin=PASSWORD + "\n")
    code, line = appliance.fails("keys", "grant", "--tenant", "example", "--email", "newcomer@example.com",
                                 "--escrow-file", str(escrow), "--passphrase-stdin", stdin=PASSPHRASE + "\n")
    assert "--all-cases" in line
    granted = appliance.json("keys", "grant", "--tenant", "example", "--email", "newcomer@example.com",
                             "--all-cases", "--escrow-file", str(escrow), "--passphrase-stdin",
                             stdin=PASSPHRASE + "\n")
    assert granted == {"granted": 1, "skipped": 0}
    with in_process(appliance) as services:
        actions = [e.action for e in services.session.execute(sa.select(AuditEvent)).scalars()]
        assert actions.count("escrow.used") == 2 and "escrow.granted" in actions
        assert PASSPHRASE not in repr([(e.action, e.detail) for e in services.session.execute(
            sa.select(AuditEvent)).scalars()])
    assert "logbook OK" in appliance.ok("audit", "verify")


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
    assert "escrow init" in line


def test_doctor_reports_each_tenants_keys(appliance: Appliance) -> None:
    checks = {c["name"]: c for c in appliance.json("doctor")["checks"]}
    assert checks["keys example"]["status"] == "warn" and "no escrow key" in checks["keys example"]["detail"]
    appliance.ok("keys", "escrow", "init", "--tenant", "example", "--out", str(appliance.cwd / "e.txt"),
                 "--passphrase-stdin", stdin=PASSPHRASE + "\n")
    appliance.ok("tenant", "create", "--name", "Nobody AB", "--slug", "nobody")
    report = json.loads(appliance.run("doctor", "--json").stdout)
    checks = {c["name"]: c for c in report["checks"]}
    assert checks["keys example"]["status"] == "ok"
    assert checks["keys nobody"]["status"] == "fail" and "refuses reports" in checks["keys nobody"]["detail"]
    assert report["ok"] is False
