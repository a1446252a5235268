"""`appliance audit verify|export` as the real console script, on SQLite/SQLCipher and
PostgreSQL, after a prune; and the web app's JSON-lines stream on its standard output."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from appliance.audit.chain import canonical, event_fields
from appliance.audit.models import AuditCheckpoint, AuditEvent
from appliance.operations.health import health, newest_logbook_check
from appliance.services import Services
from tests.functional.console import Appliance, in_process, initialised_on, mode, one_line_failure
from tests.support import BACKENDS


@pytest.fixture(params=BACKENDS)
def installed(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Appliance]:
    """An initialised appliance with three tenants' worth of events."""
    with initialised_on(request.param, tmp_path) as appliance:
        appliance.ok("tenant", "create", "--name", "Example AB", "--slug", "example")
        appliance.ok("tenant", "create", "--name", "Other GmbH", "--slug", "other")
        appliance.ok("tenant", "create", "--name", "Third Oy", "--slug", "third")
        yield appliance




def tamper(appliance: Appliance, sql: str, **params: object) -> None:
    with in_process(appliance) as services:
        assert services.session.execute(sa.text(sql), params).rowcount == 1  # type: ignore[attr-defined]


def second_tenant_started(services: Services) -> dt.datetime:
    """When the second `tenant create` began: everything before it belongs to the first."""
    other = services.tenants.by_slug("other").id
    first = services.session.execute(sa.select(sa.func.min(AuditEvent.seq)).where(AuditEvent.tenant_id == other))
    return services.session.get_one(AuditEvent, first.scalar_one()).occurred_at


@pytest.fixture
def pruned(installed: Appliance) -> tuple[Appliance, AuditCheckpoint]:
    """The first tenant's events pruned (the other two's are kept); returns the checkpoint."""
    with in_process(installed) as services:
        result = services.audit_pruner.prune(second_tenant_started(services))
        assert result.events_pruned > 0
    with in_process(installed) as services:
        checkpoint = services.session.get_one(AuditCheckpoint, result.checkpoint_seq)
        services.session.expunge(checkpoint)
    return installed, checkpoint


def test_verify_after_a_prune_starts_from_the_checkpoint(pruned: tuple[Appliance, AuditCheckpoint]) -> None:
    appliance, checkpoint = pruned

    line = appliance.ok("audit", "verify").strip()

    assert line.startswith("logbook OK: ") and f"chain intact from event {checkpoint.seq + 1}" in line
    assert "1 signed checkpoint(s) genuine" in line and "\n" not in line
    report = appliance.json("audit", "verify")
    assert (report["ok"], report["from_seq"], report["checkpoint_seq"], report["checkpoints"]) == (
        True, checkpoint.seq + 1, checkpoint.seq, 1)
    doctor = json.loads(appliance.run("doctor", "--json").stdout)  # other checks fail: tenants without handlers
    assert {c["name"]: c["status"] for c in doctor["checks"]}["logbook"] == "ok"


def test_verify_finds_an_edit_before_the_checkpoint_head(pruned: tuple[Appliance, AuditCheckpoint]) -> None:
    appliance, checkpoint = pruned
    victim = checkpoint.seq + 2
    assert victim < checkpoint.head_seq
    tamper(appliance, "UPDATE audit_events SET detail = 'moved' WHERE seq = :s", s=victim)

    result = appliance.run("audit", "verify")

    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stdout.strip().startswith(f"logbook BROKEN at event {victim}: event content changed")
    report = json.loads(appliance.run("audit", "verify", "--json").stdout)
    assert (report["ok"], report["broken_seq"], report["checkpoint_seq"]) == (False, victim, checkpoint.seq)


def test_verify_finds_an_edited_checkpoint(pruned: tuple[Appliance, AuditCheckpoint]) -> None:
    appliance, checkpoint = pruned
    tamper(appliance, "UPDATE audit_checkpoints SET events_pruned = 0 WHERE seq = :s", s=checkpoint.seq)

    result = appliance.run("audit", "verify")

    assert result.returncode == 1
    assert f"BROKEN at event {checkpoint.seq}: checkpoint forged or edited" in result.stdout
    doctor = json.loads(appliance.run("doctor", "--json").stdout)
    assert {c["name"]: c["status"] for c in doctor["checks"]}["logbook"] == "fail"


