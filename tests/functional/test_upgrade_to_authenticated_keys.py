"""Upgrading a real installation of the release before authenticated keys (commit b38a3b0, the
code itself, run from git) to this one: `appliance db upgrade`, then the documented one-time
step (README, "Upgrading to 0.3"), and every case is still readable by its handlers (both
databases)."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
import textwrap
import uuid
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from appliance.actors import CLI
from appliance.cases.models import Case, CaseKeySeal
from appliance.cases.reporting import ReportForm
from appliance.cases.service import QueueFilter
from appliance.migrations import runner
from appliance.tenants.models import EscrowKey
from tests.functional.console import PASSWORD, Appliance, in_process
from tests.support import pg_admin, pg_drop, pg_url, principal, start_reader_list

BEFORE = "b38a3b0"  # main before issue 12: sealed keys with unauthenticated recipients
REPO = Path(__file__).resolve().parents[2]
PASSPHRASE = "orchid tundra lantern basalt quiver"


@pytest.fixture(scope="module")
def old_code(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The previous release's packages, exported from git (a fresh clone has the history)."""
    archive = subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", BEFORE, "appliance", "webapp"],
                             capture_output=True, check=False)
    assert archive.returncode == 0, f"git archive {BEFORE} failed (a shallow clone?): {archive.stderr.decode()}"
    target = tmp_path_factory.mktemp("release-before")
    with tarfile.open(fileobj=BytesIO(archive.stdout)) as tar:
        tar.extractall(target, filter="data")
    return target


class OldAppliance(Appliance):
    """The same installation driven by the previous release's code."""

    old: Path

    def old_run(self, *args: str, stdin: str = "") -> str:
        return self._python(f"import sys; from appliance.cli.main import main; sys.argv = ['appliance', *{args!r}]; "
                            "main()", stdin)

    def old_python(self, source: str) -> str:
        return self._python(textwrap.dedent(source), "")

    def _python(self, code: str, stdin: str) -> str:
        env = self.env() | {"PYTHONPATH": str(self.old)}
        done = subprocess.run([sys.executable, "-c", code], cwd=self.cwd, env=env, input=stdin, capture_output=True,
                              text=True, timeout=300, check=False)
        assert done.returncode == 0, done.stderr
        return done.stdout


@pytest.fixture
def installation(backend: str, old_code: Path, tmp_path: Path) -> Iterator[OldAppliance]:
    app = OldAppliance(tmp_path, tmp_path / "D" / "appliance.toml")
    app.old = old_code
    database = None
    extra: list[str] = []
    if backend == "postgres":
        database = f"appliance_up_{uuid.uuid4().hex[:12]}"
        pg_admin(f'CREATE DATABASE "{database}"')
        extra = ["--database-url", pg_url(database)]
    app.old_run("init", "--data-dir", str(app.data_dir), *extra)
    try:
        yield app
    finally:
        if database:
            pg_drop(database)


OLD_DATA = """
    import json
    from appliance.actors import CLI
    from appliance.cases.reporting import ReportForm
    from appliance.context import build_context
    from appliance.services import Services
    from appliance.settings import load_settings

    ctx = build_context(load_settings())
    with ctx.unit_of_work() as session:
        services = Services(ctx, session)
        tenant = services.tenants.by_slug("acme")
        category = services.tenants.categories(tenant.id)[0].id
        receipts = [services.reporting.submit(tenant, ReportForm(category, what), [])
                    for what in ("first old report", "second old report")]
        user = services.users.by_email("handler@acme.example")
        handler = services.users.principal(user.id, services.users.unlock_private_key(user.id, PASSWORD))
        services.cases.post_message(handler, receipts[0].case_id, "an old answer", [])
    print(json.dumps([r.case_key for r in receipts]))
""".replace("PASSWORD", repr(PASSWORD))


