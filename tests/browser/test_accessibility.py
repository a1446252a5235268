"""axe-core (WCAG 2.0/2.1 A and AA) on every page type, in English and in Swedish.

axe is injected as an inline script, which the site's CSP rightly refuses, so only these
browser contexts bypass the CSP. Every page state is checked and all violations are
reported together, page by page, so one run shows everything that needs fixing.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect

from appliance.actors import CLI, Role
from appliance.cases.models import Case, CasePrivateKeySeal, queue_columns
from appliance.events.service import NewEvent
from appliance.services import Services
from tests.browser import insider_steps, steps
from tests.browser.conftest import AXE, PHONE, ContextFactory, Site
from tests.functional.queue_support import insert_cases
from tests.functional.stats_support import seed

pytestmark = pytest.mark.browser

AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]
RUN_AXE = """async (tags) => {
  const result = await axe.run(document, {runOnly: {type: "tag", values: tags}, resultTypes: ["violations"]});
  return result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
    nodes: v.nodes.map(n => ({target: n.target.join(" "), html: n.html, summary: n.failureSummary})),
  }));
}"""
# axe no longer checks duplicate ids (WCAG 2.2 dropped 4.1.1), but a label, an error link
# or aria-describedby that points at a duplicated id points at the wrong element.
DUPLICATE_IDS = """() => {
  const seen = new Map();
  for (const el of document.querySelectorAll("[id]:not(input[type=hidden])")) seen.set(el.id, (seen.get(el.id) || 0) + 1);
  return [...seen].filter(([, n]) => n > 1).map(([id]) => id);
}"""


class Axe:
    """A look() that runs axe on the page and keeps what it found."""

    def __init__(self) -> None:
        assert AXE.exists(), f"{AXE} is missing: run `npm install` in tests/browser (scripts/test does)"
        self.checked: list[str] = []
        self.problems: dict[str, list[dict[str, Any]]] = {}

    def __call__(self, page: Page, name: str) -> None:
        if not page.evaluate("() => typeof window.axe !== 'undefined'"):
            page.add_script_tag(path=AXE)
        found: list[dict[str, Any]] = page.evaluate(RUN_AXE, AXE_TAGS)
        duplicates: list[str] = page.evaluate(DUPLICATE_IDS)
        if duplicates:
            found.append({"id": "duplicate-id", "impact": "serious", "help": "ids must be unique",
                          "helpUrl": "", "nodes": [{"target": f"#{d}", "html": "", "summary": ""} for d in duplicates]})
        self.checked.append(name)
        if found:
            self.problems[f"{name} ({page.url})"] = found

    def assert_clean(self, expected_pages: set[str]) -> None:
        assert expected_pages <= set(self.checked), f"pages not reached: {expected_pages - set(self.checked)}"
        if self.problems:
            pytest.fail(self.report(), pytrace=False)

    def report(self) -> str:
        lines = [f"axe found violations on {len(self.problems)} of {len(self.checked)} pages:"]
        for where, violations in self.problems.items():
            lines.append(f"\n== {where}")
            for v in violations:
                lines.append(f"  [{v['impact']}] {v['id']}: {v['help']}  {v['helpUrl']}")
                for node in v["nodes"][:8]:
                    lines.append(f"      at {node['target']}: {node['html'][:160]}")
                    if node["summary"]:
                        lines.extend(f"         {row}" for row in node["summary"].splitlines())
        return "\n".join(lines)


EVERY_PAGE = {
    "landing", "portal", "report-form", "report-form-errors", "receipt", "follow-up", "follow-up-error",
    "reporter-case", "reporter-case-answered", "reporter-case-replied", "login", "login-error", "enrol",
    "recovery-codes", "second-factor", "queue", "case", "case-answered", "case-note-errors", "case-replied", "account",
    "account-errors", "admin-index", "admin-users", "admin-users-created", "admin-categories",
    "admin-categories-added", "not-found", "admin-readers", "readers", "choose-password",
    "choose-password-errors", "admin-readers-pending", "readers-pending", "readers-new-key", "queue-locked",
    "case-locked", "case-shared", "case-access-error", "admin-reset-password", "admin-reset-done",
    "queue-keys-reset", "case-locked-key-reset", "account-keys-reset", "case-person-errors", "case-person-named",
}


def test_every_page_passes_axe(new_context: ContextFactory, site: Site) -> None:
    axe = Axe()
    reporter = new_context(bypass_csp=True).new_page()
    staff = new_context(bypass_csp=True).new_page()
    steps.visit_every_page(reporter, staff, site, axe)
    axe.assert_clean(EVERY_PAGE)


@pytest.mark.parametrize("backend", ["sqlite"])  # the full walk above covers both databases
def test_pages_in_swedish_pass_axe(new_context: ContextFactory, site: Site) -> None:
    """Chosen with the footer's language form; longer words must not break contrast or layout."""
    axe = Axe()
    page = new_context(bypass_csp=True).new_page()
    page.goto("/")
    page.locator("footer button[value=sv]").click()
    expect(page.locator("html")).to_have_attribute("lang", "sv")
    axe(page, "landing")
    page.goto(f"/r/{site.slug}/")
    axe(page, "portal")
    page.goto(f"/r/{site.slug}/report")
    page.locator("main form button[type=submit]").click()
    expect(page.get_by_role("alert")).to_be_visible()
    axe(page, "report-form-errors")
    page.goto(f"/r/{site.slug}/follow-up")
    page.locator("input[name=case_key]").fill("AAAA-BBBB-CCCC-DDDD")
    page.locator("main form button[type=submit]").click()
    expect(page.get_by_role("alert")).to_be_visible()
    axe(page, "follow-up-error")
    page.goto("/staff/login")
    page.locator("input[name=email]").fill(site.email)
    page.locator("input[name=password]").fill("not the password")
    page.locator("main form button[type=submit]").click()
    expect(page.get_by_role("alert")).to_be_visible()
    axe(page, "login-error")
    response = page.goto("/no-such-page")
    assert response is not None and response.status == 404
    axe(page, "not-found")
    expect(page.locator("html")).to_have_attribute("lang", re.compile(r"^sv"))
    axe.assert_clean({"landing", "portal", "report-form-errors", "follow-up-error", "login-error", "not-found"})


