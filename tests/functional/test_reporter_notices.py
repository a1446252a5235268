"""A reporter's "a new message is waiting" mails: sealed address, nothing from the case in the
mail, at most one per case in six hours, never a sign of whether an address exists, erased with
the case."""

from __future__ import annotations

import dataclasses
import logging
import re
import secrets
from email import message_from_bytes

import pytest
import sqlalchemy as sa

from appliance.actors import CLI, Role
from appliance.audit.models import AuditEvent
from appliance.cases.models import Case, ReporterNotifyAddress
from appliance.cases.reporter_notices import ReporterNotices
from appliance.jobs.scheduler import Scheduler
from appliance.notify.mailer import Mailer
from appliance.operations.rotation import Scope, key_rotations
from appliance.services import Services
from tests.functional.conftest import Inbox, Org, ReportFactory
from tests.functional.world import PASSWORD, World, count
from tests.support import FrozenClock, principal
from tests.web import receipt_key


def marker(label: str) -> str:
    return f"MK{label}{secrets.token_hex(6)}"


def notices(world: World, port: int) -> Scheduler:
    world.ctx.settings = dataclasses.replace(world.ctx.settings, smtp_url=f"smtp://127.0.0.1:{port}")
    return Scheduler(world.ctx, "host-a:1")


def logbook_text(world: World) -> str:
    with world.ctx.sessions() as session:
        rows = session.execute(sa.select(AuditEvent.action, AuditEvent.object_type, AuditEvent.object_id,
                                         AuditEvent.detail)).all()
        session.rollback()
    return "\n".join(str(tuple(r)) for r in rows)


def file_through_the_portal(world: World, what: str, notify: str) -> str:
    reporter = world.browser("192.0.2.50")
    response = reporter.post("/r/alpha/report", {"category": str(world.alpha.category_id), "what": what,
                                                 "notify": notify}, content_type="multipart/form-data")
    return receipt_key(reporter, response)


