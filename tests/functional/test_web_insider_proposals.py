"""The proposals page of an event section (/insiders/t/<slug>/sections/<id>/proposals) over HTTP
on both databases: people proposed from access events uploaded through the API, accepted (on the
section from their first access) and dismissed with a reason, access after ceasing flagged; only
the tenant's insider managers; CSRF; XSS in what was uploaded escaped; markers kept out of the
logs, the logbook and the database."""

from __future__ import annotations

import datetime as dt
import logging
import re
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from appliance.actors import CLI, Role
from appliance.audit.models import AuditEvent
from appliance.db import Base
from appliance.services import Services
from tests.functional.api_support import bearer, client, issue
from tests.functional.world import Markers, Staff, World, make_staff
from tests.web import Browser

XSS = '<script>alert("p")</script>'


def page(world: World, section: uuid.UUID | None = None, slug: str = "alpha") -> str:
    return f"/insiders/t/{slug}/sections/{section or world.alpha_section_id}/proposals"


def manager(world: World) -> Browser:
    return world.staff_browser(world.alpha.staff[Role.INSIDER_MANAGER])


def upload(world: World, *events: tuple[str, dt.timedelta], project: str = "ALPHA-DEAL", slug: str = "alpha") -> None:
    token, _ = issue(world, slug=slug, scopes=("events:upload",))
    body = {"events": [{"id": uuid.uuid4().hex, "source": "dms", "occurred_at": (world.clock() - ago).isoformat(),
                        "actor_email": email, "action": "open", "object": "/deal/memo.pdf", "project": project}
                       for email, ago in events]}
    response = client(world).post("/api/v1/events", json=body, headers=bearer(token))
    assert response.status_code == 202 and response.get_json()["accepted"] == len(events)


def person_ids(html: str) -> list[str]:
    return re.findall(r"/proposals/([0-9a-f-]{36})/accept", html)


def test_proposed_people_are_accepted_or_dismissed(world: World) -> None:
    upload(world, ("anna@alpha.example.com", dt.timedelta(hours=5)), ("bo@alpha.example.com", dt.timedelta(hours=3)),
           ("anna@alpha.example.com", dt.timedelta(hours=1)))
    browser = manager(world)
    shown = browser.get(page(world))
    assert shown.status_code == 200
    html = browser.text()
    assert "anna@alpha.example.com" in html and "bo@alpha.example.com" in html
    anna, bo = person_ids(html)
    accepted = browser.post(f"{page(world)}/{anna}/accept", {
        "first_name": "Anna", "surname": "Lind", "function_reason": "Deal team lawyer"}, form_url=page(world))
    assert accepted.status_code == 303
    assert browser.get(accepted.headers["Location"]).status_code == 200
    assert "anna@alpha.example.com" in browser.text() and person_ids(browser.text()) == [bo]

    missing = browser.post(f"{page(world)}/{bo}/dismiss", {"reason": ""}, form_url=page(world))
    assert missing.status_code == 400 and 'aria-invalid="true"' in browser.text()
    dismissed = browser.post(f"{page(world)}/{bo}/dismiss", {"reason": "Printer technician"}, form_url=page(world))
    assert dismissed.status_code == 303
    browser.get(dismissed.headers["Location"])
    assert person_ids(browser.text()) == [] and "Printer technician" in browser.text()

    with world.ctx.sessions() as session:
        services = Services(world.ctx, session)
        assert world.alpha_section_id is not None
        [part] = services.insider_history.as_at(world.alpha.tenant_id, world.clock(), CLI,
                                                world.alpha_section_id).sections
        # The world's section has its own insider already; Anna is the one who came from a proposal.
        [insider] = [i for i in part.insiders if i.entry_id != world.alpha_insider_id]
        assert insider.details.email == "anna@alpha.example.com"
        assert insider.obtained == (world.clock() - dt.timedelta(hours=5)).replace(second=0, microsecond=0)
        session.rollback()
    with world.ctx.engine.connect() as connection:
        actions = list(connection.execute(sa.select(AuditEvent.action).where(
            AuditEvent.action.like("insider.proposal%"))).scalars())
    assert actions == ["insider.proposal_accepted", "insider.proposal_dismissed"]