@pytest.mark.parametrize("backend", ["sqlite"])
def test_pages_on_a_phone_pass_axe(new_context: ContextFactory, site: Site) -> None:
    """390x844: wrapped headers, a table that scrolls sideways, the long case key."""
    axe = Axe()
    phone: dict[str, Any] = {"viewport": PHONE, "is_mobile": True, "has_touch": True, "bypass_csp": True}
    reporter, staff = new_context(**phone).new_page(), new_context(**phone).new_page()
    key = steps.make_report(reporter, site, axe, show_errors=True)
    steps.sign_in(staff, site, axe, first_time=True)
    steps.open_first_case(staff, axe)
    steps.open_case_with_key(reporter, site, key, axe)
    axe.assert_clean({"portal", "report-form-errors", "receipt", "enrol", "recovery-codes", "queue", "case",
                      "reporter-case"})


@pytest.mark.parametrize("backend", ["sqlite"])
def test_the_pending_reporter_page_passes_axe(new_context: ContextFactory, site: Site, services: Services) -> None:
    """A migrated case whose reporter copy is still pending: a calm notice, and the reply form."""
    axe = Axe()
    reporter = new_context(bypass_csp=True).new_page()
    key = steps.make_report(reporter, site)
    services.session.execute(sa.delete(CasePrivateKeySeal).where(CasePrivateKeySeal.kind == "reporter"))
    services.session.commit()
    steps.open_case_with_key(reporter, site, key)
    expect(reporter.get_by_test_id("pending")).to_contain_text("Your report is safe.")
    expect(reporter.locator("main")).not_to_contain_text(steps.REPORT_TEXT)
    axe(reporter, "reporter-case-pending")
    axe.assert_clean({"reporter-case-pending"})


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_channel_that_cannot_receive_reports_passes_axe(new_context: ContextFactory, site: Site,
                                                          services: Services) -> None:
    """A tenant with no handler key and no escrow key: the portal and the form say so calmly."""
    services.tenants.create_tenant("Empty AB", "empty", CLI)
    services.session.commit()
    axe = Axe()
    page = new_context(bypass_csp=True).new_page()
    page.goto("/r/empty/")
    expect(page.get_by_test_id("not-ready")).to_contain_text("This channel cannot receive reports yet.")
    axe(page, "portal-not-ready")
    response = page.goto("/r/empty/report")
    assert response is not None and response.status == 503
    expect(page.get_by_test_id("not-ready")).to_be_visible()
    axe(page, "report-not-ready")
    axe.assert_clean({"portal-not-ready", "report-not-ready"})


