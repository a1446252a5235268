"""No page loads or contains any script, and the CSP would refuse an injected inline one.

The walk runs with JavaScript on and the CSP enforced, the way a real browser meets the
site; the slice test proves the pages also work with JavaScript off.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import BrowserContext, ConsoleMessage, Page, Request, Response

from appliance.actors import CLI, Role
from appliance.services import Services
from tests.browser import insider_steps, steps
from tests.browser.conftest import ContextFactory, Site

pytestmark = pytest.mark.browser

SAFE_SCRIPT_SOURCES = {"'self'", "'none'"}
INLINE_CODE = """() => [...document.querySelectorAll("*")].flatMap(el =>
  [...el.attributes].filter(a => /^on/i.test(a.name) || /^\\s*javascript:/i.test(a.value)).map(a => `${el.tagName} ${a.name}`))"""


def script_policy(csp: str) -> dict[str, set[str]]:
    """The CSP directives that govern scripts; script-src falls back to default-src."""
    directives = {}
    for part in csp.split(";"):
        name, *sources = part.split()
        directives[name.lower()] = set(sources)
    governing = {"script-src": directives.get("script-src", directives.get("default-src"))}
    for name in ("script-src-elem", "script-src-attr"):
        if name in directives:
            governing[name] = directives[name]
    return {name: sources for name, sources in governing.items() if sources is not None}


def test_script_policy_reads_the_fallback() -> None:
    assert script_policy("default-src 'none'; sandbox") == {"script-src": {"'none'"}}
    assert script_policy("default-src 'self'; script-src 'self' 'unsafe-inline'") == {
        "script-src": {"'self'", "'unsafe-inline'"}}


class ScriptWatch:
    """Listens on browser contexts: scripts requested, documents served, console errors; as a
    look(), checks the page for script elements and inline code."""

    def __init__(self, *contexts: BrowserContext) -> None:
        self.scripts: list[str] = []
        self.documents: list[Response] = []
        self.errors: list[str] = []
        for context in contexts:
            context.on("request", self.on_request)
            context.on("response", self.on_response)
            context.on("console", self.on_console)

    def on_request(self, request: Request) -> None:
        if request.resource_type == "script":
            self.scripts.append(request.url)

    def on_response(self, response: Response) -> None:
        if response.request.resource_type == "document":
            self.documents.append(response)

    def on_console(self, message: ConsoleMessage) -> None:
        # HTTP error statuses (a form sent back with errors, the 404 page) are not script errors.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.errors.append(f"{message.page.url if message.page else '?'}: {message.text}")

    def __call__(self, page: Page, name: str) -> None:
        assert page.locator("script").count() == 0, f"{name} has a <script> element"
        assert page.evaluate(INLINE_CODE) == [], f"{name} has inline event handlers or javascript: URLs"

    def assert_clean(self, at_least: int) -> None:
        assert self.scripts == []
        assert self.errors == []
        assert len(self.documents) > at_least
        for response in self.documents:
            csp = response.headers.get("content-security-policy")
            assert csp, f"no CSP on {response.url}"
            for directive, sources in script_policy(csp).items():
                assert sources <= SAFE_SCRIPT_SOURCES, f"{directive} {sorted(sources)} on {response.url}"


@pytest.mark.parametrize("backend", ["sqlite"])  # what the pages contain does not depend on the database
def test_no_page_loads_any_script(new_context: ContextFactory, site: Site) -> None:
    reporter_context, staff_context = new_context(), new_context()
    watch = ScriptWatch(reporter_context, staff_context)
    steps.visit_every_page(reporter_context.new_page(), staff_context.new_page(), site, watch)
    watch.assert_clean(at_least=30)


@pytest.mark.parametrize("backend", ["sqlite"])
def test_no_page_of_the_insider_room_loads_any_script(new_context: ContextFactory, site: Site,
                                                     services: Services) -> None:
    """/insiders/ and the insiders' /acknowledge and /my-details pages (the exports are downloads
    with their own sandboxing CSP, checked by the functional tests)."""
    tenant = services.tenants.by_slug(site.slug)
    officer = services.users.by_email(site.email)
    services.users.grant_role(officer.id, tenant.id, Role.INSIDER_MANAGER, CLI)
    services.session.commit()
    staff_context, person_context = new_context(), new_context()
    watch = ScriptWatch(staff_context, person_context)
    staff = staff_context.new_page()
    steps.sign_in(staff, site, first_time=True)
    insider_steps.insider_room(staff, person_context.new_page(), site, watch)
    watch.assert_clean(at_least=40)


@pytest.mark.parametrize("backend", ["sqlite"])
def test_csp_refuses_an_injected_inline_script(new_context: ContextFactory, site: Site) -> None:
    page = new_context().new_page()
    response = page.goto(f"/r/{site.slug}/report")
    assert response is not None
    assert script_policy(response.headers["content-security-policy"]) == {"script-src": {"'self'"}}
    with page.expect_console_message(lambda message: "Content Security Policy" in message.text):
        page.evaluate("""() => {
          const s = document.createElement("script");
          s.textContent = "document.documentElement.dataset.ran = 'yes'";
          document.body.append(s);
        }""")
    assert page.evaluate("() => document.documentElement.dataset.ran") is None