def test_an_installation_from_before_upgrades_and_every_case_stays_readable(installation: OldAppliance) -> None:
    app = installation
    app.old_run("tenant", "create", "--name", "Acme AB", "--slug", "acme")
    for email, role in (("handler@acme.example", "handler"), ("lead@acme.example", "admin")):
        app.old_run("user", "create", "--tenant", "acme", "--email", email, "--role", role, "--password-stdin",
                    stdin=PASSWORD + "\n")
    escrow = app.cwd / "old-escrow.txt"  # made on the server, as that release did
    app.old_run("keys", "escrow", "init", "--tenant", "acme", "--out", str(escrow), "--passphrase-stdin",
                stdin=PASSPHRASE + "\n")
    case_keys = json.loads(app.old_python(OLD_DATA))

    # 1. The new code: the schema, and the existing case key pairs bound as they are.
    assert app.json("db", "status")["up_to_date"] is False
    app.ok("db", "upgrade")
    assert app.json("db", "status") == {"current": runner.head_revision(), "head": runner.head_revision(),
                                        "up_to_date": True}
    checks = {c["name"]: c for c in doctor(app)["checks"]}
    assert checks["keys acme"]["status"] == "fail" and "no reader list yet" in checks["keys acme"]["detail"]

    # Until the one-time step, nothing new is accepted (nothing would be sealed to unconfirmed keys).
    with in_process(app) as services:
        tenant = services.tenants.by_slug("acme")
        assert services.reporting.accepting(tenant) is False
        assert services.session.execute(sa.select(EscrowKey.origin)).scalars().all() == ["server"]
        handler_user = services.users.by_email("handler@acme.example")
        # handlers read their old cases right away (before the one-time step too)
        handler = principal(services, handler_user.id, PASSWORD)
        readable = sorted(services.cases.open_case(handler, row.id).report.what
                          for row in services.cases.queue(handler, QueueFilter()))
        assert readable == ["first old report", "second old report"]

    # 2. The one-time step: the handler signs in and starts the list; the lead types the fingerprint.
    with in_process(app) as services:
        tenant = services.tenants.by_slug("acme")
        handler = principal(services, services.users.by_email("handler@acme.example").id, PASSWORD)
        lead = principal(services, services.users.by_email("lead@acme.example").id, PASSWORD)
        assert services.users.unbound_keys() == []  # signing in bound the keys of before
        start_reader_list(services, tenant.id, handler, lead)

    with in_process(app) as services:
        tenant = services.tenants.by_slug("acme")
        handler = principal(services, services.users.by_email("handler@acme.example").id, PASSWORD)
        assert services.reporting.accepting(tenant) is True
        readable = {services.cases.open_case(handler, row.id).report.what: row.id
                    for row in services.cases.queue(handler, QueueFilter())}
        assert set(readable) == {"first old report", "second old report"}
        thread = services.cases.open_case(handler, readable["first old report"]).thread
        assert [m.body for m in thread] == ["an old answer"]
        category = services.tenants.categories(tenant.id)[0].id
        new = services.reporting.submit(tenant, ReportForm(category, "after the upgrade"), [])
        kinds = services.session.execute(sa.select(CaseKeySeal.kind).where(
            CaseKeySeal.case_id == new.case_id)).scalars().all()
        assert sorted(kinds) == ["handler", "reporter"]  # never to the escrow key made on the server
    # The reporters come back with their case keys.
    with in_process(app) as services:
        tenant = services.tenants.by_slug("acme")
        for key in case_keys:
            access = services.reporting.open_with_key(tenant, key, "192.0.2.1")
            assert services.reporting.view(tenant, access.case_id, access.private_key).readable
    # The escrow file made on the server still opens the copies sealed to it.
    with in_process(app) as services:
        tenant = services.tenants.by_slug("acme")
        unlocked = services.case_keys.unlock_escrow(tenant, escrow.read_text(), PASSPHRASE, CLI)
        for case_id in readable.values():
            case = services.session.get(Case, case_id)
            assert case is not None
            assert services.case_access.open_with_escrow(case, unlocked.key, unlocked.private_key)
    checks = {c["name"]: c for c in doctor(app)["checks"]}
    assert checks["keys acme"]["status"] == "warn" and "no confirmed escrow key" in checks["keys acme"]["detail"]
    assert "logbook OK" in app.ok("audit", "verify")


def doctor(app: Appliance) -> dict[str, Any]:
    """`doctor --json`, whatever its verdict (it exits 1 when a check fails)."""
    result = app.run("doctor", "--json")
    assert result.returncode in (0, 1), result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    return report
