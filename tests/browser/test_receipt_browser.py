"""Filing a report in Chromium (issue 18): the receipt after a redirect shows the case key once;
reload, Back, Forward, a double click and a resent refused form file one report only; a refused
form says which chosen files were not kept; the receipt shows the follow-up address and prints
without its controls. axe (WCAG 2.1 AA) on every page state, in English and in Swedish."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from playwright.sync_api import Error, Page, expect

from appliance.cases.models import Case
from appliance.services import Services
from tests.browser import steps
from tests.browser.conftest import ContextFactory, Site
from tests.browser.test_accessibility import Axe

pytestmark = pytest.mark.browser


def cases(services: Services) -> int:
    found = int(services.session.execute(sa.select(sa.func.count()).select_from(Case)).scalar_one())
    services.session.rollback()  # on SQLite an open transaction would hold the lock the server needs
    return found


def to_swedish(page: Page) -> None:
    page.locator("footer button[value=sv]").click()
    expect(page.locator("html")).to_have_attribute("lang", "sv")


def fill_report(page: Page, site: Site, *, with_category: bool = True) -> None:
    if with_category:
        page.locator("select[name=category]").select_option(index=1)  # the first after "Choose…", in any language
    page.locator("textarea[name=what]").fill(steps.REPORT_TEXT)
    page.locator("input[name=attachments]").set_input_files(steps.pdf("evidence.pdf", steps.EVIDENCE))


def test_reload_back_and_forward_after_the_receipt_file_one_report(new_context: ContextFactory, site: Site,
                                                                  services: Services) -> None:
    axe = Axe()
    page = new_context(bypass_csp=True).new_page()
    key = steps.make_report(page, site)
    expect(page).to_have_url(re.compile(rf"/r/{site.slug}/receipt$"))  # the key is in no URL
    expect(page.get_by_test_id("follow-up-url")).to_have_text(site.url(f"/r/{site.slug}/follow-up"))
    expect(page.locator("footer button[value=sv]")).to_have_count(0)  # reloading to switch would lose the key
    axe(page, "receipt")
    assert cases(services) == 1

    page.reload()
    expect(page.get_by_role("heading", level=1)).to_have_text("The case key is not shown again")
    expect(page.get_by_test_id("receipt-gone")).to_be_visible()
    expect(page.locator("main")).not_to_contain_text(key)
    axe(page, "receipt-gone")
    page.go_back()  # the form (a new GET of it), never the post
    expect(page.get_by_role("heading", level=1)).to_have_text("Make a report")
    assert cases(services) == 1
    page.go_forward()
    expect(page.get_by_test_id("receipt-gone")).to_be_visible()
    expect(page.locator("main")).not_to_contain_text(key)
    assert cases(services) == 1
    axe.assert_clean({"receipt", "receipt-gone"})


@pytest.mark.parametrize("backend", ["sqlite"])  # a page, not a database
def test_the_receipt_prints_the_key_and_the_address_without_controls(new_context: ContextFactory, site: Site) -> None:
    page = new_context(bypass_csp=True).new_page()
    key = steps.make_report(page, site)
    page.emulate_media(media="print")
    expect(page.get_by_test_id("case-key")).to_have_text(key)
    expect(page.get_by_test_id("follow-up-url")).to_be_visible()
    for hidden in ("footer.site", "main a.button", "[data-testid=keep-a-copy]"):
        expect(page.locator(hidden).first).to_be_hidden()
    assert page.pdf()[:4] == b"%PDF"  # Chromium prints it (no script involved)


def test_a_double_click_files_one_report_and_shows_its_key(new_context: ContextFactory, site: Site,
                                                          services: Services) -> None:
    page = new_context().new_page()
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    page.goto(f"/r/{site.slug}/report")
    fill_report(page, site)
    page.get_by_role("button", name="Send report").dblclick()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your report has been received")
    expect(page.get_by_test_id("case-key")).to_have_text(re.compile(r"^[0-9A-Z]{4}(-[0-9A-Z]{4}){3}$"))
    assert posts  # one or two posts reached the server, depending on the browser's timing
    assert cases(services) == 1


def test_a_refused_form_announces_its_files_and_a_resent_one_files_nothing(new_context: ContextFactory, site: Site,
                                                                          services: Services) -> None:
    axe = Axe()
    page = new_context(bypass_csp=True).new_page()
    page.goto(f"/r/{site.slug}/report")
    fill_report(page, site, with_category=False)
    page.get_by_role("button", name="Send report").click()
    expect(page.get_by_test_id("files-dropped")).to_contain_text("The 1 file(s) you chose were not stored")
    expect(page.get_by_test_id("attachments-note")).to_contain_text("You chose 1 file(s) here")
    expect(page.get_by_label("Documents or pictures (optional)")).to_have_attribute(
        "aria-describedby", "attachments-hint attachments-note")
    axe(page, "report-form-files-dropped")
    refused = sent_form(page)
    fill_report(page, site)
    page.get_by_role("button", name="Send report").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your report has been received")
    assert cases(services) == 1
    # Back lands on the refused post, which Chromium does not send again by itself.
    try:
        page.go_back()
    except Error as exc:
        assert "ERR_CACHE_MISS" in str(exc), exc
    assert cases(services) == 1
    # Sent again all the same ("Confirm form resubmission"): the form of the stored report.
    page = send_again(page, site, refused)
    expect(page.get_by_role("heading", level=1)).to_have_text("This report was already received")
    expect(page.get_by_test_id("already-received")).to_be_visible()
    axe(page, "already-received")
    assert cases(services) == 1
    axe.assert_clean({"report-form-files-dropped", "already-received"})


SUBMIT = """({action, fields}) => {
  const form = document.createElement("form");
  form.method = "post"; form.action = action; form.enctype = "multipart/form-data";
  for (const [name, value] of Object.entries(fields)) {
    const input = document.createElement("input");
    input.type = "hidden"; input.name = name; input.value = value; form.appendChild(input);
  }
  document.body.appendChild(form);
  form.submit();
}"""


def sent_form(page: Page) -> dict[str, str]:
    """The reference and CSRF token the report form on the page sends."""
    form = page.locator("main form")
    return {name: form.locator(f"input[name={name}]").get_attribute("value") or ""
            for name in ("csrf_token", "form_ref")}


def send_again(page: Page, site: Site, fields: dict[str, str]) -> Page:
    """That form sent again from the same browser (a tab of its own: the old one may still be
    busy with its error page); the answer's page. The check comes before the other fields are read."""
    tab = page.context.new_page()
    tab.goto(f"/r/{site.slug}/")
    with tab.expect_navigation():
        tab.evaluate(SUBMIT, {"action": f"/r/{site.slug}/report", "fields": fields})
    return tab


