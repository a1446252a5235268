"""The scale-out test's load: reporters filing reports and handlers working the queue, through nginx.

Every request is recorded (method, what it was, status, when it started and ended on the
monotonic clock) so the test can tell a request that was in flight when a host was killed from
one that was not. Reporters come from addresses of their own (127.1.x.y), as real ones do, and
keep together under nginx's per-organisation ceiling for new reports (60/min, burst 30).
"""

from __future__ import annotations

import datetime as dt
import http.client
import itertools
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from appliance.crypto import totp
from tests.deploy.stack import Client, Response
from tests.web import csrf_token

CASE_KEY = re.compile(r'data-testid="case-key">([0-9A-Z-]{19})<')
CATEGORY = re.compile(r'<option value="([0-9a-f-]{36})"')
CASE_LINK = re.compile(r'href="/staff/cases/([0-9a-f-]{36})"')
REPORT_SPACING = 1.05  # seconds between new reports, all reporters together: under nginx's 60/min for good


@dataclass(frozen=True)
class Request:
    who: str
    method: str
    what: str
    status: int  # 0: no HTTP answer at all
    started: float
    ended: float


@dataclass
class Receipt:
    key: str
    marker: str


@dataclass
class Load:
    cluster: Any  # has .nginx, as tests/deploy/stack.Client needs
    stop: threading.Event = field(default_factory=threading.Event)
    requests: list[Request] = field(default_factory=list)
    receipts: list[Receipt] = field(default_factory=list)
    notes: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _sources: Any = field(default_factory=lambda: itertools.count(1))
    _next_report: float = 0.0

    def source(self) -> str:
        """A loopback address no other request used: one reporter each."""
        with self._lock:
            n = next(self._sources)
        return f"127.1.{n // 250}.{n % 250 + 1}"

    def client(self, source: str | None = None) -> Client:
        return Client(self.cluster, source or self.source())

    def call(self, who: str, client: Client, method: str, path: str, what: str, expected: tuple[int, ...],
             **kw: Any) -> Response | None:
        started = time.monotonic()
        try:
            if method == "GET":
                response: Response | None = client.get(path)
            else:
                response = client.post_form(path, kw["fields"])
            status = response.status if response else 0
        except (OSError, http.client.HTTPException):
            response, status = None, 0
        with self._lock:
            self.requests.append(Request(who, method, what, status, started, time.monotonic()))
        return response if status in expected else None

    def pace_report(self) -> None:
        with self._lock:
            now = time.monotonic()
            at = max(now, self._next_report)
            self._next_report = at + REPORT_SPACING
        self.stop.wait(max(0.0, at - now))

    # --- reporters ------------------------------------------------------------------------

    def reporter(self, number: int) -> None:
        for n in itertools.count():
            if self.stop.is_set():
                return
            client = self.client()
            form = self.call(f"reporter{number}", client, "GET", "/r/demo/report", "report form", (200,))
            if form is None:
                continue
            category = CATEGORY.search(form.text)
            assert category, form.text[:1000]
            marker = f"Scale-out report {number}.{n} {secrets.token_hex(6)}"
            self.pace_report()
            receipt = self.call(f"reporter{number}", client, "POST", "/r/demo/report", "new report", (200,),
                                fields={"csrf_token": csrf_token(form.text, "the report form"),
                                        "category": category.group(1), "what": marker})
            key = CASE_KEY.search(receipt.text) if receipt else None
            if key:
                with self._lock:
                    self.receipts.append(Receipt(key.group(1), marker))

    # --- handlers ---------------------------------------------------------------------------

    def handler(self, staff: Client, number: int) -> None:
        for n in itertools.count():
            if self.stop.is_set():
                return
            queue = self.call(f"handler{number}", staff, "GET", "/staff/queue", "queue", (200,))
            cases = CASE_LINK.findall(queue.text) if queue else []
            if not cases:
                self.stop.wait(0.2)
                continue
            case_id = cases[n % len(cases)]
            page = self.call(f"handler{number}", staff, "GET", f"/staff/cases/{case_id}", "case page", (200,))
            if page is None:
                continue
            done = self.call(f"handler{number}", staff, "POST", f"/staff/cases/{case_id}/notes", "note", (303,),
                             fields={"csrf_token": csrf_token(page.text, "the case page"),
                                     "body": f"Handler {number} note {n}"})
            if done is not None:
                with self._lock:
                    self.notes += 1

    def start(self, staff: list[Client], reporters: int = 4) -> list[threading.Thread]:
        threads = [threading.Thread(target=self.reporter, args=(i,), daemon=True) for i in range(reporters)]
        threads += [threading.Thread(target=self.handler, args=(s, i), daemon=True) for i, s in enumerate(staff)]
        for thread in threads:
            thread.start()
        return threads

    def finish(self, threads: list[threading.Thread]) -> None:
        self.stop.set()
        for thread in threads:
            thread.join(timeout=300)
            assert not thread.is_alive(), "a load thread hangs"


def sign_in(client: Client, account: dict[str, object]) -> None:
    """Password, then the TOTP code of the current time step (or first-time enrolment)."""
    login = client.get("/staff/login")
    signed = client.post_form("/staff/login", {"csrf_token": csrf_token(login.text, "the sign-in page"),
                                               "email": str(account["email"]), "password": str(account["password"])})
    assert signed.status == 303, signed.text[:1000]
    step = urlsplit(signed.one("Location")).path
    at = dt.datetime.now(dt.UTC)
    page = client.get(step)
    second = client.post_form(step, {"csrf_token": csrf_token(page.text, "the second step"),
                                     "code": totp.current_code(str(account["totp_secret"]), at)})
    assert second.status in (200, 303), second.text[:1000]
