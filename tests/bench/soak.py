"""Soak: the production server under a steady mixed load for N minutes, watched over time.

`appliance init` + `appliance demo setup` + `appliance serve` (gunicorn, WORKERS=2, the
production command) on a fresh database; 4 reporter threads file reports (GET the form, POST
it) and 2 handler threads on one signed-in handler's session work the queue (queue page, a
case page, a note). Per time window it prints the requests, their p50/p99 latency, the errors
and each gunicorn worker's RSS. Goal: no RSS growth after warm-up (the first fifth), no errors.
Light argon2 (no benchmark here measures it); the application's per-client report limits are
raised, since every reporter here comes from one address.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

from appliance.crypto import totp
from tests.bench.common import BACKENDS, Figures, parse_args, print_table, stopped_at_end
from tests.bench.large_upload import child_pids, free_port, rss_bytes
from tests.light import LIGHT_ENV
from tests.support import pg_admin, pg_drop, pg_url
from tests.web import csrf_token, form_ref

CATEGORY = re.compile(r'<option value="([0-9a-f-]{36})"')
CASE_LINK = re.compile(r'href="/staff/cases/([0-9a-f-]{36})"')
MB = 1024 * 1024


@dataclass
class Sample:
    at: float
    kind: str
    seconds: float
    ok: bool


@dataclass
class Server:
    port: int
    process: subprocess.Popen[bytes]
    log: Path
    accounts: list[dict[str, object]]

    def workers(self) -> list[int]:
        return sorted(child_pids(self.process.pid))


class Browser:
    """Cookies and form posts over plain HTTP to the server's port (no nginx in front)."""

    def __init__(self, server: Server, cookies: dict[str, str] | None = None) -> None:
        self.server = server
        self.cookies = dict(cookies or {})

    def request(self, method: str, path: str, form: dict[str, str] | None = None) -> tuple[int, str, str]:
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=300)
        headers = {"Connection": "close"}
        body = None
        if form is not None:
            body = urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        try:
            conn.request(method, path, body=body, headers=headers)
            raw = conn.getresponse()
            text = raw.read().decode("utf-8", errors="replace")
            for cookie in raw.headers.get_all("Set-Cookie") or []:
                name, _, rest = cookie.partition("=")
                self.cookies[name] = rest.split(";", 1)[0]
            return raw.status, raw.headers.get("Location", ""), text
        finally:
            conn.close()


@dataclass
class Soak:
    server: Server
    started: float = field(default_factory=time.monotonic)
    stop: threading.Event = field(default_factory=threading.Event)
    samples: list[Sample] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def timed(self, kind: str, browser: Browser, method: str, path: str, expected: int,
              form: dict[str, str] | None = None) -> str | None:
        begin = time.monotonic()
        try:
            status, _, text = browser.request(method, path, form)
        except (OSError, http.client.HTTPException):
            status, text = 0, ""
        end = time.monotonic()
        with self.lock:
            self.samples.append(Sample(end - self.started, kind, end - begin, status == expected))
        return text if status == expected else None

    def reporter(self) -> None:
        while not self.stop.is_set():
            browser = Browser(self.server)
            form = self.timed("report form", browser, "GET", "/r/demo/report", 200)
            category = CATEGORY.search(form or "")
            if form is None or category is None:
                continue
            self.timed("new report", browser, "POST", "/r/demo/report", 303,  # on to the receipt
                       {"csrf_token": csrf_token(form, "report form"), "form_ref": form_ref(form) or "",
                        "category": category.group(1),
                        "what": "Invoices were approved by the person who submitted them. " * 8})

    def handler(self, cookies: dict[str, str], number: int) -> None:
        browser, n = Browser(self.server, cookies), number
        while not self.stop.is_set():
            n += 1
            queue = self.timed("queue", browser, "GET", "/staff/queue", 200)
            cases = CASE_LINK.findall(queue or "")
            if not cases:
                self.stop.wait(0.5)
                continue
            case = cases[n % len(cases)]
            page = self.timed("case page", browser, "GET", f"/staff/cases/{case}", 200)
            if page is not None:
                self.timed("note", browser, "POST", f"/staff/cases/{case}/notes", 303,
                           {"csrf_token": csrf_token(page, "case page"), "body": f"Soak note {n}"})


def sign_in(server: Server) -> dict[str, str]:
    account = next(a for a in server.accounts if "handler" in a["roles"])  # type: ignore[operator]
    browser = Browser(server)
    _, _, page = browser.request("GET", "/staff/login")
    status, location, _ = browser.request("POST", "/staff/login", {
        "csrf_token": csrf_token(page, "sign-in"), "email": str(account["email"]), "password": str(account["password"])})
    if status != 303:
        raise RuntimeError(f"sign-in answered {status}")
    step = location.rsplit("/staff/", 1)[-1]
    _, _, page = browser.request("GET", f"/staff/{step}")
    status, _, _ = browser.request("POST", f"/staff/{step}", {
        "csrf_token": csrf_token(page, "second step"),
        "code": totp.current_code(str(account["totp_secret"]), dt.datetime.now(dt.UTC))})
    if status not in (200, 303):
        raise RuntimeError(f"the second step answered {status}")
    return browser.cookies


