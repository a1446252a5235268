"""A real server and a real Chromium: the app on a free local port, one browser per module.

The server runs the same Flask app as the functional tests (tests/conftest.py: `app` over a
fresh SQLite/SQLCipher or PostgreSQL database), served by werkzeug in a background thread.
The clock stays the FrozenClock of `ctx`: TOTP codes are computed from it, and it is moved
forward between sign-in steps the way tests/web.py does.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Playwright, sync_playwright
from werkzeug.serving import WSGIRequestHandler, make_server

from appliance.actors import CLI, Role
from appliance.crypto import totp
from appliance.services import Services
from tests.support import FrozenClock, principal, start_reader_list

CHROMIUM = Path("/usr/bin/chromium")
HERE = Path(__file__).parent
AXE = HERE / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = HERE / "artifacts"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
               "--no-first-run", "--disable-sync"]
PHONE = {"width": 390, "height": 844}
STEP_TIMEOUT_MS = 15_000

ContextFactory = Callable[..., BrowserContext]


@dataclass
class Site:
    """One tenant with a handler+admin account, served at base_url."""

    base_url: str
    backend: str
    clock: FrozenClock
    slug: str
    tenant_name: str
    category: str
    email: str
    password: str
    totp_secret: str

    def url(self, path: str) -> str:
        return self.base_url + path

    def next_code(self) -> str:
        """The code an authenticator shows half a minute later (a fresh step: no replay)."""
        self.clock.advance(seconds=30)
        return totp.current_code(self.totp_secret, self.clock())


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass  # one line per request would drown the test output


@pytest.fixture(scope="module")
def driver() -> Iterator[Playwright]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (scripts/test installs Debian's chromium)")
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(driver: Playwright) -> Iterator[Browser]:
    chromium = driver.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
    yield chromium
    chromium.close()


@pytest.fixture
def live_server(app: Any) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)
    server.server_close()


@pytest.fixture
def site(live_server: str, services: Services, clock: FrozenClock, backend: str) -> Site:
    tenant = services.tenants.create_tenant("Example AB", "example", CLI)
    password = "correct horse battery staple"
    user, enrolment = services.users.create_user("officer@example.com", password,
                                                 [(tenant.id, Role.HANDLER), (tenant.id, Role.ADMIN)], CLI,
                                                 with_totp=True, chosen_by_user=True)
    officer = principal(services, user.id, password)
    start_reader_list(services, tenant.id, officer, officer)  # a one-person compliance team confirms itself
    category = services.tenants.categories(tenant.id)[0]
    services.session.commit()  # end the transaction: on SQLite it holds the write lock the server needs
    assert enrolment is not None
    return Site(base_url=live_server, backend=backend, clock=clock, slug=tenant.slug, tenant_name=tenant.name,
                category=category.label, email="officer@example.com", password=password,
                totp_secret=enrolment.secret)


@pytest.fixture
def new_context(browser: Browser, site: Site) -> Iterator[ContextFactory]:
    """new_context(**playwright_options) -> a fresh browser profile on the site; closed at the end."""
    opened: list[BrowserContext] = []

    def make(**options: Any) -> BrowserContext:
        context = browser.new_context(base_url=site.base_url, **options)
        context.set_default_timeout(STEP_TIMEOUT_MS)
        opened.append(context)
        return context

    yield make
    for context in opened:
        context.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
