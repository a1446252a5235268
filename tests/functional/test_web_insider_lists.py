"""Insider lists (MAR Art. 18) in the /insiders/ room, and the insiders' own pages (the notice of
duties at /r/<slug>/acknowledge, their own details at /r/<slug>/my-details), over HTTP on both
databases: the whole flow, the refusals as form errors, codes used once, managers of their own
tenant only, escaped output, and names kept out of logs and the logbook."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import logging
import re
import subprocess
import uuid
from email import message_from_bytes

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from appliance.actors import SYSTEM, Role
from appliance.audit.models import AuditEvent
from appliance.insiders.templates import template_for
from appliance.jobs.definitions import acknowledgement_mails
from appliance.operations.retention_run import run_retention
from appliance.services import Services
from tests.functional.conftest import Inbox
from tests.functional.world import (
    Markers,
    Staff,
    World,
    assert_other_roles_refused,
    audit_details,
    calls,
    fill_values,
    make_staff,
)
from tests.web import Browser

XSS = '<script>alert("ins")</script><img src=x onerror=alert(1)>'
CODE = re.compile(r"\b([0-9A-Z]{4}(?:-[0-9A-Z]{4}){4})\b")
SECTION = re.compile(r'/insiders/t/alpha/lists/([0-9a-f-]{36})$')
REFUSED = "This code cannot be used."


def room(suffix: str = "", slug: str = "alpha") -> str:
    return f"/insiders/t/{slug}/{suffix}"


def manager(world: World) -> Browser:
    return world.staff_browser(world.alpha.staff[Role.INSIDER_MANAGER])


def minute(world: World, **delta: float) -> str:
    return (world.clock() + dt.timedelta(**delta)).strftime("%Y-%m-%dT%H:%M")


def open_section(world: World, browser: Browser, code: str = "Project Falcon") -> str:
    response = browser.post(room("lists"), {"code": code, "description": "Takeover bid",
                                            "identified_at": minute(world, hours=-6)})
    assert response.status_code == 303, browser.text()
    match = SECTION.search(response.headers["Location"])
    assert match
    return match.group(1)


def insider_form(world: World, tag: str, **overrides: str) -> dict[str, str]:
    return {"first_name": tag, "surname": f"Lind{tag}", "professional_phone": "+46 8 123 456 78",
            "email": f"{tag.lower()}@example.org", "company_name_address": "Issuer AB, Box 1, Stockholm",
            "function_reason": f"CFO, prepares the bid ({tag})", "obtained": minute(world, hours=-5),
            "language": "en", **overrides}


def add(world: World, browser: Browser, section: str, tag: str, **overrides: str) -> str:
    url = room(f"lists/{section}")
    response = browser.post(url + "/insiders", insider_form(world, tag, **overrides), form_url=url)
    assert response.status_code == 303, browser.text()
    return insider_id(browser.get(url).get_data(as_text=True), tag)


def insider_id(html: str, first_name: str) -> str:
    match = re.search(r'data-testid="insider-([0-9a-f-]{36})"><td>' + re.escape(first_name) + " ", html)
    assert match, f"{first_name} not on the section"
    return match.group(1)


def refused(world: World, browser: Browser, section: str, field_error: str, **overrides: str) -> None:
    url = room(f"lists/{section}")
    response = browser.post(url + "/insiders", insider_form(world, "Refused", **overrides), form_url=url)
    assert response.status_code == 400, (overrides, browser.text()[:400])
    assert field_error in browser.text(), (field_error, overrides)


def mailed(ctx: object, inbox: tuple[Inbox, int]) -> dict[tuple[str, str], str]:
    """Run the mail job; {(recipient, "notice" or "details"): code} of what arrived since last time."""
    received, port = inbox
    ctx.settings = dataclasses.replace(ctx.settings, smtp_url=f"smtp://127.0.0.1:{port}")  # type: ignore[attr-defined]
    acknowledgement_mails(ctx)  # type: ignore[arg-type]
    codes = {}
    for raw in received.messages:
        message = message_from_bytes(raw)
        body = message.get_payload(decode=True)
        assert isinstance(body, bytes)
        kind = "details" if "/my-details" in body.decode() else "notice"
        (code,) = CODE.findall(body.decode())
        codes[(str(message["To"]), kind)] = code
    received.messages.clear()
    return codes


def confirm_notice(world: World, code: str, slug: str = "alpha", addr: str = "198.51.100.60") -> int:
    person = world.browser(addr)
    opened = person.post(f"/r/{slug}/acknowledge", {"code": code})
    if opened.status_code != 200:
        return opened.status_code
    assert "Article 18" in person.text()  # the insiders' notice, not the PDMRs'
    return person.post(f"/r/{slug}/acknowledge/confirm", {"code": code, "read": "y"},
                       form_url=f"/r/{slug}/acknowledge").status_code


def fill_details(world: World, code: str, values: dict[str, str], slug: str = "alpha",
                 addr: str = "198.51.100.61") -> tuple[int, str]:
    person = world.browser(addr)
    opened = person.post(f"/r/{slug}/my-details", {"code": code})
    if opened.status_code != 200:
        return opened.status_code, person.text()
    assert 'data-testid="own-details"' in person.text()
    response = person.post(f"/r/{slug}/my-details/submit", {"code": code, **values},
                           form_url=f"/r/{slug}/my-details")
    return response.status_code, person.text()


def pdf_text(data: bytes) -> str:
    return subprocess.run(["pdftotext", "-layout", "-", "-"], input=data, capture_output=True, check=True).stdout.decode()


# --- the whole flow -----------------------------------------------------------------------------
def test_a_section_from_opening_to_export(world: World, inbox: tuple[Inbox, int]) -> None:
    browser = manager(world)
    assert 'href="/insiders/t/alpha/lists"' in browser.get(room()).get_data(as_text=True)
    section = open_section(world, browser)
    page = room(f"lists/{section}")
    assert "Project Falcon" in browser.get(room("lists")).get_data(as_text=True)

    anna = add(world, browser, section, "Anna", self_service="y")
    add(world, browser, section, "Bo", provider="Counsel LLP", email="bo@counsel.example")
    refused(world, browser, section, "already has its one contact person", provider="Counsel LLP",
            email="other@counsel.example")
    text = browser.get(page).get_data(as_text=True)
    assert "Contact person of Counsel LLP" in text
    missing = re.search(rf'data-testid="missing-{anna}">(.*?)</td>', text, re.S)
    assert missing and "National identification number" in missing.group(1) and "Date of birth" in missing.group(1)
    assert re.search(rf'data-testid="ack-{anna}">\s*<strong>Not confirmed yet', text)

    codes = mailed(world.ctx, inbox)
    assert set(codes) == {("anna@example.org", "notice"), ("anna@example.org", "details"),
                          ("bo@counsel.example", "notice")}
    # A notice code does not open the details form, nor the other way round.
    assert fill_details(world, codes[("anna@example.org", "notice")], {})[0] == 400
    assert confirm_notice(world, codes[("anna@example.org", "details")]) == 400
    assert confirm_notice(world, codes[("anna@example.org", "notice")]) == 200
    assert confirm_notice(world, codes[("bo@counsel.example", "notice")], addr="198.51.100.62") == 200

    details_code = codes[("anna@example.org", "details")]
    status, html = fill_details(world, details_code, {"national_id": "19800101-1234", "date_of_birth": "1980-01-01",
                                                       "personal_phone": "not a phone", "home_address": "Storgatan 1"})
    assert status == 400 and "international prefix" in html  # the code stays good
    world.clock.advance(minutes=3)
    submitted_at = world.clock()
    status, html = fill_details(world, details_code, {"national_id": "19800101-1234", "date_of_birth": "1980-01-01",
                                                       "personal_phone": "+46 70 111 22 33",
                                                       "home_address": "Storgatan 1, Stockholm"})
    assert status == 200 and 'data-testid="details-saved"' in html
    assert fill_details(world, details_code, {"national_id": "X1234"})[0] == 400  # used once

    text = browser.get(page).get_data(as_text=True)
    assert re.search(rf'data-testid="ack-{anna}">\s*Confirmed', text)
    assert re.search(rf'data-testid="missing-{anna}">Nothing', text)
    assert "Filled in by the person" in text

    # A change of reason: a new version, shown in the diff.
    world.clock.advance(minutes=5)
    before_change = world.clock() - dt.timedelta(minutes=1)
    change = f"{page}/insiders/{anna}/change"
    form = {"first_name": "Anna", "surname": "LindAnna", "professional_phone": "+46812345678",
            "company_name_address": "Issuer AB", "function_reason": "CEO, negotiates the bid",
            "changed_at": minute(world)}
    assert browser.post(change, form).status_code == 303
    world.clock.advance(minutes=5)
    diff = browser.get(f"{page}/history?since={before_change:%Y-%m-%dT%H:%M}&until={minute(world)}")
    changed = re.search(rf'data-testid="changed-{anna}">(.*?)</table>', diff.get_data(as_text=True), re.S)
    assert changed and "CFO, prepares the bid (Anna)" in changed.group(1) and "CEO, negotiates the bid" in changed.group(1)

    # Closing: a confirmation step, then everyone still on it ceases.
    close = f"{page}/close"
    assert browser.get(close).status_code == 200
    step = browser.post(close, {"reason": "disclosed", "closed_at": minute(world)})
    assert step.status_code == 200 and 'data-testid="close-confirm"' in browser.text()
    assert browser.get(page).get_data(as_text=True).count("Not confirmed") == 0  # nothing closed yet
    assert "Open" in browser.get(page).get_data(as_text=True)
    response = browser.post(close, {"reason": "disclosed", "closed_at": minute(world), "confirmed": "yes"},
                            form_url=close)
    assert response.status_code == 303
    text = browser.get(page).get_data(as_text=True)
    assert "Closed" in text and "Add an insider" not in text
    closed_at = world.clock()

    # Exports in every format, in the template's columns.
    world.clock.advance(minutes=5)
    template = template_for("event", world.clock())
    csv_data = browser.get(f"{page}/export.csv?as_at={minute(world)}")
    assert csv_data.status_code == 200 and "attachment" in csv_data.headers["Content-Disposition"]
    assert "Falcon" not in csv_data.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(csv_data.data.decode("utf-8-sig"))))
    assert tuple(rows[rows.index(list(template.headers))]) == template.headers
    body = csv_data.data.decode("utf-8-sig")
    assert "198001011234" in body and "LindBo" in body
    xlsx = browser.get(f"{page}/export.xlsx?as_at={minute(world)}")
    sheet = load_workbook(io.BytesIO(xlsx.data)).worksheets[0]
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert [tuple(v for v in row if v is not None) for row in values if row[0] == template.headers[0]] == [
        template.headers]
    pdf = browser.get(f"{page}/export.pdf?as_at={minute(world)}")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    pdf_body = pdf_text(pdf.data)
    assert "LindAnna" in pdf_body and "LindBo" in pdf_body
    assert [d.split(" as_at")[0] for d in audit_details(world.ctx, "insider.exported") if d] == [
        "format=csv", "format=xlsx", "format=pdf"]

    # As-at exports at three moments: before Anna's details, after them, after the close.
    moments = {submitted_at - dt.timedelta(minutes=1): (False, None), submitted_at: (True, None),
               closed_at: (True, closed_at)}
    for moment, (has_id, ceased) in moments.items():
        data = browser.get(f"{page}/export.csv?as_at={moment:%Y-%m-%dT%H:%M}").data.decode("utf-8-sig")
        assert ("198001011234" in data) is has_id, moment
        assert (f"{closed_at:%Y-%m-%d, %H:%M} UTC" in data) is (ceased is not None), moment

    response = browser.post(f"{page}/transmitted", {"export_format": "pdf", "as_at": minute(world),
                                                    "transmitted_on": world.clock().date().isoformat()},
                            form_url=f"{page}/history")
    assert response.status_code == 200 and 'data-testid="transmitted"' in browser.text()
    assert "Last transmitted to the authority" in browser.get(page).get_data(as_text=True)


def test_the_permanent_section_and_its_refusals(world: World) -> None:
    browser = manager(world)
    response = browser.post(room("lists/permanent"), {}, form_url=room("lists"))
    assert response.status_code == 303
    permanent = SECTION.search(response.headers["Location"])
    assert permanent
    assert browser.post(room("lists/permanent"), {}, form_url=room("lists")).status_code == 409
    chair = add(world, browser, permanent.group(1), "Chair")
    assert browser.get(room(f"lists/{permanent.group(1)}/close")).status_code == 409
    section = open_section(world, browser, "Project Heron")
    page = room(f"lists/{section}")
    known = re.search(r'<option value="([0-9a-f-]{36})">Chair LindChair</option>', browser.get(page).get_data(
        as_text=True))
    assert known and chair
    refused(world, browser, section, "permanent insider", known_person=known.group(1), first_name="", surname="")
    refused(world, browser, section, "This time is in the future.", obtained=minute(world, hours=2))
    refused(world, browser, section, "cannot cease before they obtained", ceased=minute(world, hours=-7))
    refused(world, browser, section, "international prefix", professional_phone="08-123 456")
    refused(world, browser, section, "letters and digits only", national_id="12")
    refused(world, browser, section, "Give the function and the reason.", function_reason="")
    refused(world, browser, section, "Enter a date and time.", obtained="")
    # A section identified in the future, and an as-at moment that is not a time.
    future = browser.post(room("lists"), {"code": "Later", "identified_at": minute(world, days=1)})
    assert future.status_code == 400 and "This time is in the future." in browser.text()
    assert browser.get(f"{page}/history?as_at=yesterday").status_code == 400
    assert browser.get(f"{page}/export.csv?as_at={minute(world, days=1)}").status_code == 400


def test_a_known_person_is_added_to_a_second_section_and_ceases(world: World) -> None:
    browser = manager(world)
    first = open_section(world, browser, "Project One")
    add(world, browser, first, "Cy")
    second = open_section(world, browser, "Project Two")
    page = room(f"lists/{second}")
    known = re.search(r'<option value="([0-9a-f-]{36})">Cy LindCy</option>', browser.get(page).get_data(as_text=True))
    assert known
    form = insider_form(world, "Cy", known_person=known.group(1), first_name="", surname="", email="")
    assert browser.post(page + "/insiders", form, form_url=page).status_code == 303
    cy = insider_id(browser.get(page).get_data(as_text=True), "Cy")
    cease = f"{page}/insiders/{cy}/cease"
    assert browser.post(cease, {"ceased_at": minute(world, hours=-9)},
                        form_url=f"{page}/insiders/{cy}/change").status_code == 400
    assert "cannot cease before they obtained" in browser.text()
    assert browser.post(cease, {"ceased_at": minute(world)}, form_url=f"{page}/insiders/{cy}/change").status_code == 303
    again = browser.post(cease, {"ceased_at": minute(world)}, form_url=f"{page}/insiders/{cy}/change")
    assert again.status_code == 400 and "ceased already" in browser.text()


def test_an_insider_erased_by_retention_is_shown_as_erased(world: World) -> None:
    browser = manager(world)
    section = open_section(world, browser, "Project Old")
    olga = add(world, browser, section, "Olga")
    page = room(f"lists/{section}")
    assert browser.post(f"{page}/insiders/{olga}/cease", {"ceased_at": minute(world)},
                        form_url=f"{page}/insiders/{olga}/change").status_code == 303
    world.clock.advance(days=5 * 366)
    assert run_retention(world.ctx, SYSTEM, dry_run=False).insider_entries_cleared == 1
    world.signed_in.clear()  # five years later: signed in again
    html = manager(world).get(page).get_data(as_text=True)
    assert f'data-testid="insider-{olga}"' in html
    assert "Erased five years after ceasing (MAR Art. 18(5))" in html and "LindOlga" not in html


# --- codes ------------------------------------------------------------------------------------------------
def test_expired_and_other_tenants_codes_are_refused(world: World, inbox: tuple[Inbox, int]) -> None:
    browser = manager(world)
    section = open_section(world, browser)
    add(world, browser, section, "Dee", self_service="y")
    codes = mailed(world.ctx, inbox)
    details = codes[("dee@example.org", "details")]
    assert fill_details(world, details, {"national_id": "AB1234"}, slug="beta")[0] == 400
    assert confirm_notice(world, codes[("dee@example.org", "notice")], slug="beta") == 400
    assert fill_details(world, "ABCD-EFGH-JKMN-PQRS-TVWX", {})[0] == 400
    assert fill_details(world, "x" * 5000, {})[0] == 400
    world.clock.advance(days=8)
    status, html = fill_details(world, details, {"national_id": "AB1234"})
    assert status == 400 and REFUSED in html
    assert confirm_notice(world, codes[("dee@example.org", "notice")]) == 400


# --- access -----------------------------------------------------------------------------------------------
def list_calls(world: World) -> list[tuple[str, str]]:
    return [(c.method, c.url) for c in calls(world.app, fill_values(world))
            if c.endpoint.startswith("insiders.") and "/lists" in c.url]


def test_every_list_route_refuses_other_roles_and_other_tenants(world: World, services: Services) -> None:
    routes = list_calls(world)
    assert len(routes) >= 12
    beta_manager: Staff = make_staff(services, world.clock, [(world.beta.tenant_id, Role.INSIDER_MANAGER)],
                                     "lists@beta.example.com")
    outsider = world.staff_browser(beta_manager)
    token = outsider.token("/staff/account")
    for method, url in routes:
        response = outsider.get(url) if method == "GET" else outsider.post(url, {"csrf_token": token}, csrf=False)
        assert response.status_code == 404, f"beta's manager on {method} {url}: {response.status_code}"
        if str(world.alpha_section_id) not in url:
            continue
        beta_url = url.replace("/t/alpha/", "/t/beta/")  # alpha's ids under beta's own slug
        response = outsider.get(beta_url) if method == "GET" else outsider.post(beta_url, {"csrf_token": token},
                                                                                 csrf=False)
        assert response.status_code in (400, 404), f"{method} {beta_url}: {response.status_code}"
    assert_other_roles_refused(world, routes, Role.INSIDER_MANAGER)


def test_tampered_ids_and_missing_csrf_are_refused(world: World) -> None:
    browser = manager(world)
    for method, url in list_calls(world):
        if method == "POST":
            assert browser.post(url, {}, csrf=False).status_code == 400, url
    section = room(f"lists/{world.alpha_section_id}")
    assert browser.get(room(f"lists/{uuid.uuid4()}")).status_code == 404
    assert browser.get(f"{section}/insiders/{uuid.uuid4()}/change").status_code == 404
    assert browser.get(room("lists/1 OR 1=1")).status_code == 404
    form = insider_form(world, "Eve", known_person=str(uuid.uuid4()))
    assert browser.post(f"{section}/insiders", form, form_url=section).status_code == 404
    form = insider_form(world, "Eve", known_person="' OR 1=1")
    assert browser.post(f"{section}/insiders", form, form_url=section).status_code == 404
    assert browser.post(f"{section}/insiders/{world.alpha_insider_id}/links", {"purpose": "admin", "language": "en"},
                        form_url=section).status_code == 400
    long = insider_form(world, "Eve", function_reason="x" * 5000)
    assert browser.post(f"{section}/insiders", long, form_url=section).status_code == 400


# --- what is typed: escaped, and kept out of logs and the logbook -----------------------------------------
def test_payloads_are_escaped_and_markers_stay_out_of_logs_and_logbook(
        world: World, caplog: pytest.LogCaptureFixture, inbox: tuple[Inbox, int]) -> None:
    caplog.set_level(logging.DEBUG)
    markers = Markers()
    browser = manager(world)
    section = open_section(world, browser, f"{markers['code']}{XSS}"[:80])
    page = room(f"lists/{section}")
    fields = {"first_name": f"{markers['first']}{XSS}", "surname": f"{markers['sur']}{XSS}",
              "company_name_address": f"{markers['company']}{XSS}", "function_reason": f"{markers['reason']}{XSS}",
              "provider": f"{markers['provider']}{XSS}", "home_address": f"{markers['home']}{XSS}",
              "email": f"{markers['email']}@example.org", "birth_surname": f"{markers['birth']}{XSS}"}
    response = browser.post(page + "/insiders", insider_form(world, "X", **fields, self_service="y"), form_url=page)
    assert response.status_code == 303, browser.text()
    codes = mailed(world.ctx, inbox)
    details = next(c for (_to, kind), c in codes.items() if kind == "details")
    status, html = fill_details(world, details, {"home_address": f"{markers['own']}{XSS}", "national_id": "ZZ9876"})
    assert status == 200
    world.clock.advance(minutes=2)
    pages = [browser.get(page).get_data(as_text=True), browser.get(room("lists")).get_data(as_text=True),
             browser.get(f"{page}/history").get_data(as_text=True)]
    for html in pages:
        assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert" in pages[0] and "&lt;script&gt;alert" in pages[2]
    for fmt in ("csv", "xlsx", "pdf"):
        assert browser.get(f"{page}/export.{fmt}").status_code == 200

    logs = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("mail.log"))
    with world.ctx.sessions() as session:
        events = session.execute(sa.select(AuditEvent)).scalars().all()
        logbook = " ".join(f"{e.action} {e.object_type} {e.object_id} {e.detail}" for e in events)
        session.rollback()
    for place, marker in markers.all.items():
        assert marker not in logs, f"{place} in the logs"
        assert marker not in logbook, f"{place} in the logbook"
    for code in codes.values():
        assert code not in logs and code not in logbook
    assert logs
