"""A thin helper around Flask's test client that fills in CSRF tokens like a browser."""

from __future__ import annotations

import io
import re
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from appliance.crypto import totp
from tests.support import FrozenClock

CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def csrf_token(html: str, where: str) -> str:
    """The CSRF token of the (first) form in ``html``; ``where`` names the page for the failure."""
    match = CSRF.search(html)
    assert match, f"no CSRF token on {where}"
    return match.group(1)
CASE_KEY = re.compile(r'data-testid="case-key">([0-9A-Z-]{19})<')


class Browser:
    def __init__(self, app: Flask) -> None:
        self.app = app
        self.client: FlaskClient = app.test_client()
        self.last: TestResponse | None = None

    def get(self, url: str, **kw: Any) -> TestResponse:
        self.last = self.client.get(url, **kw)
        return self.last

    def token(self, url: str) -> str:
        page = self.get(url)
        return csrf_token(page.get_data(as_text=True), f"{url} ({page.status_code})")

    def post(self, url: str, data: dict[str, Any] | None = None, *, form_url: str | None = None,
             csrf: bool = True, **kw: Any) -> TestResponse:
        payload = dict(data or {})
        if csrf and "csrf_token" not in payload:
            payload["csrf_token"] = self.token(form_url or url)
        self.last = self.client.post(url, data=payload, **kw)
        return self.last

    def text(self) -> str:
        assert self.last is not None
        return self.last.get_data(as_text=True)


def file(name: str, data: bytes, content_type: str = "application/pdf") -> tuple[io.BytesIO, str, str]:
    return (io.BytesIO(data), name, content_type)


def submit_report(browser: Browser, slug: str, category_id: str, **fields: Any) -> str:
    data = {"category": category_id, "what": "Something happened", **fields}
    response = browser.post(f"/r/{slug}/report", data, content_type="multipart/form-data")
    assert response.status_code == 200, response.get_data(as_text=True)
    match = CASE_KEY.search(response.get_data(as_text=True))
    assert match
    return match.group(1)


def sign_in(browser: Browser, email: str, password: str, secret: str, clock: FrozenClock) -> TestResponse:
    response = browser.post("/staff/login", {"email": email, "password": password})
    assert response.status_code == 303, response.get_data(as_text=True)
    target = response.headers["Location"]
    clock.advance(seconds=30)
    code = totp.current_code(secret, clock())
    return browser.post(target, {"code": code})


def series(text: str) -> dict[str, float]:
    found: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            found[name] = float(value)
    return found