def test_the_mail_says_only_that_a_message_waits_once_per_six_hours(
        world: World, services: Services, clock: FrozenClock, inbox: tuple[Inbox, int],
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    mailbox, port = inbox
    address, content = f"{marker('addr')}@example.net", marker("content")
    key = file_through_the_portal(world, f"report {content}", address)
    assert count(world.ctx, "reporter_notify_addresses") == 1
    scheduler = notices(world, port)
    assert scheduler.run_job("reporter-notices") == "ok"
    assert mailbox.messages == []  # nothing new yet: the reporter wrote last

    handler_id = world.alpha.staff[Role.HANDLER].user_id
    handler = principal(services, handler_id, PASSWORD)
    (case_id,) = services.session.scalars(sa.select(Case.id).where(
        Case.tenant_id == world.alpha.tenant_id, Case.id.not_in((world.alpha_case.id, world.alpha_other_case.id))))
    clock.advance(minutes=5)
    services.cases.post_message(handler, case_id, f"answer {content}", [])
    services.session.commit()
    assert scheduler.run_job("reporter-notices") == "ok"
    (raw,) = mailbox.messages
    mail = message_from_bytes(raw)
    assert mail["To"] == address
    body = mail.get_payload(decode=True).decode()  # type: ignore[union-attr]
    assert "http://localhost/r/alpha/follow-up" in body or "/r/alpha/follow-up" in body
    reference = services.session.get_one(Case, case_id).reference
    for secret in (content, key, key.replace("-", ""), reference, str(case_id), case_id.hex,
                   world.alpha.staff[Role.HANDLER].email, "Alpha Ltd"):
        assert secret.encode() not in raw, secret

    # Two more answers within six hours: no mail. After the window: one, for both.
    for minutes in (30, 60):
        clock.advance(minutes=minutes)
        services.cases.post_message(handler, case_id, f"more {content}", [])
        services.session.commit()
        assert scheduler.run_job("reporter-notices") == "ok"
    assert len(mailbox.messages) == 1
    clock.advance(hours=6)
    assert scheduler.run_job("reporter-notices") == "ok"
    assert len(mailbox.messages) == 2
    clock.advance(hours=7)
    assert scheduler.run_job("reporter-notices") == "ok"
    assert len(mailbox.messages) == 2  # nothing new since

    # The link opens the plain sign-in form: the case key is still needed.
    link = re.search(r"https?://[^\s]+/r/alpha/follow-up", body)
    assert link
    page = world.browser("192.0.2.51").get("/r/alpha/follow-up")
    assert page.status_code == 200 and 'name="case_key"' in page.get_data(as_text=True)
    assert content not in page.get_data(as_text=True)

    # Staff never see the address; the logbook and the logs never hold it.
    handler_page = world.staff_browser(world.alpha.staff[Role.HANDLER]).get(f"/staff/cases/{case_id}")
    assert handler_page.status_code == 200 and address not in handler_page.get_data(as_text=True)
    assert address.split("@")[0] not in logbook_text(world)
    # The appliance's own logs (the test's SMTP server, aiosmtpd's "mail.log", is the recipient: left out).
    ours = "\n".join(f"{r.name} {r.getMessage()}" for r in caplog.records if not r.name.startswith("mail.log"))
    assert "reporter-notices ok" in ours
    assert address.split("@")[0] not in ours and content not in ours


def test_the_follow_up_page_sets_and_removes_without_telling_what_was_there(
        world: World, services: Services) -> None:
    reporter = world.reporter_browser(world.alpha, world.alpha_case)
    address = f"{marker('follow')}@example.org"
    page = reporter.get("/r/alpha/case").get_data(as_text=True)
    assert 'action="/r/alpha/case/notify"' in page

    answers = []
    for data in ({"address": "", "remove": "x"}, {"address": address, "save": "x"},
                 {"address": f"other.{address}", "save": "x"}, {"address": "", "remove": "x"},
                 {"address": "", "remove": "x"}):
        response = reporter.post("/r/alpha/case/notify", data, form_url="/r/alpha/case")
        assert response.status_code == 303
        answers.append(response.headers["Location"])
        shown = reporter.get(response.headers["Location"]).get_data(as_text=True)
        assert address not in shown and 'data-testid="notify-done"' in shown
    # Removing with or without an address stored gives the same answer.
    assert answers[0] == answers[3] == answers[4] and answers[1] == answers[2]
    assert count(world.ctx, "reporter_notify_addresses") == 0

    reporter.post("/r/alpha/case/notify", {"address": address, "save": "x"}, form_url="/r/alpha/case")
    assert count(world.ctx, "reporter_notify_addresses") == 1

    hostile = '<script>alert(1)</script>@evil.example'
    refused = reporter.post("/r/alpha/case/notify", {"address": hostile, "save": "x"}, form_url="/r/alpha/case")
    assert refused.status_code == 400
    text = refused.get_data(as_text=True)
    assert "<script>alert(1)" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;@evil.example" in text
    assert "does not look like an e-mail address" in text
    assert reporter.post("/r/alpha/case/notify", {"address": "x" * 300 + "@a.se", "save": "x"},
                         form_url="/r/alpha/case").status_code == 400
    assert reporter.post("/r/alpha/case/notify", {"address": address, "save": "x"}, csrf=False).status_code == 400
    assert count(world.ctx, "reporter_notify_addresses") == 1  # the stored one stayed

    # Without a reporter session: the sign-in page; another tenant's session: not found.
    stranger = world.browser("192.0.2.52")
    stranger.get("/r/alpha/follow-up")
    response = stranger.post("/r/alpha/case/notify", {"address": "a@b.se", "save": "x"},
                             form_url="/r/alpha/follow-up")
    assert response.status_code in (302, 303) and "/r/alpha/follow-up" in response.headers["Location"]
    beta = world.reporter_browser(world.beta, world.beta_case, "192.0.2.53")
    beta.get("/r/beta/case")
    crossing = beta.post("/r/alpha/case/notify", {"address": "a@b.se", "save": "x"}, form_url="/r/beta/case")
    assert crossing.status_code == 404
    assert count(world.ctx, "reporter_notify_addresses") == 1


def test_a_bad_address_on_the_report_form_keeps_the_report_unfiled(world: World) -> None:
    reporter = world.browser("192.0.2.54")
    before = count(world.ctx, "cases")
    response = reporter.post("/r/alpha/report", {"category": str(world.alpha.category_id), "what": "x",
                                                 "notify": "not an address"}, content_type="multipart/form-data")
    assert response.status_code == 400
    assert "does not look like an e-mail address" in reporter.text()
    assert count(world.ctx, "cases") == before and count(world.ctx, "reporter_notify_addresses") == 0


@pytest.mark.one_session
def test_deleting_the_case_erases_the_address(services: Services, org_a: Org, file_report: ReportFactory) -> None:
    receipt = file_report(org_a, notify="erase.me@example.com")
    kept = file_report(org_a, notify="stays@example.com")
    rows = services.session.scalars(sa.select(ReporterNotifyAddress.case_id)).all()
    assert set(rows) == {receipt.case_id, kept.case_id}
    services.retention.delete_case(receipt.case_id, "test", CLI)
    assert services.session.scalars(sa.select(ReporterNotifyAddress.case_id)).all() == [kept.case_id]


@pytest.mark.one_session
def test_a_tenant_key_rotation_moves_the_address_and_the_mail_still_goes(
        services: Services, org_a: Org, file_report: ReportFactory, inbox: tuple[Inbox, int]) -> None:
    mailbox, port = inbox
    receipt = file_report(org_a, notify="rotated@example.com")
    scope = Scope(org_a.tenant.id, org_a.tenant.slug)
    rotations = key_rotations(services)
    started = rotations.start_or_resume(scope, CLI)
    while rotations.run_batch(scope, started.rotation_id, CLI, batch=10):
        pass
    assert rotations.finish(scope, started.rotation_id, CLI)
    row = services.session.scalars(sa.select(ReporterNotifyAddress)).one()
    assert row.key_version == started.target_version == 2

    services.cases.post_message(org_a.handler, receipt.case_id, "an answer", [])
    sent = ReporterNotices(services.session, services.data_keys, Mailer(f"smtp://127.0.0.1:{port}", "a@example.com"),
                           services.ctx.clock, "https://whistle.example.com").send()
    assert sent == 1
    (raw,) = mailbox.messages
    assert message_from_bytes(raw)["To"] == "rotated@example.com"
    assert b"https://whistle.example.com/r/" in raw