def test_access_after_ceasing_is_flagged_on_the_page(world: World) -> None:
    upload(world, ("cy@alpha.example.com", dt.timedelta(hours=5)))
    browser = manager(world)
    browser.get(page(world))
    [cy] = person_ids(browser.text())
    browser.post(f"{page(world)}/{cy}/accept", {"first_name": "Cy", "surname": "Berg", "function_reason": "Analyst"},
                 form_url=page(world))
    with world.ctx.unit_of_work() as session:
        services = Services(world.ctx, session)
        assert world.alpha_section_id is not None
        [part] = services.insider_history.as_at(world.alpha.tenant_id, world.clock(), CLI,
                                                world.alpha_section_id).sections
        [cy_entry] = [i.entry_id for i in part.insiders if i.details.email == "cy@alpha.example.com"]
        services.insider_lists.cease_insider(world.alpha.tenant_id, cy_entry,
                                             world.clock() - dt.timedelta(hours=3), CLI)
    upload(world, ("cy@alpha.example.com", dt.timedelta(hours=1)))
    browser.get(page(world))
    html = browser.text()
    assert "Access after ceasing" in html and "cy@alpha.example.com" in html.split('id="late-title"')[1].split(
        'id="proposed-title"')[0]


def test_only_the_tenants_managers_reach_the_page(world: World, services: Services) -> None:
    upload(world, ("dee@alpha.example.com", dt.timedelta(hours=2)))
    browser = manager(world)
    browser.get(page(world))
    [dee] = person_ids(browser.text())
    beta_manager: Staff = make_staff(services, world.clock, [(world.beta.tenant_id, Role.INSIDER_MANAGER)],
                                     "insiders@beta.example.com")
    outsider = world.staff_browser(beta_manager)
    token = outsider.token("/staff/account")
    assert outsider.get(page(world)).status_code == 404
    assert outsider.get(page(world, slug="beta")).status_code == 404
    for action in ("accept", "dismiss"):
        assert outsider.post(f"{page(world)}/{dee}/{action}", {"csrf_token": token, "reason": "x", "first_name": "x",
                                                               "surname": "x", "function_reason": "x"},
                             csrf=False).status_code == 404
        assert browser.post(f"{page(world)}/{dee}/{action}", {"reason": "x"}, csrf=False).status_code == 400
        assert browser.post(f"{page(world)}/{uuid.uuid4()}/{action}", {
            "reason": "x", "first_name": "x", "surname": "x", "function_reason": "x"},
            form_url=page(world)).status_code == 404
    assert browser.get(page(world, uuid.uuid4())).status_code == 404
    handler = world.staff_browser(world.alpha.staff[Role.HANDLER])
    assert handler.get(page(world)).status_code == 403
    browser.get(page(world))
    assert person_ids(browser.text()) == [dee]  # nothing was decided by any of that


def test_uploaded_text_is_escaped_and_markers_stay_out_of_logs_logbook_and_database(
        world: World, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    markers = Markers()
    upload(world, (f"{markers['mail']}@alpha.example.com", dt.timedelta(hours=2)))
    browser = manager(world)
    browser.get(page(world))
    [person] = person_ids(browser.text())
    reason = f"{XSS} {markers['reason']}"
    assert browser.post(f"{page(world)}/{person}/dismiss", {"reason": reason},
                        form_url=page(world)).status_code == 303
    browser.get(page(world))
    assert XSS not in browser.text() and "&lt;script&gt;" in browser.text()
    needles = list(markers.all.values())
    logged = "\n".join(f"{r.name} {r.getMessage()} {r.args!r}" for r in caplog.records)
    assert [n for n in needles if n in logged] == []
    with world.ctx.engine.connect() as connection:
        values = "\n".join(repr(tuple(row)) for table in Base.metadata.sorted_tables
                           for row in connection.execute(sa.select(table)))
    assert [n for n in needles if n in values] == []
    if world.ctx.settings.backend == "sqlite":
        raw = Path(world.ctx.settings.database_url.split("///", 1)[1]).read_bytes()
        assert [n for n in needles if n.encode() in raw] == []
