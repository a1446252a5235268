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
# The report form's one-time reference (appliance/cases/receipts.py): a browser sends it back.
FORM_REF = re.compile(r'name="form_ref"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="form_ref"')


def form_ref(html: str) -> str | None:
    match = FORM_REF.search(html)
    return None if match is None else match.group(1) or match.group(2)


class Browser:
    def __init__(self, app: Flask) -> None:
        self.app = app
        self.client: FlaskClient = app.test_client()
        self.last: TestResponse | None = None

    def get(self, url: str, **kw: Any) -> TestResponse:
        self.last = self.client.get(url, **kw)
        return self.last

    def token(self, url: str) -> str:
        return self.form_fields(url)["csrf_token"]

    def form_fields(self, url: str) -> dict[str, str]:
        """What a browser sends back from the page's form without being asked: the CSRF token,
        and the report form's reference where there is one."""
        page = self.get(url)
        html = page.get_data(as_text=True)
        fields = {"csrf_token": csrf_token(html, f"{url} ({page.status_code})")}
        reference = form_ref(html)
        if reference is not None:
            fields["form_ref"] = reference
        return fields

    def post(self, url: str, data: dict[str, Any] | None = None, *, form_url: str | None = None,
             csrf: bool = True, **kw: Any) -> TestResponse:
        payload = dict(data or {})
        if csrf and "csrf_token" not in payload:
            payload = {**self.form_fields(form_url or url), **payload}
        self.last = self.client.post(url, data=payload, **kw)
        return self.last

    def text(self) -> str:
        assert self.last is not None
        return self.last.get_data(as_text=True)


def file(name: str, data: bytes, content_type: str = "application/pdf") -> tuple[io.BytesIO, str, str]:
    return (io.BytesIO(data), name, content_type)


def submit_report(browser: Browser, slug: str, category_id: str, **fields: Any) -> str:
    """File a report through the form and read its case key on the receipt it redirects to."""
    data = {"category": category_id, "what": "Something happened", **fields}
    response = browser.post(f"/r/{slug}/report", data, content_type="multipart/form-data")
    assert response.status_code == 303, response.get_data(as_text=True)
    return receipt_key(browser, response)


def receipt_key(browser: Browser, stored: TestResponse) -> str:
    """The case key on the receipt a stored report's 303 leads to (shown there once)."""
    assert stored.status_code == 303, stored.get_data(as_text=True)
    receipt = browser.get(stored.headers["Location"])
    assert receipt.status_code == 200, receipt.get_data(as_text=True)
    match = CASE_KEY.search(receipt.get_data(as_text=True))
    assert match, receipt.get_data(as_text=True)
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