@pytest.mark.parametrize("backend", ["sqlite"])  # the page's behaviour has its own tests on both databases
def test_the_retention_page_passes_axe(new_context: ContextFactory, site: Site, services: Services) -> None:
    """Retention and legal holds in every state: a due case, errors in each form, a hold, in English
    and in Swedish."""
    axe = Axe()
    reporter, staff = new_context(bypass_csp=True).new_page(), new_context(bypass_csp=True).new_page()
    steps.make_report(reporter, site)
    # Received 400 days ago and never acknowledged: due under the default 365-day limit.
    long_ago = site.clock() - dt.timedelta(days=400)
    services.session.execute(sa.update(Case).values(received_at=long_ago,
                                                    **queue_columns(long_ago, None, None, "received")))
    reference = services.session.execute(sa.select(Case.reference)).scalar_one()
    services.session.commit()
    steps.sign_in(staff, site, first_time=True)
    staff.get_by_role("link", name="Administration").click()
    staff.get_by_role("link", name="Retention and legal holds").click()
    expect(staff.get_by_test_id("due")).to_contain_text(reference)
    axe(staff, "admin-retention")

    staff.get_by_label("Delete closed cases after (days)").fill("5")
    staff.get_by_label("Delete reports nobody acknowledged after (days)").fill("a year")
    staff.get_by_role("button", name="Save policy").click()
    expect(staff.get_by_role("alert")).to_contain_text("Enter a number of days from 30 to 3650.")
    axe(staff, "admin-retention-policy-errors")

    staff.get_by_role("button", name="Place legal hold").click()
    expect(staff.get_by_role("alert")).to_contain_text("Enter the matter or file number.")
    axe(staff, "admin-retention-hold-errors")

    staff.get_by_label("Case reference").fill(reference)
    staff.get_by_label("Matter or file number").fill("Court file 4 O 117/26")
    staff.get_by_role("button", name="Place legal hold").click()
    expect(staff.get_by_role("status")).to_contain_text("The legal hold has been placed.")
    expect(staff.get_by_test_id("holds")).to_contain_text("Court file 4 O 117/26")
    expect(staff.get_by_test_id("due-count")).to_have_text("No case is due for deletion.")
    axe(staff, "admin-retention-hold")

    staff.locator("footer button[value=sv]").click()
    expect(staff.locator("html")).to_have_attribute("lang", "sv")
    staff.goto(f"/admin/t/{site.slug}/retention")
    expect(staff.get_by_role("heading", level=1)).to_contain_text("Gallring och bevarandebeslut")
    axe(staff, "admin-retention-sv")
    staff.get_by_role("button", name="Häv").click()
    expect(staff.get_by_role("status")).to_be_visible()
    expect(staff.get_by_test_id("due")).to_contain_text(reference)
    axe(staff, "admin-retention-released-sv")
    axe.assert_clean({"admin-retention", "admin-retention-policy-errors", "admin-retention-hold-errors",
                      "admin-retention-hold", "admin-retention-sv", "admin-retention-released-sv"})


@pytest.mark.parametrize("backend", ["sqlite"])  # the page's behaviour has its own tests on both databases
def test_the_api_tokens_page_passes_axe(new_context: ContextFactory, site: Site) -> None:
    """API tokens: empty, a form with errors, a new token shown once, the list, a revoked token."""
    axe = Axe()
    staff = new_context(bypass_csp=True).new_page()
    steps.sign_in(staff, site, first_time=True)
    staff.get_by_role("link", name="Administration").click()
    staff.get_by_role("link", name="API tokens").click()
    expect(staff.get_by_test_id("tokens")).to_have_text("There are no API tokens yet.")
    axe(staff, "admin-api-tokens")

    staff.get_by_role("button", name="Create token").click()
    expect(staff.get_by_role("alert")).to_contain_text("Enter a name.")
    axe(staff, "admin-api-tokens-errors")

    staff.get_by_label("Name").fill("Hotline desk")
    staff.get_by_label("Record reports received by phone").check()
    staff.get_by_label("Expires after (days)").fill("30")
    staff.get_by_role("button", name="Create token").click()
    expect(staff.get_by_test_id("new-token")).to_contain_text("apl_")
    expect(staff.get_by_test_id("tokens")).to_contain_text("Hotline desk")
    axe(staff, "admin-api-tokens-created")

    staff.get_by_role("button", name="Revoke: Hotline desk").click()
    expect(staff.get_by_role("status")).to_contain_text("The token has been revoked.")
    axe(staff, "admin-api-tokens-revoked")
    axe.assert_clean({"admin-api-tokens", "admin-api-tokens-errors", "admin-api-tokens-created",
                      "admin-api-tokens-revoked"})


@pytest.mark.parametrize("backend", ["sqlite"])  # the pages' behaviour has its own tests on both databases
def test_starting_a_reader_list_passes_axe(new_context: ContextFactory, site: Site, services: Services) -> None:
    """A new organisation: the handler's Readers page before and after asking to start, the
    administrator's page with the fingerprint form, its error, and both pages in Swedish."""
    tenant = services.tenants.create_tenant("Nordic AB", "nordic", CLI)
    services.session.commit()
    officer = services.users.by_email(site.email)
    services.users.grant_role(officer.id, tenant.id, Role.HANDLER, CLI)
    services.users.grant_role(officer.id, tenant.id, Role.ADMIN, CLI)
    services.session.commit()
    axe = Axe()
    staff = new_context(bypass_csp=True).new_page()
    steps.sign_in(staff, site, first_time=True)
    staff.goto("/staff/readers")
    expect(staff.get_by_test_id("not-started")).to_be_visible()
    axe(staff, "readers-not-started")
    staff.get_by_role("button", name="Start the reader list with my key").click()
    fingerprint = staff.get_by_test_id("my-fingerprint").locator("code").inner_text()
    axe(staff, "readers-start-requested")
    staff.goto("/admin/t/nordic/readers")
    field = staff.get_by_label("Fingerprint the handler reads out to you")
    field.fill("0000 0000")
    staff.get_by_role("button", name="Confirm the first reader").click()
    expect(staff.get_by_role("alert").first).to_contain_text("This is not the fingerprint of this request.")
    axe(staff, "admin-readers-fingerprint-error")
    staff.locator("footer button[value=sv]").click()
    expect(staff.locator("html")).to_have_attribute("lang", "sv")
    staff.goto("/admin/t/nordic/readers")
    field = staff.get_by_label("Fingeravtrycket som handläggaren läser upp för dig")
    field.fill("0000")
    staff.get_by_role("button", name="Bekräfta den första läsaren").click()
    expect(staff.get_by_role("alert").first).to_be_visible()
    axe(staff, "admin-readers-fingerprint-error-sv")
    field.fill(fingerprint)
    staff.get_by_role("button", name="Bekräfta den första läsaren").click()
    expect(staff.get_by_test_id("readers")).to_contain_text(site.email)
    axe(staff, "admin-readers-sv")
    staff.goto("/staff/readers")
    axe(staff, "readers-sv")
    axe.assert_clean({"readers-not-started", "readers-start-requested", "admin-readers-fingerprint-error",
                      "admin-readers-fingerprint-error-sv", "admin-readers-sv", "readers-sv"})


