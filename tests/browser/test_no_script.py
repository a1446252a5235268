"""No page loads or contains any script, and the CSP would refuse an injected inline one.

The walk runs with JavaScript on and the CSP enforced, the way a real browser meets the
site; the slice test proves the pages also work with JavaScript off.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import ConsoleMessage, Page, Request, Response

from tests.browser import steps
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


@pytest.mark.parametrize("backend", ["sqlite"])  # what the pages contain does not depend on the database
def test_no_page_loads_any_script(new_context: ContextFactory, site: Site) -> None:
    scripts: list[str] = []
    documents: list[Response] = []
    errors: list[str] = []

    def on_request(request: Request) -> None:
        if request.resource_type == "script":
            scripts.append(request.url)

    def on_response(response: Response) -> None:
        if response.request.resource_type == "document":
            documents.append(response)

    def on_console(message: ConsoleMessage) -> None:
        # HTTP error statuses (a form sent back with errors, the 404 page) are not script errors.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            errors.append(f"{message.page.url if message.page else '?'}: {message.text}")

    def look(page: Page, name: str) -> None:
        assert page.locator("script").count() == 0, f"{name} has a <script> element"
        assert page.evaluate(INLINE_CODE) == [], f"{name} has inline event handlers or javascript: URLs"

    reporter_context, staff_context = new_context(), new_context()
    for context in (reporter_context, staff_context):
        context.on("request", on_request)
        context.on("response", on_response)
        context.on("console", on_console)
    steps.visit_every_page(reporter_context.new_page(), staff_context.new_page(), site, look)

    assert scripts == []
    assert errors == []
    assert len(documents) > 30
    for response in documents:
        csp = response.headers.get("content-security-policy")
        assert csp, f"no CSP on {response.url}"
        for directive, sources in script_policy(csp).items():
            assert sources <= SAFE_SCRIPT_SOURCES, f"{directive} {sorted(sources)} on {response.url}"


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