def test_export_since_gives_exactly_the_events_from_then(installed: Appliance) -> None:
    with in_process(installed) as services:
        since = second_tenant_started(services)
        expected = [canonical(event_fields(e)) for e in services.session.execute(
            sa.select(AuditEvent).where(AuditEvent.occurred_at >= since).order_by(AuditEvent.seq)).scalars()]

    lines = installed.ok("audit", "export", "--since", since.isoformat()).encode().splitlines()

    header = json.loads(lines[0])
    assert lines[1:] == expected and header["events"] == len(expected) > 1
    digest = bytes.fromhex(header["anchor_hash"])  # the README's check, by hand
    for line in lines[1:]:
        digest = hashlib.sha256(digest + line).digest()
    assert digest.hex() == header["last_hash"]
    with in_process(installed) as services:  # the export itself is in the logbook, counts only
        last = services.session.execute(sa.select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1)).scalar_one()
        assert (last.action, last.actor_type, last.detail) == ("audit.exported", "cli", f"events={len(expected)}")


def test_export_to_a_file_as_json(pruned: tuple[Appliance, AuditCheckpoint]) -> None:
    appliance, checkpoint = pruned
    out = appliance.cwd / "logbook.json"

    result = appliance.run("audit", "export", "--since", "2000-01-01", "--until", "2999-12-31T00:00:00Z",
                           "--format", "json", "--out", str(out))

    assert result.returncode == 0 and result.stdout == ""
    assert "exported" in result.stderr and str(out) in result.stderr
    assert mode(out) == 0o600 and not list(appliance.cwd.glob(".logbook.json.partial"))
    document = json.loads(out.read_text())
    assert document["export"]["anchor_seq"] == checkpoint.seq
    assert document["export"]["checkpoint"]["head_seq"] == checkpoint.head_seq
    assert [e["seq"] for e in document["events"]] == list(range(checkpoint.seq + 1, document["export"]["last_seq"] + 1))

    code, line = appliance.fails("audit", "export", "--since", "2000-01-01", "--out", str(appliance.cwd / "no" / "x"))
    assert code == 2 and line.startswith("error: --out: cannot write") and "No such file or directory" in line


@pytest.mark.parametrize(("args", "expected"), [
    (("--since", "last tuesday"), "--since: 'last tuesday' is not an ISO date or time"),
    (("--since", "2026-03-02", "--until", "2026-13-01"), "--until: '2026-13-01' is not an ISO date or time"),
    (("--since", "2026-03-02T10:00:00+01:00", "--until", "2026-03-02T09:00:00Z"), "--until: must be later"),
])
def test_export_bad_times_are_one_clear_line(tmp_path: Path, args: tuple[str, ...], expected: str) -> None:
    appliance = Appliance(tmp_path, tmp_path / "D" / "appliance.toml")  # refused before any configuration is read

    code, line = one_line_failure(appliance.run("audit", "export", *args))

    assert code == 2 and line.startswith(f"error: {expected}"), line


# --- the web app's stream ---------------------------------------------------------------------------
WEB_PROCESS = textwrap.dedent("""
    import webapp.wsgi as wsgi
    from appliance.actors import CLI
    from appliance.context import build_context
    from appliance.services import Services

    ctx = build_context(wsgi._settings)
    with ctx.unit_of_work() as session:
        Services(ctx, session).logbook.record("test.streamed", CLI, detail="kept")
    session = ctx.sessions()
    Services(ctx, session).logbook.record("test.rolled_back", CLI)
    session.rollback()
    session.close()
    ctx.close()
""")


def test_the_web_app_writes_each_committed_event_as_one_json_line_on_stdout(installed: Appliance) -> None:
    result = subprocess.run([sys.executable, "-c", WEB_PROCESS], cwd=installed.cwd, env=installed.env(),
                            capture_output=True, text=True, timeout=120, check=False)

    assert result.returncode == 0, result.stderr
    [line] = result.stdout.splitlines()
    with in_process(installed) as services:
        last = services.session.execute(sa.select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1)).scalar_one()
        assert line == canonical(event_fields(last)).decode()
    assert (json.loads(line)["action"], json.loads(line)["detail"]) == ("test.streamed", "kept")
    assert "test.streamed" not in result.stderr  # not repeated by the root logger


def test_verify_records_its_outcome_for_the_room_and_metrics(installed: Appliance) -> None:
    assert "chain intact" in installed.ok("audit", "verify")
    with in_process(installed) as services:
        newest = newest_logbook_check(services.session)
        assert newest is not None and newest.ok and newest.actor_type == "cli"
        shown = services.chain_status.last_verification(services.tenants.by_slug("other").id)
        assert shown is not None and shown.seq == newest.seq
    tamper(installed, "UPDATE audit_events SET detail = 'role=admin granted-by=dba' WHERE seq = 2")
    failed = installed.run("audit", "verify", "--json")
    assert failed.returncode == 1 and json.loads(failed.stdout)["broken_seq"] == 2
    with in_process(installed) as services:
        newest = newest_logbook_check(services.session)
        assert newest is not None and (newest.ok, newest.broken_seq, newest.actor_type) == (False, 2, "cli")
        values = {g.name: g.samples for g in health(services.session, services.ctx.clock(), ())}
        assert values["appliance_logbook_verify_success"] == [((), 0)]