@pytest.mark.parametrize("backend", ["sqlite"])  # pages, not databases
def test_the_new_pages_pass_axe_in_swedish(new_context: ContextFactory, site: Site, services: Services) -> None:
    axe = Axe()
    page = new_context(bypass_csp=True).new_page()
    page.goto(f"/r/{site.slug}/")
    to_swedish(page)
    axe(page, "portal-sv")
    page.goto(f"/r/{site.slug}/report")
    axe(page, "report-form-sv")
    fill_report(page, site, with_category=False)
    page.locator("main form button[type=submit]").click()
    expect(page.get_by_test_id("attachments-note")).to_contain_text("Du valde 1 fil(er) här")
    axe(page, "report-form-files-dropped-sv")
    refused = sent_form(page)
    fill_report(page, site)
    page.locator("main form button[type=submit]").click()
    expect(page.get_by_test_id("case-key")).to_be_visible()
    expect(page.get_by_test_id("keep-a-copy")).to_contain_text("Spara en kopia")
    axe(page, "receipt-sv")
    page.reload()
    expect(page.get_by_test_id("receipt-gone")).to_contain_text("visas bara en gång")
    axe(page, "receipt-gone-sv")
    page = send_again(page, site, refused)
    expect(page.get_by_test_id("already-received")).to_contain_text("sparades inte en gång till")
    axe(page, "already-received-sv")
    assert cases(services) == 1
    axe.assert_clean({"portal-sv", "report-form-sv", "report-form-files-dropped-sv", "receipt-sv", "receipt-gone-sv",
                      "already-received-sv"})