@pytest.mark.parametrize("backend", ["sqlite"])  # the limits have their own tests on both databases
def test_the_rate_limited_report_pages_pass_axe(new_context: ContextFactory, site: Site, services: Services) -> None:
    """Over the report limit: the form says so before anything is written, and a report sent
    anyway gets the 429 page in the organisation's frame, in English and in Swedish."""
    tenant = services.tenants.by_slug(site.slug)
    services.session.commit()
    for _ in range(services.ctx.settings.report_limit_per_client):  # this browser's address, as the server sees it
        services.reporting.admit_report(tenant, "127.0.0.1")
    axe = Axe()
    page = new_context(bypass_csp=True).new_page()
    page.goto(f"/r/{site.slug}/report")
    expect(page.get_by_test_id("report-wait")).to_contain_text("Too many reports right now")
    axe(page, "report-form-limited")
    page.get_by_label("What is it about?").select_option(label=site.category)
    page.get_by_label("What happened?").fill(steps.REPORT_TEXT)
    page.get_by_role("button", name="Send report").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Too many reports right now")
    expect(page.get_by_test_id("refused")).to_contain_text("Nothing you sent was read or stored")
    expect(page.get_by_role("link", name=site.tenant_name)).to_be_visible()
    axe(page, "report-refused")
    page.locator("footer button[value=sv]").click()
    expect(page.locator("html")).to_have_attribute("lang", "sv")
    page.goto(f"/r/{site.slug}/report")
    expect(page.get_by_test_id("report-wait")).to_contain_text("För många rapporter just nu")
    axe(page, "report-form-limited-sv")
    axe.assert_clean({"report-form-limited", "report-refused", "report-form-limited-sv"})


@pytest.mark.parametrize("backend", ["sqlite"])
def test_the_oral_report_pages_pass_axe(new_context: ContextFactory, site: Site) -> None:
    """Recording a report received by phone (with the form's errors), its receipt, the case page,
    and the reporter's review: the record, corrected, then approved."""
    axe = Axe()
    staff, reporter = new_context(bypass_csp=True).new_page(), new_context(bypass_csp=True).new_page()
    steps.sign_in(staff, site, first_time=True)
    key = steps.record_oral_report(staff, site, axe, show_errors=True)
    steps.review_oral_record(reporter, site, key, axe, correct=True)
    reporter.get_by_role("button", name="Approve the record with my corrections").click()
    expect(reporter.get_by_test_id("record-approved")).to_be_visible()
    axe(reporter, "reporter-oral-approved")
    staff.reload()
    expect(staff.get_by_test_id("review-state")).to_contain_text("Approved")
    axe(staff, "oral-case-reviewed")
    for page in (staff, reporter):  # the same pages in Swedish
        page.locator("footer button[value=sv]").click()
        expect(page.locator("html")).to_have_attribute("lang", "sv")
    expect(reporter.get_by_test_id("record-approved")).to_be_visible()
    axe(reporter, "reporter-oral-approved-sv")
    expect(staff.get_by_test_id("review-state")).to_contain_text("Godkänd")
    axe(staff, "oral-case-reviewed-sv")
    staff.goto("/staff/oral-reports/new")
    expect(staff.get_by_role("heading", level=1)).to_have_text(
        "Dokumentera en rapport som tagits emot per telefon eller vid ett möte")
    axe(staff, "oral-form-sv")
    # With a second channel the form asks which channel the record is for (Swedish, then English).
    staff.goto(f"/admin/t/{site.slug}/channels")
    staff.locator("main form input[name=name]").fill("Nordic subsidiary")
    staff.locator("main form:not(.inline-form) button[type=submit]").click()
    expect(staff.get_by_role("heading", level=1)).to_have_text("Nordic subsidiary")
    staff.goto("/staff/oral-reports/new")
    expect(staff.locator("select[name=reporting_channel] option")).to_have_count(2)
    axe(staff, "oral-form-channels-sv")
    staff.locator("footer button[value=en]").click()
    expect(staff.locator("html")).to_have_attribute("lang", "en")
    expect(staff.get_by_label("Which reporting channel is it for?")).to_contain_text("Nordic subsidiary")
    axe(staff, "oral-form-channels")
    axe.assert_clean({"oral-form", "oral-form-errors", "oral-receipt", "oral-case", "reporter-oral-record",
                      "reporter-oral-corrected", "reporter-oral-approved", "oral-case-reviewed",
                      "reporter-oral-approved-sv", "oral-case-reviewed-sv", "oral-form-sv",
                      "oral-form-channels-sv", "oral-form-channels"})


