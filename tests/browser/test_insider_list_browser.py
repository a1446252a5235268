"""An insider list in Chromium without JavaScript (MAR Art. 18): the insider manager opens an event
section and adds an insider who is asked for their own details; the insider confirms the notice
of their duties with the code the mail brought and fills in their details with a code handed
over on screen; the manager sees both, closes the section and downloads the CSV export."""

from __future__ import annotations

import csv
import dataclasses
import io
import re
from collections.abc import Iterator
from email import message_from_bytes
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from playwright.sync_api import Page, expect

from appliance.actors import CLI, Role
from appliance.backup.drivers.postgres import free_port
from appliance.context import AppContext
from appliance.jobs.definitions import acknowledgement_mails
from appliance.services import Services
from tests.browser import steps
from tests.browser.conftest import ContextFactory, Site
from tests.functional.conftest import Inbox

pytestmark = pytest.mark.browser

CODE = re.compile(r"\b[0-9A-Z]{4}(?:-[0-9A-Z]{4}){4}\b")
NATIONAL_ID = "19800101-1234"


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    handler, port = Inbox(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield handler, port
    controller.stop()


def mailed_codes(ctx: AppContext, inbox: tuple[Inbox, int]) -> dict[tuple[str, str], str]:
    """Run the mail job as the scheduler would; {(recipient, "notice" or "details"): code}."""
    received, port = inbox
    ctx.settings = dataclasses.replace(ctx.settings, smtp_url=f"smtp://127.0.0.1:{port}")
    acknowledgement_mails(ctx)
    codes = {}
    for raw in received.messages:
        message = message_from_bytes(raw)
        body = message.get_payload(decode=True)
        assert isinstance(body, bytes)
        kind = "details" if "/my-details" in body.decode() else "notice"
        codes[(str(message["To"]), kind)] = CODE.findall(body.decode())[0]
    return codes


def open_section_and_add_anna(staff: Page, shoot: steps.Look) -> None:
    staff.goto("/insiders/")
    staff.get_by_test_id("insider-lists").get_by_role("link", name="Insider lists").click()
    expect(staff.get_by_role("heading", level=1)).to_contain_text("Insider lists")
    staff.get_by_label("Name or code of the inside information").fill("Project Falcon")
    staff.get_by_label("Description", exact=True).fill("A takeover bid for Target AB")
    staff.get_by_role("button", name="Open the section").click()
    expect(staff.get_by_role("heading", level=1)).to_have_text("Project Falcon")
    staff.get_by_label("First name(s)", exact=True).fill("Anna")
    staff.get_by_label("Surname(s)", exact=True).fill("Lind")
    staff.get_by_label("Professional telephone number(s)").fill("+46 8 123 456 78")
    staff.get_by_label("E-mail address", exact=True).fill("anna@example.org")
    staff.get_by_label("Company name and address").fill("Issuer AB, Box 1, Stockholm")
    staff.get_by_label("Function and reason for being an insider").fill("CFO, prepares the bid")
    staff.get_by_label("Ask the person to fill in their own personal details").check()
    staff.get_by_role("button", name="Add the insider").click()
    expect(staff.get_by_role("status")).to_contain_text("The insider has been added.")
    row = staff.locator("[data-testid=insiders] tbody tr")
    expect(row).to_contain_text("Anna Lind")
    expect(row.locator("[data-testid^=ack-]")).to_contain_text("Not confirmed yet")
    expect(row.locator("[data-testid^=missing-]")).to_contain_text("National identification number")
    shoot(staff, "section-added")


def insider_confirms_and_fills_in(person: Page, site: Site, notice_code: str, details_code: str,
                                  shoot: steps.Look) -> None:
    person.goto(f"/r/{site.slug}/acknowledge")
    person.get_by_label("Your code").fill(notice_code)
    person.get_by_role("button", name="Show the notice").click()
    expect(person.get_by_test_id("notice")).to_contain_text("Article 18")
    shoot(person, "notice")
    person.get_by_label("I have read this notice and understand my obligations.").check()
    person.get_by_role("button", name="Confirm").click()
    expect(person.get_by_test_id("confirmed")).to_be_visible()

    person.goto(f"/r/{site.slug}/my-details")
    person.get_by_label("Your code").fill(details_code)
    person.get_by_role("button", name="Continue").click()
    expect(person.get_by_test_id("own-details")).to_be_visible()
    person.get_by_label("National identification number").fill(NATIONAL_ID)
    person.get_by_label("Date of birth").fill("1980-01-01")
    person.get_by_label("Personal telephone number(s)").fill("+46 70 111 22 33")
    person.get_by_label("Personal full home address").fill("Storgatan 1, 111 22 Stockholm, Sweden")
    shoot(person, "my-details")
    person.get_by_role("button", name="Send my details").click()
    expect(person.get_by_test_id("details-saved")).to_contain_text("The code no longer works.")


@pytest.mark.parametrize("backend", ["sqlite"])  # the flow has its functional tests on both databases
def test_manager_adds_an_insider_who_confirms_and_fills_in_then_the_section_is_closed_and_exported(
        new_context: ContextFactory, site: Site, services: Services, inbox: tuple[Inbox, int],
        artifacts: Path) -> None:
    def shoot(page: Page, name: str) -> None:
        page.screenshot(path=artifacts / f"{site.backend}-insiders-{name}.png", full_page=True)

    tenant = services.tenants.by_slug(site.slug)
    officer = services.users.by_email(site.email)
    services.users.grant_role(officer.id, tenant.id, Role.INSIDER_MANAGER, CLI)
    services.session.commit()
    staff = new_context(java_script_enabled=False).new_page()
    person = new_context(java_script_enabled=False).new_page()
    steps.sign_in(staff, site, first_time=True)
    open_section_and_add_anna(staff, shoot)
    section = staff.url

    # The notice code comes by mail; the details code is handed over in person (the mailed one dies).
    codes = mailed_codes(services.ctx, inbox)
    assert set(codes) == {("anna@example.org", "notice"), ("anna@example.org", "details")}
    staff.get_by_role("button", name="Issue a details code to hand over — Anna Lind").click()
    details_code = staff.get_by_test_id("issued-code").inner_text().strip()
    assert CODE.fullmatch(details_code) and details_code != codes[("anna@example.org", "details")]
    shoot(staff, "code-issued")
    site.clock.advance(minutes=2)
    insider_confirms_and_fills_in(person, site, codes[("anna@example.org", "notice")], details_code, shoot)

    site.clock.advance(minutes=2)
    staff.goto(section)
    row = staff.locator("[data-testid=insiders] tbody tr")
    expect(row.locator("[data-testid^=ack-]")).to_contain_text("Confirmed")
    expect(row.locator("[data-testid^=missing-]")).to_contain_text("Nothing")
    expect(row.locator("[data-testid^=missing-]")).to_contain_text("Filled in by the person")
    expect(staff.locator("main")).not_to_contain_text(NATIONAL_ID)  # the section page shows no personal data
    shoot(staff, "section-complete")

    site.clock.advance(minutes=2)
    staff.get_by_role("link", name="Close the section").click()
    staff.get_by_label("Why the section closes").select_option(label="The information was disclosed")
    staff.get_by_role("button", name="Continue").click()
    expect(staff.get_by_test_id("close-confirm")).to_contain_text("Anna Lind")
    staff.get_by_role("button", name="Close the section now").click()
    expect(staff.get_by_test_id("section-state")).to_contain_text("Closed")
    expect(staff.get_by_role("button", name="Add the insider")).to_have_count(0)
    shoot(staff, "section-closed")

    site.clock.advance(minutes=2)
    staff.get_by_role("link", name="History, as at a moment, and exports").click()
    with staff.expect_download() as info:
        staff.get_by_role("link", name=re.compile(r"^Download as CSV")).click()
    download = info.value
    assert re.fullmatch(r"insider-list-\d{8}T\d{4}Z\.csv", download.suggested_filename)
    rows = list(csv.reader(io.StringIO(download.path().read_bytes().decode("utf-8-sig"))))
    header = next(r for r in rows if r and r[0].startswith("First name"))
    [anna] = [dict(zip(header, r, strict=True)) for r in rows if "Lind" in r]
    column = {c.split(" ")[0]: c for c in header}  # "Ceased (the date and time …)" -> "Ceased"
    assert anna[column["First"]] == "Anna" and anna[column["National"]] == NATIONAL_ID.replace("-", "")
    assert anna[column["Ceased"]].endswith(" UTC")  # everyone still on it ceased at the close
    services.session.commit()
    assert services.logbook.verify().ok
