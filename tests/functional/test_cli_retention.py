"""`appliance retention …` on both databases: in-process through click (so the FrozenClock of
``ctx`` decides what is due), and once as the real console script in a subprocess."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from appliance.audit.models import AuditEvent
from appliance.cases.models import Case
from appliance.context import AppContext
from appliance.db import GUID
from appliance.retention.models import LegalHold
from appliance.services import Services
from tests.functional.cli_in_process import Console
from tests.functional.conftest import Org, ReportFactory
from tests.functional.console import Appliance
from tests.support import FrozenClock

START = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
NOW = START + dt.timedelta(days=731)


@pytest.fixture
def console(ctx: AppContext, services: Services) -> Console:
    return Console(ctx, services)


@pytest.fixture
def closed_case(services: Services, clock: FrozenClock, file_report: ReportFactory) -> Any:
    def make(org: Org, at: dt.datetime) -> tuple[uuid.UUID, str]:
        clock.now = at
        receipt = file_report(org)
        services.cases.change_status(org.handler, receipt.case_id, "acknowledged")
        services.cases.change_status(org.handler, receipt.case_id, "closed", outcome="withdrawn",
                                     conclusions="Withdrawn by the reporter.")
        reference = services.session.get_one(Case, receipt.case_id).reference
        services.session.commit()
        return receipt.case_id, reference

    return make


def remaining(ctx: AppContext) -> set[uuid.UUID]:
    with ctx.sessions() as session:
        return set(session.execute(sa.select(Case.id)).scalars())


def test_run_lists_then_deletes_the_same_cases(console: Console, ctx: AppContext, clock: FrozenClock, org_a: Org,
                                               org_b: Org, closed_case: Any) -> None:
    due_id, due_ref = closed_case(org_a, START)
    young_id, young_ref = closed_case(org_a, START + dt.timedelta(days=2))
    held_id, held_ref = closed_case(org_b, START)
    console.ok("retention", "hold", "place", "--tenant", "beta", "--case", held_ref, "--reference", "Court 4 O 1/26")
    clock.now = NOW

    text = console.ok("retention", "run", "--dry-run")
    assert f"{due_ref}  closed since 2026-03-02  would be deleted" in text
    assert young_ref not in text and held_ref not in text
    assert "dry run: 1 case(s) would be deleted" in text
    assert "logbook events older than" in text
    dry = console.json("retention", "run", "--dry-run")
    assert dry["dry_run"] is True and dry["cases"]["due"] == 1
    assert dry["tenants"] == [{"tenant": "alpha", "cases": [
        {"id": str(due_id), "reference": due_ref, "reason": "closed", "since": START.isoformat(), "outcome": "due"}]}]
    assert set(dry["logbook_events"]) == {"cutoff", "due", "deleted"}
    assert remaining(ctx) == {due_id, young_id, held_id}

    real = console.json("retention", "run")
    assert [c["id"] for t in real["tenants"] for c in t["cases"]] == [str(due_id)]
    assert real["tenants"][0]["cases"][0]["outcome"] == "deleted"
    assert real["cases"] == {"due": 1, "deleted": 1, "kept": 0, "failed": 0}
    assert remaining(ctx) == {young_id, held_id}
    with ctx.sessions() as session:
        actor = session.execute(sa.select(AuditEvent.actor_type).where(AuditEvent.action == "case.deleted")).scalar_one()
    assert actor == "cli"
    assert "deleted 0 of 0 case(s) due" in console.ok("retention", "run")


def test_a_case_that_cannot_be_deleted_is_named_and_the_exit_code_says_so(
        console: Console, ctx: AppContext, clock: FrozenClock, org_a: Org, closed_case: Any) -> None:
    blocked_id, blocked_ref = closed_case(org_a, START)
    free_id, free_ref = closed_case(org_a, START + dt.timedelta(hours=1))
    probe_meta = sa.MetaData()  # a row the deletion does not know about refuses that one case
    sa.Table("cases", probe_meta, sa.Column("id", GUID, primary_key=True))
    probe = sa.Table("retention_probe", probe_meta, sa.Column("case_id", GUID, sa.ForeignKey("cases.id")))
    with ctx.engine.begin() as connection:
        probe.create(connection)
        connection.execute(probe.insert().values(case_id=blocked_id))
    clock.now = NOW
    result = console.run("retention", "run")
    assert result.exit_code == 1
    assert f"{blocked_ref}  closed since 2026-03-02  failed" in result.stdout
    assert f"{free_ref}  closed since 2026-03-02  deleted" in result.stdout
    assert result.stderr.strip() == ("error: retention: 1 case(s) could not be deleted (1 deleted); "
                                     "they are kept for the next run")
    assert remaining(ctx) == {blocked_id}
    assert free_id not in remaining(ctx)


def test_policy_show_and_set(console: Console, org_a: Org) -> None:
    shown = console.json("retention", "policy", "show", "--tenant", "alpha")
    assert shown == {"tenant": "alpha", "closed_case_days": 730, "unacknowledged_case_days": 365, "default": True,
                     "log_retention_days": 90, "job_run_retention_days": 90}
    assert "closed cases deleted 730 days after closure" in console.ok("retention", "policy", "show",
                                                                        "--tenant", "alpha")
    changed = console.json("retention", "policy", "set", "--tenant", "alpha", "--closed-days", "400")
    assert (changed["closed_case_days"], changed["unacknowledged_case_days"], changed["default"]) == (400, 365, False)
    changed = console.json("retention", "policy", "set", "--tenant", "alpha", "--no-unacknowledged-limit")
    assert (changed["closed_case_days"], changed["unacknowledged_case_days"]) == (400, None)
    assert "kept until closed" in console.ok("retention", "policy", "show", "--tenant", "alpha")
    changed = console.json("retention", "policy", "set", "--tenant", "alpha", "--unacknowledged-days", "120")
    assert changed["unacknowledged_case_days"] == 120


BAD_INPUT = [
    (("policy", "set", "--tenant", "alpha", "--closed-days", "29"), "--closed-days: must be between 30 and 3650"),
    (("policy", "set", "--tenant", "alpha", "--closed-days", "99999"), "--closed-days: must be between"),
    (("policy", "set", "--tenant", "alpha", "--unacknowledged-days", "7"), "--unacknowledged-days: must be between"),
    (("policy", "set", "--tenant", "alpha", "--unacknowledged-days", "100", "--no-unacknowledged-limit"),
     "cannot be combined"),
    (("policy", "set", "--tenant", "alpha"), "give --closed-days"),
    (("policy", "show", "--tenant", "nowhere"), "tenant nowhere not found"),
    (("hold", "place", "--tenant", "alpha", "--reference", "x" * 81), "reference: must be at most 80"),
    (("hold", "place", "--tenant", "alpha", "--reference", " \n "), "reference: is required"),
    (("hold", "place", "--tenant", "alpha", "--reference", "jane.doe@example.com"), "e-mail"),
    (("hold", "place", "--tenant", "alpha", "--case", "ZZZZ-ZZZZ", "--reference", "File 1"),
     "case: is not a case reference of this organisation"),
    (("hold", "release", "--tenant", "alpha", "--id", "not-a-uuid"), "--id: is not a legal hold id"),
    (("hold", "release", "--tenant", "alpha", "--id", "0f6c3b1e-5a7d-4e8f-9b2a-3c4d5e6f7a8b"),
     "legal hold 0f6c3b1e-5a7d-4e8f-9b2a-3c4d5e6f7a8b not found"),
    (("hold", "list", "--tenant", "nowhere"), "tenant nowhere not found"),
]


@pytest.mark.parametrize(("args", "expected"), BAD_INPUT, ids=lambda v: " ".join(v)[:40] if isinstance(v, tuple) else "")
def test_bad_input_is_one_clear_line(console: Console, org_a: Org, args: tuple[str, ...], expected: str) -> None:
    code, line = console.fails("retention", *args)
    assert expected in line and code == (6 if "not found" in expected else 2), line
    assert console.json("retention", "hold", "list", "--tenant", "alpha") == []


def test_holds_place_list_release_within_one_tenant(console: Console, ctx: AppContext, clock: FrozenClock,
                                                    org_a: Org, org_b: Org, closed_case: Any) -> None:
    _, reference = closed_case(org_a, START)
    whole = console.json("retention", "hold", "place", "--tenant", "alpha", "--reference", "Regulator FI-88\x1b[2J")
    clock.advance(minutes=1)
    assert whole["case"] is None and whole["reference"] == "Regulator FI-88[2J"
    on_case = console.ok("retention", "hold", "place", "--tenant", "alpha", "--case", reference.lower(),
                         "--reference", "Court file 4 O 117/26")
    assert f"placed on case {reference}: Court file 4 O 117/26" in on_case
    listed = console.json("retention", "hold", "list", "--tenant", "alpha")
    assert [(h["case"], h["reference"], h["placed_by"]) for h in listed] == [
        (None, "Regulator FI-88[2J", "cli"), (reference, "Court file 4 O 117/26", "cli")]
    assert console.json("retention", "hold", "list", "--tenant", "beta") == []

    # beta cannot release alpha's hold: it does not exist there
    _, line = console.fails("retention", "hold", "release", "--tenant", "beta", "--id", whole["id"])
    assert line == f"error: legal hold {whole['id']} not found"
    assert "the whole tenant released" in console.ok("retention", "hold", "release", "--tenant", "alpha",
                                                     "--id", whole["id"])
    _, line = console.fails("retention", "hold", "release", "--tenant", "alpha", "--id", whole["id"])
    assert "already released" in line
    assert [h["case"] for h in console.json("retention", "hold", "list", "--tenant", "alpha")] == [reference]
    everything = console.json("retention", "hold", "list", "--tenant", "alpha", "--all")
    assert [h["released_at"] is not None for h in everything] == [True, False]
    with ctx.sessions() as session:
        assert session.execute(sa.select(sa.func.count()).select_from(LegalHold)).scalar_one() == 2
        details = session.execute(sa.select(AuditEvent.detail).where(
            AuditEvent.action.like("legal_hold.%"))).scalars().all()
    assert not any("Court" in (d or "") or "Regulator" in (d or "") for d in details)


def test_the_console_script_has_the_commands(tmp_path: Path) -> None:
    """The installed `appliance` script: registered, and a failure is one line (embedded database)."""
    app = Appliance(tmp_path, tmp_path / "D" / "appliance.toml")
    app.init()
    app.ok("tenant", "create", "--name", "Example AB", "--slug", "example")
    assert "dry run: 0 case(s) would be deleted" in app.ok("retention", "run", "--dry-run")
    placed = app.json("retention", "hold", "place", "--tenant", "example", "--reference", "Matter 7")
    assert placed["case"] is None
    code, line = app.fails("retention", "policy", "set", "--tenant", "example", "--closed-days", "5")
    assert code == 2 and "--closed-days" in line
    assert "logbook OK" in app.ok("audit", "verify")