@pytest.mark.parametrize("backend", ["sqlite"])  # the room's behaviour has its own tests on both databases
def test_the_auditor_room_and_the_start_pages_pass_axe(new_context: ContextFactory, site: Site,
                                                       services: Services) -> None:
    """The chooser, the logbook room (events, a refused search, a verified chain), the pages still to
    come, in English and in Swedish."""
    tenant = services.tenants.by_slug(site.slug)
    officer = services.users.by_email(site.email)
    for role in (Role.AUDITOR, Role.ANALYST, Role.INSIDER_MANAGER):
        services.users.grant_role(officer.id, tenant.id, role, CLI)
    services.session.commit()
    axe = Axe()
    page = new_context(bypass_csp=True).new_page()
    steps.sign_in(page, site, axe, first_time=True)
    for language in ("en", "sv"):
        if language == "sv":
            page.locator("footer button[value=sv]").click()
            expect(page.locator("html")).to_have_attribute("lang", "sv")
        page.goto("/staff/rooms")
        expect(page.locator("main a")).to_have_count(5)
        axe(page, f"rooms-{language}")
        page.goto(f"/audit/t/{site.slug}/")
        expect(page.locator("tbody tr").first).to_be_visible()
        axe(page, f"audit-room-{language}")
        page.locator("form[action$='/verify'] button").click()
        expect(page.get_by_test_id("verification")).to_contain_text("intakt" if language == "sv" else "intact")
        axe(page, f"audit-room-verified-{language}")
        page.locator("#f-action").fill("x" * 64)
        page.locator("#f-since").fill("2030-01-02T00:00")
        page.locator("#f-until").fill("2030-01-01T00:00")
        page.locator("form.filters button[type=submit]").click()
        expect(page.get_by_role("alert")).to_be_visible()
        axe(page, f"audit-room-error-{language}")
        for url, name in (("/stats/", "stats"), ("/stats/?from=2026-13", "stats-error")):
            page.goto(url)
            axe(page, f"{name}-{language}")
    axe.assert_clean({f"{n}-{lang}" for lang in ("en", "sv") for n in
                      ("rooms", "audit-room", "audit-room-verified", "audit-room-error", "stats", "stats-error")})


@pytest.mark.parametrize("backend", ["sqlite"])  # the page's behaviour has its own tests on both databases
def test_the_insider_proposals_page_passes_axe(new_context: ContextFactory, site: Site, services: Services) -> None:
    """Proposed insiders from access events: proposals, an access after ceasing, a form with errors,
    a decision, in English and in Swedish."""
    from appliance.events.service import NewEvent
    from appliance.insiders.records import InsiderDetails

    tenant = services.tenants.by_slug(site.slug)
    officer = services.users.by_email(site.email)
    services.users.grant_role(officer.id, tenant.id, Role.INSIDER_MANAGER, CLI)
    now = site.clock()
    section = services.insider_lists.create_section(tenant.id, "FALCON", "Takeover", now - dt.timedelta(days=2), CLI)
    ceased = services.insider_lists.add_insider(tenant.id, section, InsiderDetails(
        first_name="Cy", surname="Berg", email="cy@example.com", function_reason="Analyst"),
        now - dt.timedelta(days=1), CLI, ceased=now - dt.timedelta(hours=20))
    assert ceased
    services.access_events.upload(tenant.id, [
        NewEvent(f"ev-{n}", "dms", now - dt.timedelta(hours=hours), email, "open", "/memo.pdf", "FALCON")
        for n, (email, hours) in enumerate((("anna@example.com", 10), ("bo@example.com", 8), ("cy@example.com", 2)))],
        CLI)
    services.session.commit()
    axe = Axe()
    page = new_context(bypass_csp=True).new_page()
    steps.sign_in(page, site, first_time=True)
    url = f"/insiders/t/{site.slug}/sections/{section}/proposals"
    page.goto(url)
    expect(page.locator("article")).to_have_count(2)
    axe(page, "proposals")
    page.locator("article").first.get_by_role("button", name="Dismiss").click()
    expect(page.get_by_role("alert").first).to_be_visible()
    axe(page, "proposals-errors")
    page.locator("article").first.get_by_label("Why is this person not an insider of this section?").fill("IT admin")
    page.locator("article").first.get_by_role("button", name="Dismiss").click()
    expect(page.get_by_role("status")).to_be_visible()
    axe(page, "proposals-dismissed")
    page.locator("footer button[value=sv]").click()
    expect(page.locator("html")).to_have_attribute("lang", "sv")
    page.goto(url)
    expect(page.get_by_role("heading", level=1)).to_contain_text("Föreslagna insiders")
    axe(page, "proposals-sv")
    axe.assert_clean({"proposals", "proposals-errors", "proposals-dismissed", "proposals-sv"})


