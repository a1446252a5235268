"""The insider managers' room /insiders/ and the public confirmation page /r/<slug>/acknowledge,
over HTTP on both databases: the flows, the acknowledgement end to end through a real SMTP
server, insider managers only and of their own tenant only, tampered ids, escaped output, and
what is typed kept out of logs and the logbook."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import re
import uuid
from email import message_from_bytes

import pytest
import sqlalchemy as sa
from markupsafe import escape

from appliance.actors import Role
from appliance.audit.models import AuditEvent
from appliance.context import AppContext
from appliance.jobs.definitions import acknowledgement_mails
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

XSS = '<script>alert("mar")</script><img src=x onerror=alert(1)>'
CODE = re.compile(r"\b([0-9A-Z]{4}(?:-[0-9A-Z]{4}){4})\b")
ISSUED = re.compile(r'data-testid="issued-code">([0-9A-Z-]{24})<')
REFUSED = "This code cannot be used."


def room(suffix: str = "", slug: str = "alpha") -> str:
    return f"/insiders/t/{slug}/{suffix}"


def manager(world: World) -> Browser:
    return world.staff_browser(world.alpha.staff[Role.INSIDER_MANAGER])


def disclosure_form(world: World, label: str = "Merger", **overrides: str) -> dict[str, str]:
    day = world.clock().date()
    return {"subject": f"{label} talks with a bidder", "first_existed_at": f"{day - dt.timedelta(days=3)}T09:00",
            "decided_at": f"{day - dt.timedelta(days=2)}T10:30", "planned_disclosure_at": f"{day + dt.timedelta(days=30)}T08:00",
            "conditions_met": "Disclosure would prejudice the negotiation.", "monitoring": "Weekly review.",
            "confidentiality": "Project team only, need-to-know.", "persons_decision": "Ada Chair",
            "persons_monitoring": "Bo Counsel\nCy Officer", **overrides}


def add_pdmr(browser: Browser, name: str, email: str, detail: str = "CFO") -> str:
    response = browser.post(room("pdmrs"), {"name": name, "email": email, "detail": detail})
    assert response.status_code == 200, browser.text()
    return entry_id_of(browser.text(), name)


def entry_id_of(html: str, name: str) -> str:
    match = re.search(r'data-testid="entry-([0-9a-f-]{36})"><td>' + re.escape(str(escape(name))), html)
    assert match, f"{name} not on the register"
    return match.group(1)


def deliver_codes(ctx: AppContext, inbox: tuple[Inbox, int]) -> list[str]:
    """Run the mail job against the local SMTP server; the codes in what it received."""
    received, port = inbox
    ctx.settings = dataclasses.replace(ctx.settings, smtp_url=f"smtp://127.0.0.1:{port}")
    acknowledgement_mails(ctx)
    codes = []
    for raw in received.messages:
        body = message_from_bytes(raw).get_payload(decode=True)
        assert isinstance(body, bytes)
        codes += CODE.findall(body.decode())
    return codes


def confirm(browser: Browser, code: str, slug: str = "alpha") -> int:
    opened = browser.post(f"/r/{slug}/acknowledge", {"code": code})
    if opened.status_code != 200:
        return opened.status_code
    assert 'data-testid="notice"' in browser.text()
    response = browser.post(f"/r/{slug}/acknowledge/confirm", {"code": code, "read": "y"},
                            form_url=f"/r/{slug}/acknowledge")
    return response.status_code


# --- landing --------------------------------------------------------------------------------
def test_an_insider_manager_lands_in_the_room_which_links_every_part(world: World) -> None:
    browser = manager(world)
    response = browser.get("/staff/")
    assert response.status_code == 302 and response.headers["Location"].endswith("/insiders/")
    browser.get("/insiders/")
    text = browser.text()
    for suffix in ("disclosures", "pdmrs", "calendar", "notices"):
        assert f'href="{room(suffix)}"' in text
    assert 'data-testid="insider-lists"' in text and "Beta" not in text
    assert browser.get(room()).status_code == 200
    assert 'href="/insiders/"' in browser.text()  # the staff navigation


# --- delayed disclosures ------------------------------------------------------------------------
def test_a_delayed_disclosure_is_recorded_amended_and_exported(world: World) -> None:
    browser = manager(world)
    response = browser.post(room("disclosures/new"), disclosure_form(world))
    assert response.status_code == 303, browser.text()
    record = response.headers["Location"].split("?")[0]
    browser.get(response.headers["Location"])
    assert "Merger talks with a bidder" in browser.text() and "Bo Counsel" in browser.text()
    assert "The record has been saved." in browser.text()

    amend = record + "/amend"
    assert "Merger talks with a bidder" in browser.get(amend).get_data(as_text=True)
    assert browser.post(amend, disclosure_form(world, change_note="")).status_code == 400  # a change needs its note
    assert "This field is required." in browser.text()
    response = browser.post(amend, disclosure_form(world, "Bigger merger", change_note="Bidder raised its offer."))
    assert response.status_code == 303
    text = browser.get(record).get_data(as_text=True)
    assert 'data-testid="version-1"' in text and 'data-testid="version-2"' in text
    assert "Bigger merger talks" in text and "Merger talks with a bidder" in text

    csv = browser.get(record + "/history.csv")
    assert csv.status_code == 200 and csv.mimetype == "text/csv" and "attachment" in csv.headers["Content-Disposition"]
    assert "Bidder raised its offer." in csv.get_data(as_text=True)
    pdf = browser.get(record + "/history.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    assert sorted(d for d in audit_details(world.ctx, "disclosure.exported") if d) == ["format=csv", "format=pdf"]
    browser.get(room("disclosures"))
    assert "DD-2" in browser.text()  # the world's record is DD-1


def test_a_disclosure_form_with_errors_keeps_what_was_typed(world: World) -> None:
    browser = manager(world)
    form = disclosure_form(world, decided_at=f"{world.clock().date() - dt.timedelta(days=9)}T10:00",
                           persons_monitoring="")
    response = browser.post(room("disclosures/new"), form)
    assert response.status_code == 400
    assert "Name at least one person." in browser.text() and "Merger talks with a bidder" in browser.text()
    response = browser.post(room("disclosures/new"), {**form, "persons_monitoring": "Bo Counsel"})
    assert response.status_code == 400
    assert "The decision cannot be before the information existed." in browser.text()


# --- PDMRs and the acknowledgement, end to end --------------------------------------------------------
def test_a_pdmr_confirms_the_notice_by_the_mailed_code_and_the_manager_sees_when(
        world: World, inbox: tuple[Inbox, int]) -> None:
    browser = manager(world)
    pdmr = add_pdmr(browser, "Dana Director", "dana@example.com")
    browser.get(room("pdmrs"))
    assert "Not sent" in browser.text()
    form = {"name": "Eli Spouse", "email": "eli@example.com", "detail": "spouse", "pdmr": pdmr}
    assert browser.post(room("pdmrs/associates"), form, form_url=room("pdmrs")).status_code == 200
    assert "Closely associated with Dana Director" in browser.text()

    response = browser.post(room("pdmrs/notify"), {"entry_id": pdmr, "language": "en"}, form_url=room("pdmrs"))
    assert response.status_code == 200 and "Being sent" in browser.text()
    (code,) = deliver_codes(world.ctx, inbox)
    assert inbox[0].recipients() == ["dana@example.com"]
    assert "Sent" in browser.get(room("pdmrs")).get_data(as_text=True)

    person = world.browser("198.51.100.7")
    person.get("/r/alpha/acknowledge")
    assert person.post("/r/alpha/acknowledge", {"code": code.lower()}).status_code == 200
    assert "Article 19 of the Market Abuse Regulation" in person.text()  # the default notice
    assert code not in (person.last.request.url if person.last else "")
    no_tick = person.post("/r/alpha/acknowledge/confirm", {"code": code}, form_url="/r/alpha/acknowledge")
    assert no_tick.status_code == 400 and "Tick the box to confirm." in person.text()
    assert person.post("/r/alpha/acknowledge/confirm", {"code": code, "read": "y"},
                       form_url="/r/alpha/acknowledge").status_code == 200
    assert 'data-testid="confirmed"' in person.text()

    browser.get(room("pdmrs"))
    state = re.search(rf'data-testid="state-{pdmr}">(.*?)</td>', browser.text(), re.S)
    assert state and "Confirmed" in state.group(1) and str(world.clock().year) in state.group(1)

    again = world.browser("198.51.100.8")
    assert confirm(again, code) == 400 and REFUSED in again.text()  # a used code
    assert code not in again.text()


def test_a_code_issued_on_screen_is_shown_once_and_replaces_the_mailed_one(
        world: World, inbox: tuple[Inbox, int]) -> None:
    browser = manager(world)
    pdmr = add_pdmr(browser, "Fay Finance", "fay@example.com")
    assert browser.post(room("pdmrs/code"), {"entry_id": pdmr}, form_url=room("pdmrs")).status_code == 409
    browser.post(room("pdmrs/notify"), {"entry_id": pdmr, "language": "sv"}, form_url=room("pdmrs"))
    (mailed,) = deliver_codes(world.ctx, inbox)
    browser.post(room("pdmrs/code"), {"entry_id": pdmr}, form_url=room("pdmrs"))
    match = ISSUED.search(browser.text())
    assert match and "Fay Finance" in browser.text()
    issued = match.group(1)
    assert issued not in browser.get(room("pdmrs")).get_data(as_text=True)  # once
    person = world.browser("198.51.100.9")
    assert confirm(person, mailed) == 400 and REFUSED in person.text()  # the earlier code stopped working
    assert confirm(person, issued) == 200


def test_removal_is_dated_and_ends_the_actions(world: World) -> None:
    browser = manager(world)
    pdmr = add_pdmr(browser, "Gus Gone", "gus@example.com")
    response = browser.post(room("pdmrs/remove"), {"entry_id": pdmr}, form_url=room("pdmrs"))
    assert response.status_code == 200 and "Removed" in browser.text() and "Gus Gone" in browser.text()
    assert browser.post(room("pdmrs/remove"), {"entry_id": pdmr}, form_url=room("pdmrs")).status_code == 409
    assert browser.post(room("pdmrs/notify"), {"entry_id": pdmr, "language": "en"},
                        form_url=room("pdmrs")).status_code == 409


def test_a_pdmr_form_with_errors_says_which_field(world: World) -> None:
    browser = manager(world)
    assert browser.post(room("pdmrs"), {"name": "Hal", "email": "not an address"}).status_code == 400
    assert "This is not a valid e-mail address." in browser.text()
    add_pdmr(browser, "Ida Twice", "ida@example.com")
    assert browser.post(room("pdmrs"), {"name": "Ida Twice", "email": "ida@example.com"}).status_code == 400
    assert "on the register already" in browser.text()


# --- the financial calendar, the notice texts ------------------------------------------------------------
def test_the_calendar_shows_the_closed_period_and_an_announcement_can_be_removed(world: World) -> None:
    browser = manager(world)
    day = world.clock().date() + dt.timedelta(days=40)
    response = browser.post(room("calendar"), {"kind": "interim", "label": "Q1 2099", "announce_on": day.isoformat()})
    assert response.status_code == 200, browser.text()
    assert "Q1 2099" in browser.text() and "Coming" in browser.text()
    past = browser.post(room("calendar"), {"kind": "year-end", "label": "FY", "announce_on": "2000-01-01"})
    assert past.status_code == 400 and "The day is in the past." in browser.text()
    report_id = re.search(r'name="report_id" value="([0-9a-f-]{36})"', browser.get(room("calendar")).get_data(
        as_text=True))
    assert report_id
    response = browser.post(room("calendar/cancel"), {"report_id": report_id.group(1)})
    assert response.status_code == 200 and "Removed" in browser.text()
    assert browser.post(room("calendar/cancel"), {"report_id": report_id.group(1)}).status_code == 409


def test_notice_texts_are_the_tenants_own_or_the_default(world: World, inbox: tuple[Inbox, int]) -> None:
    browser = manager(world)
    url = room("notices/pdmr-obligations")
    assert browser.post(url, {"text_en": "Our own English notice.", "text_sv": "Vår egen notis."},
                        form_url=room("notices")).status_code == 200
    assert "Our own English notice." in browser.get(room("notices")).get_data(as_text=True)
    pdmr = add_pdmr(browser, "Jo Swede", "jo@example.com")
    browser.post(room("pdmrs/notify"), {"entry_id": pdmr, "language": "sv"}, form_url=room("pdmrs"))
    (code,) = deliver_codes(world.ctx, inbox)
    person = world.browser("198.51.100.20")
    person.post("/language", {"lang": "sv", "next": "/"}, form_url="/")
    person.post("/r/alpha/acknowledge", {"code": code}, form_url="/r/alpha/acknowledge")
    assert "Vår egen notis." in person.text()
    browser.post(url, {"text_en": "", "text_sv": ""}, form_url=room("notices"))
    person.post("/r/alpha/acknowledge", {"code": code}, form_url="/r/alpha/acknowledge")
    assert "marknadsmissbruksförordningen" in person.text()  # back to the default wording


# --- the public page's refusals --------------------------------------------------------------------------
def test_another_tenants_code_is_refused_like_any_other(world: World, services: Services,
                                                         inbox: tuple[Inbox, int]) -> None:
    browser = manager(world)
    pdmr = add_pdmr(browser, "Kim Alpha", "kim@example.com")
    browser.post(room("pdmrs/notify"), {"entry_id": pdmr, "language": "en"}, form_url=room("pdmrs"))
    (code,) = deliver_codes(world.ctx, inbox)
    person = world.browser("198.51.100.30")
    assert confirm(person, code, slug="beta") == 400 and REFUSED in person.text()
    assert confirm(person, "ABCD-EFGH-JKMN-PQRS-TVWX") == 400 and REFUSED in person.text()
    assert confirm(person, "x" * 5000) == 400  # oversized: the form refuses it
    assert confirm(person, code) == 200  # still good on its own tenant's page


def test_wrong_codes_pause_the_client(world: World) -> None:
    person = world.browser("198.51.100.40")
    statuses = [person.post("/r/alpha/acknowledge", {"code": f"ZZZZ-ZZZZ-ZZZZ-ZZZZ-ZZ{i:02d}"},
                            form_url="/r/alpha/acknowledge").status_code for i in range(12)]
    assert statuses[0] == 400 and statuses[-1] == 429
    assert "Too many attempts" in person.text()
    assert world.browser("198.51.100.41").post("/r/alpha/acknowledge", {"code": "ZZZZ-ZZZZ-ZZZZ-ZZZZ-ZZZZ"},
                                               form_url="/r/alpha/acknowledge").status_code == 400


# --- access -----------------------------------------------------------------------------------------------
def insiders_calls(world: World) -> list[tuple[str, str]]:
    return [(c.method, c.url) for c in calls(world.app, fill_values(world)) if c.endpoint.startswith("insiders.")]


def test_every_room_route_refuses_other_roles_and_other_tenants(world: World, services: Services) -> None:
    routes = insiders_calls(world)
    assert len(routes) >= 17
    beta_manager: Staff = make_staff(services, world.clock, [(world.beta.tenant_id, Role.INSIDER_MANAGER)],
                                     "insiders@beta.example.com")
    outsider = world.staff_browser(beta_manager)
    token = outsider.token("/staff/account")
    for method, url in routes:
        response = outsider.get(url) if method == "GET" else outsider.post(url, {"csrf_token": token}, csrf=False)
        expected = 200 if url in ("/insiders/",) else 404
        assert response.status_code == expected, f"beta's manager on {method} {url}: {response.status_code}"
    assert_other_roles_refused(world, routes, Role.INSIDER_MANAGER)


def test_posts_need_the_csrf_token(world: World) -> None:
    browser = manager(world)
    for method, url in insiders_calls(world):
        if method == "POST":
            assert browser.post(url, {}, csrf=False).status_code == 400, url
    assert world.browser().post("/r/alpha/acknowledge", {"code": "x"}, csrf=False).status_code == 400


def test_tampered_ids_are_refused(world: World, services: Services) -> None:
    from tests.functional.world import record_disclosure

    browser = manager(world)
    beta_record = record_disclosure(services, world.clock, world.beta.tenant_id, "beta")
    assert browser.get(room(f"disclosures/{beta_record}")).status_code == 404
    assert browser.get(room(f"disclosures/{beta_record}/history.csv")).status_code == 404
    assert browser.get(room(f"disclosures/{uuid.uuid4()}/amend")).status_code == 404
    for url, name in (("pdmrs/remove", "entry_id"), ("pdmrs/notify", "entry_id"), ("pdmrs/code", "entry_id"),
                      ("calendar/cancel", "report_id")):
        form = room(url.split("/")[0])
        assert browser.post(room(url), {name: str(uuid.uuid4()), "language": "en"}, form_url=form).status_code == 404
        assert browser.post(room(url), {name: "1 OR 1=1", "language": "en"}, form_url=form).status_code == 400
    pdmr = add_pdmr(browser, "Lee Lang", "lee@example.com")
    assert browser.post(room("pdmrs/notify"), {"entry_id": pdmr, "language": "xx"},
                        form_url=room("pdmrs")).status_code == 400
    assert browser.post(room("pdmrs/associates"), {"name": "M", "email": "m@example.com", "pdmr": str(uuid.uuid4())},
                        form_url=room("pdmrs")).status_code == 404
    assert browser.post(room("pdmrs/associates"), {"name": "M", "email": "m@example.com", "pdmr": "' OR 1=1"},
                        form_url=room("pdmrs")).status_code == 400


# --- what is typed: escaped on the pages, absent from logs and the logbook --------------------------------
def test_payloads_are_escaped_and_markers_stay_out_of_logs_and_logbook(
        world: World, caplog: pytest.LogCaptureFixture, inbox: tuple[Inbox, int]) -> None:
    caplog.set_level(logging.DEBUG)
    markers = Markers()
    browser = manager(world)
    texts = {name: f"{markers[name]} {XSS}" for name in (
        "subject", "conditions_met", "monitoring", "confidentiality", "disclosure_arrangements")}
    names = {f"persons_{r}": f"{markers[r]}{XSS}" for r in ("decision", "monitoring", "disclosure_decision",
                                                              "authority_contact")}
    response = browser.post(room("disclosures/new"), {**disclosure_form(world), **texts, **names})
    assert response.status_code == 303
    record_page = browser.get(response.headers["Location"]).get_data(as_text=True)
    pdmr = add_pdmr(browser, f"{markers['pdmr']}{XSS}", f"{markers['email']}@example.com", f"{markers['pos']}{XSS}")
    browser.post(room("pdmrs/associates"), {"name": f"{markers['cap']}{XSS}", "email": "cap@example.com",
                                            "detail": f"{markers['rel']}{XSS}", "pdmr": pdmr}, form_url=room("pdmrs"))
    browser.post(room("calendar"), {"kind": "interim", "label": f"{markers['label']}<b>x</b>"[:80],
                                    "announce_on": (world.clock().date() + dt.timedelta(days=50)).isoformat()})
    browser.post(room("notices/pdmr-obligations"), {"text_en": f"{markers['notice']} {XSS}", "text_sv": ""},
                 form_url=room("notices"))
    browser.post(room("pdmrs/notify"), {"entry_id": pdmr, "language": "en"}, form_url=room("pdmrs"))
    (code,) = deliver_codes(world.ctx, inbox)
    person = world.browser("198.51.100.50")
    person.post("/r/alpha/acknowledge", {"code": code})
    pages = [record_page, browser.get(room("pdmrs")).get_data(as_text=True),
             browser.get(room("calendar")).get_data(as_text=True),
             browser.get(room("notices")).get_data(as_text=True), person.text()]
    for html in pages:
        assert "<script>alert" not in html and "<img src=x" not in html and "<b>x</b>" not in html
    assert "&lt;script&gt;alert" in pages[0] and "&lt;script&gt;alert" in pages[1] and "&lt;script&gt;" in pages[4]
    confirm(person, code)

    # The test's own SMTP server (aiosmtpd, logger mail.log) logs the envelope; the appliance must not.
    logs = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("mail.log"))
    with world.ctx.sessions() as session:
        events = session.execute(sa.select(AuditEvent)).scalars().all()
        logbook = " ".join(f"{e.action} {e.object_type} {e.object_id} {e.detail}" for e in events)
        session.rollback()
    for place, marker in markers.all.items():
        assert marker not in logs, f"{place} in the logs"
        assert marker not in logbook, f"{place} in the logbook"
    assert code not in logs and code not in logbook and code.replace("-", "") not in logbook
    assert logs  # the capture ran