@contextlib.contextmanager
def soak_server(backend: str, directory: Path) -> Iterator[Server]:
    appliance = str(Path(sys.executable).with_name("appliance"))
    data = directory / "data"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("APPLIANCE_", "GUNICORN_"))}
    env.update(LIGHT_ENV)
    env.update(APPLIANCE_CONFIG=str(data / "appliance.toml"), APPLIANCE_COOKIE_SECURE="false",
               APPLIANCE_REPORT_LIMIT_PER_CLIENT="1000000", APPLIANCE_REPORT_LIMIT_PER_CHANNEL="1000000",
               APPLIANCE_RUNTIME_DIR=str(directory / "run"), APPLIANCE_WORKERS="2")
    init = [appliance, "init", "--data-dir", str(data), "--base-url", f"http://127.0.0.1:{port}"]
    pg_name = None
    if backend == "postgres":
        pg_name = f"appliance_soak_{uuid.uuid4().hex[:12]}"
        pg_admin(f'CREATE DATABASE "{pg_name}"')
        init += ["--database-url", pg_url(pg_name)]
    try:
        subprocess.run(init, env=env, check=True, capture_output=True, timeout=600)
        accounts = json.loads(subprocess.run([appliance, "demo", "setup", "--json"], env=env, check=True,
                                             capture_output=True, text=True, timeout=600).stdout)["accounts"]
        log = directory / "server.log"
        with log.open("wb") as sink:
            process = subprocess.Popen([appliance, "serve", "--bind", f"127.0.0.1:{port}"], env=env, stdout=sink,
                                       stderr=subprocess.STDOUT)
        server = Server(port, process, log, accounts)
        with stopped_at_end(process):
            deadline = time.monotonic() + 300
            while len(server.workers()) < 2 or not _healthy(server):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the server did not start: {log.read_text()[-2000:]}")
                time.sleep(0.1)
            yield server
    finally:
        if pg_name is not None:
            pg_drop(pg_name)


def _healthy(server: Server) -> bool:
    try:
        return Browser(server).request("GET", "/readyz")[0] == 200
    except OSError:
        return False


def percentile(values: list[float], share: float) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[int(share * 100) - 1]


def soak(backend: str, seconds: float, window: float) -> Figures:
    with tempfile.TemporaryDirectory(prefix="appliance-soak-") as tmp, soak_server(backend, Path(tmp)) as server:
        cookies = sign_in(server)
        load = Soak(server)
        threads = [threading.Thread(target=load.reporter, daemon=True) for _ in range(4)]
        threads += [threading.Thread(target=load.handler, args=(cookies, i * 1000), daemon=True) for i in range(2)]
        for thread in threads:
            thread.start()
        workers = server.workers()
        rss: list[list[int]] = []
        ends: list[float] = []
        try:
            for index in range(1, int(seconds / window) + 1):
                load.stop.wait(max(0.0, load.started + index * window - time.monotonic()))
                rss.append([rss_bytes(pid) for pid in workers])
                ends.append(time.monotonic() - load.started)
        finally:
            load.stop.set()
            for thread in threads:
                thread.join(timeout=300)
        replaced = workers != server.workers()
    rows, figures = [], {}
    for index, end in enumerate(ends):
        begin = ends[index - 1] if index else 0.0
        window_samples = [s for s in load.samples if begin < s.at <= end]
        times = [s.seconds * 1000 for s in window_samples if s.ok]
        rows.append([f"{begin:.0f}-{end:.0f} s", len(window_samples), percentile(times, 0.5), percentile(times, 0.99),
                     sum(not s.ok for s in window_samples), *[r / MB for r in rss[index]]])
    warm = max(1, len(rss) // 5)  # warm-up: the first fifth of the run (at least one window)
    growth = [(rss[-1][w] - rss[warm - 1][w]) / MB for w in range(len(workers))]
    times = [s.seconds * 1000 for s in load.samples if s.ok]
    figures = {f"{backend} p50 ms": percentile(times, 0.5), f"{backend} p99 ms": percentile(times, 0.99),
               f"{backend} errors": float(sum(not s.ok for s in load.samples)),
               f"{backend} requests": float(len(load.samples)),
               **{f"{backend} worker {w + 1} RSS growth MB": g for w, g in enumerate(growth)}}
    kinds = sorted({s.kind for s in load.samples})
    per_kind = [f"{kind}: {sum(s.kind == kind for s in load.samples)} requests, p50 "
                f"{percentile([s.seconds * 1000 for s in load.samples if s.kind == kind and s.ok], 0.5):.1f} ms"
                for kind in kinds]
    print_table(f"Soak on {backend}: {seconds / 60:.1f} min, 4 reporters + 2 handler threads, `appliance serve` "
                "(2 workers x 4 threads, the defaults)",
                "no RSS growth after warm-up (the first fifth of the run), no errors",
                ["window", "requests", "p50 ms", "p99 ms", "errors", *[f"worker {w + 1} RSS MB" for w in range(len(workers))]],
                rows,
                [f"RSS growth after warm-up (from the end of window {warm}): "
                 + ", ".join(f"worker {w + 1} {g:+.1f} MB" for w, g in enumerate(growth))
                 + (" (a worker was replaced during the run)" if replaced else ""), *per_kind])
    return figures


def run(quick: bool, backends: Sequence[str], minutes: float = 1.0) -> Figures:
    seconds, window = (8.0, 2.0) if quick else (minutes * 60, max(5.0, min(60.0, minutes * 60 / 10)))
    figures: Figures = {}
    for backend in backends:
        figures.update(soak(backend, seconds, window))
    return figures


if __name__ == "__main__":
    arguments = parse_args(__doc__)
    run(arguments.quick, arguments.backend or BACKENDS)