@pytest.mark.parametrize("backend", ["sqlite"])  # the room's behaviour has its own tests on both databases
@pytest.mark.parametrize("language", ["en", "sv"])
def test_the_insider_room_and_the_insiders_pages_pass_axe(new_context: ContextFactory, site: Site, services: Services,
                                                          language: str) -> None:
    """Every page of /insiders/ (delayed disclosures, PDMRs, calendar, notice texts, insider lists with
    their history, proposals and closing) and the insiders' /acknowledge and /my-details pages, with
    errors and with content, in English and in Swedish."""
    tenant = services.tenants.by_slug(site.slug)
    officer = services.users.by_email(site.email)
    services.users.grant_role(officer.id, tenant.id, Role.INSIDER_MANAGER, CLI)
    services.session.commit()
    axe = Axe()
    staff, person = new_context(bypass_csp=True).new_page(), new_context(bypass_csp=True).new_page()
    steps.sign_in(staff, site, first_time=True)
    person.goto(f"/r/{site.slug}/acknowledge")
    for page in (staff, person):
        page.locator(f"footer button[value={language}]").click()
        expect(page.locator("html")).to_have_attribute("lang", language)
    insider_steps.insider_room(staff, person, site, axe)
    axe.assert_clean(insider_steps.EVERY_INSIDER_PAGE)


@pytest.mark.parametrize("backend", ["sqlite"])  # the rooms' behaviour has its own tests on both databases
@pytest.mark.parametrize("language", ["en", "sv"])
def test_every_state_of_the_statistics_and_logbook_rooms_passes_axe(new_context: ContextFactory, site: Site,
                                                                    services: Services, language: str) -> None:
    """The analyst's room with figures, withheld cells, charts and the access-event tables (by month
    and by day, one organisation and all), the insider manager's access-event page (with figures and
    with a refused period), and the logbook room's index, second page, empty search and refused
    cursor: in English and in Swedish."""
    tenant = services.tenants.by_slug(site.slug)
    officer = services.users.by_email(site.email)
    for role in (Role.AUDITOR, Role.ANALYST, Role.INSIDER_MANAGER):
        services.users.grant_role(officer.id, tenant.id, role, CLI)
    categories = services.tenants.categories(tenant.id)
    seed(services, tenant, categories[0].id, categories[-1].id, "axe")
    for source, project, day, n in (("badge", "FALCON", 3, 12), ("vpn", "HAWK", 4, 6), ("vpn", "FALCON", 5, 3)):
        services.access_events.upload(tenant.id, [NewEvent(
            f"{source}-{project}-{i}", source, dt.datetime(2026, 2, day, 9, tzinfo=dt.UTC), f"p{i}@example.com",
            "opened", "doc", project) for i in range(n)], CLI)
    for i in range(60):  # a logbook room with a second page
        services.logbook.record("case.opened", CLI, tenant_id=tenant.id, object_type="case", object_id=f"axe-{i}")
    services.session.commit()
    axe = Axe()
    page = new_context(bypass_csp=True).new_page()
    steps.sign_in(page, site, first_time=True)
    page.locator(f"footer button[value={language}]").click()
    expect(page.locator("html")).to_have_attribute("lang", language)
    names = []
    for url, name in ((f"/stats/?from=2026-01&to=2026-03&tenant={site.slug}", "stats-figures"),
                      ("/stats/?from=2026-01&to=2026-03", "stats-all-organisations"),
                      ("/stats/?from=2026-02&to=2026-02", "stats-by-day"),
                      ("/stats/?from=2020-01&to=2020-02", "stats-empty"),
                      (f"/insiders/t/{site.slug}/access-events?from=2026-01&to=2026-03", "insider-access-events"),
                      (f"/insiders/t/{site.slug}/access-events?from=2026-02&to=2026-02", "insider-access-events-by-day"),
                      (f"/insiders/t/{site.slug}/access-events?from=2026-13", "insider-access-events-error"),
                      ("/audit/", "audit-index"),
                      (f"/audit/t/{site.slug}/?action=nothing.like.this", "audit-room-empty"),
                      (f"/audit/t/{site.slug}/?cursor=1.forged", "audit-room-cursor-error")):
        page.goto(url)
        axe(page, f"{name}-{language}")
        names.append(f"{name}-{language}")
    page.goto(f"/stats/?from=2026-01&to=2026-03&tenant={site.slug}")
    expect(page.locator("table[data-access=source] tbody tr")).to_have_count(2)
    expect(page.locator("abbr").first).to_be_visible()  # withheld cells are marked
    page.goto(f"/audit/t/{site.slug}/")
    page.locator("a[rel=next]").click()
    expect(page.locator("tbody tr").first).to_be_visible()
    axe(page, f"audit-room-older-{language}")
    axe.assert_clean({*names, f"audit-room-older-{language}"})


@pytest.mark.parametrize("backend", ["sqlite"])  # the pages' behaviour has its own tests on both databases
def test_notice_and_metadata_pages_pass_axe(new_context: ContextFactory, site: Site) -> None:
    """The reporter's notification address (error, saved, removed) and the handler's page for a
    file mat2 could not clean."""
    axe = Axe()
    reporter, staff = new_context(bypass_csp=True).new_page(), new_context(bypass_csp=True).new_page()
    key = steps.make_report(reporter, site)
    steps.open_case_with_key(reporter, site, key)
    reporter.get_by_label("E-mail address for notices").fill("not an address")
    reporter.get_by_role("button", name="Save this address").click()
    expect(reporter.get_by_role("alert")).to_contain_text("does not look like an e-mail address")
    axe(reporter, "reporter-notify-errors")
    reporter.get_by_label("E-mail address for notices").fill("me@example.org")
    reporter.get_by_role("button", name="Save this address").click()
    expect(reporter.get_by_test_id("notify-done")).to_contain_text("Saved.")
    expect(reporter.get_by_label("E-mail address for notices")).to_have_value("")  # never shown back
    axe(reporter, "reporter-notify-saved")
    reporter.get_by_role("button", name="Remove any saved address").click()
    expect(reporter.get_by_test_id("notify-done")).to_contain_text("No address is saved now")
    axe(reporter, "reporter-notify-removed")

    steps.sign_in(staff, site, first_time=True)
    steps.open_first_case(staff)
    staff.get_by_test_id("cleaned-link").first.click()  # the test's "PDF" is not one mat2 can read
    expect(staff.get_by_test_id("not-cleaned")).to_be_visible()
    axe(staff, "attachment-not-cleaned")
    refused_url = staff.url
    staff.locator("footer button[value=sv]").click()
    expect(staff.locator("html")).to_have_attribute("lang", "sv")
    staff.goto(refused_url)
    expect(staff.get_by_role("heading", level=1)).to_have_text("Ingen kopia utan metadata")
    axe(staff, "attachment-not-cleaned-sv")
    axe.assert_clean({"reporter-notify-errors", "reporter-notify-saved", "reporter-notify-removed",
                      "attachment-not-cleaned", "attachment-not-cleaned-sv"})


@pytest.mark.parametrize("backend", ["sqlite"])  # the pages' behaviour has its own tests on both databases
def test_the_channel_pages_pass_axe(new_context: ContextFactory, site: Site) -> None:
    """Reporting channels: the list, a form with errors, one channel with its readers form and a
    pending proposal, the Art. 9(1)(g) text; the portal listing two channels and a channel's report
    form, in English and in Swedish."""
    axe = Axe()
    staff = new_context(bypass_csp=True).new_page()
    steps.sign_in(staff, site, first_time=True)
    staff.get_by_role("link", name="Administration").click()
    staff.get_by_role("link", name="Reporting channels").click()
    expect(staff.get_by_test_id("channels")).to_contain_text(site.tenant_name)
    axe(staff, "admin-channels")
    staff.get_by_role("button", name="Add", exact=True).click()
    expect(staff.get_by_role("alert")).to_be_visible()
    axe(staff, "admin-channels-errors")
    staff.get_by_label("Name").fill("Nordic subsidiary")
    staff.get_by_label("Intro text (optional)").fill("For reports about Nordic Widgets AB.")
    staff.get_by_label(site.category).check()
    staff.get_by_role("button", name="Add", exact=True).click()
    expect(staff.get_by_role("heading", level=1)).to_have_text("Nordic subsidiary")
    axe(staff, "admin-channel")
    staff.get_by_label(site.email).check()
    staff.get_by_role("button", name="Propose").click()
    expect(staff.get_by_test_id("pending")).to_contain_text("Nordic subsidiary")
    staff.go_back()
    staff.reload()
    axe(staff, "admin-channel-pending")
    staff.get_by_role("button", name="Add the question").click()
    expect(staff.get_by_role("alert").first).to_be_visible()
    axe(staff, "admin-channel-question-errors")
    staff.locator("#question-label").fill("Were you harmed?")
    staff.locator("#question-kind").select_option("yes_no")
    staff.get_by_label("An answer is required").check()
    staff.get_by_role("button", name="Add the question").click()
    staff.locator("#question-label").fill("How were you harmed?")
    staff.locator("#question-kind").select_option("long_text")
    staff.get_by_label("An answer is required").check()
    staff.locator("#question-show_if").select_option(label="Were you harmed?")
    staff.locator("#question-show_value").fill("yes")
    staff.get_by_role("button", name="Add the question").click()
    expect(staff.get_by_test_id("questions").locator("tbody tr")).to_have_count(2)
    axe(staff, "admin-channel-questions")
    staff.goto(f"/admin/t/{site.slug}/external-reporting")
    axe(staff, "admin-external-info")
    staff.get_by_role("button", name="Save").click()
    expect(staff.get_by_role("status")).to_contain_text("Saved.")
    axe(staff, "admin-external-info-saved")

    reporter = new_context(bypass_csp=True).new_page()
    for language in ("en", "sv"):
        if language == "sv":
            reporter.locator("footer button[value=sv]").click()
            expect(reporter.locator("html")).to_have_attribute("lang", "sv")
        reporter.goto(f"/r/{site.slug}/")
        expect(reporter.get_by_test_id("channels").locator("li")).to_have_count(2)
        expect(reporter.get_by_test_id("external-reporting")).to_be_visible()
        axe(reporter, f"portal-channels-{language}")
        reporter.get_by_test_id("channels").locator("li").nth(1).get_by_role("link").click()
        expect(reporter.get_by_test_id("channel-name")).to_contain_text("Nordic subsidiary")
        expect(reporter.get_by_test_id("question")).to_have_count(2)
        axe(reporter, f"report-form-channel-{language}")
        reporter.locator("select[name=category]").select_option(index=1)
        reporter.locator("textarea[name=what]").fill("Stock sold off the books.")
        reporter.locator("input[name=q_q1][value=yes]").check()
        reporter.locator("main form button[type=submit]").click()
        expect(reporter.get_by_test_id("question-errors")).to_be_visible()
        axe(reporter, f"report-form-question-errors-{language}")
        # Filed: the reporter's own case page shows the answers with the questions asked.
        reporter.locator("textarea[name=q_q2]").fill("I lost a bonus.")
        reporter.locator("main form button[type=submit]").click()
        key = reporter.get_by_test_id("case-key").inner_text()
        reporter.goto(f"/r/{site.slug}/follow-up")
        reporter.locator("input[name=case_key]").fill(key)
        reporter.locator("main form button[type=submit]").click()
        reporter.locator("details summary").first.click()
        expect(reporter.get_by_test_id("answers")).to_contain_text("I lost a bonus.")
        axe(reporter, f"reporter-case-answers-{language}")
    axe.assert_clean({"reporter-case-answers-en", "reporter-case-answers-sv",
                      "admin-channels", "admin-channels-errors", "admin-channel", "admin-channel-pending",
                      "admin-external-info", "admin-external-info-saved", "portal-channels-en", "portal-channels-sv",
                      "report-form-channel-en", "report-form-channel-sv", "admin-channel-questions",
                      "admin-channel-question-errors", "report-form-question-errors-en",
                      "report-form-question-errors-sv"})
@pytest.mark.parametrize("backend", ["sqlite"])  # the queue's behaviour has its own tests on both databases
def test_the_queue_pages_pass_axe(new_context: ContextFactory, site: Site, services: Services) -> None:
    """The work queue with many cases: the first page and the next (links only), a search that finds
    nothing, a refused search, a saved search and a refused save, in English and in Swedish."""
    tenant = services.tenants.by_slug(site.slug)
    category = services.tenants.categories(tenant.id)[0].id
    now = site.clock()
    insert_cases(services, tenant.id, category,
                 [(now - (3 + i) * dt.timedelta(days=1), None, None, "received") for i in range(60)])
    axe = Axe()
    staff = new_context(bypass_csp=True).new_page()
    steps.sign_in(staff, site, first_time=True)
    staff.goto("/staff/queue?sort=deadline")
    expect(staff.get_by_role("link", name="Next page")).to_be_visible()
    axe(staff, "queue-paged")
    staff.get_by_role("link", name="Next page").click()
    expect(staff.get_by_role("link", name="Previous page")).to_be_visible()
    axe(staff, "queue-page-two")
    staff.get_by_label("Case reference").fill("ZZZZ-ZZZZ")
    staff.get_by_label("Overdue only").check()
    staff.get_by_role("button", name="Filter").click()
    expect(staff.get_by_test_id("queue-empty")).to_be_visible()
    axe(staff, "queue-empty")
    staff.get_by_label("Name of this search").fill("Overdue <b>ZZZZ</b>")
    staff.get_by_role("button", name="Save this search").click()
    expect(staff.get_by_test_id("saved-filters")).to_contain_text("Overdue <b>ZZZZ</b>")
    axe(staff, "queue-saved")
    staff.get_by_label("Name of this search").fill("   ")  # only spaces: the browser's `required` lets it through
    staff.get_by_role("button", name="Save this search").click()
    expect(staff.get_by_role("alert")).to_contain_text("Name the search")
    axe(staff, "queue-save-error")
    staff.goto("/staff/queue?ref=%25%25")
    expect(staff.get_by_test_id("queue-error")).to_be_visible()
    axe(staff, "queue-error")

    staff.locator("footer button[value=sv]").click()
    expect(staff.locator("html")).to_have_attribute("lang", "sv")
    axe(staff, "queue-error-sv")
    staff.goto("/staff/queue?sort=deadline")
    expect(staff.get_by_role("link", name="Nästa sida")).to_be_visible()
    expect(staff.get_by_role("heading", name="Sparade sökningar")).to_be_visible()
    axe(staff, "queue-paged-sv")
    staff.get_by_role("link", name="Nästa sida").click()
    expect(staff.get_by_role("link", name="Föregående sida")).to_be_visible()
    axe(staff, "queue-page-two-sv")
    staff.get_by_role("link", name="Overdue <b>ZZZZ</b>").click()
    expect(staff.get_by_test_id("queue-empty")).to_be_visible()
    axe(staff, "queue-empty-sv")
    axe.assert_clean({"queue-paged", "queue-page-two", "queue-empty", "queue-saved", "queue-save-error",
                      "queue-error", "queue-error-sv", "queue-paged-sv", "queue-page-two-sv", "queue-empty-sv"})
