"""Peak memory of the web server while a reporter uploads, and downloads back, a 1 GB file.

The server is the production one: `appliance init --data-dir` then `appliance serve`
(gunicorn, one worker) in a subprocess, with the upload limits raised to 1.1 GB through
APPLIANCE_MAX_ATTACHMENT_BYTES / APPLIANCE_MAX_REPORT_BYTES. The client streams the
multipart body with http.client in 1 MB pieces (it never holds the file either), then
follows up with the case key and streams the attachment back, checking its SHA-256.
The worker's peak RSS is read from /proc (VmHWM, reset between phases) and sampled.
Goal: peak RSS < 100 MB in both directions. --quick moves 20 MB instead.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path

from appliance.context import build_context
from appliance.services import Services
from appliance.settings import load_settings
from tests.bench.common import BACKENDS, Figures, Multipart, parse_args, print_table, stopped_at_end
from tests.support import pg_admin, pg_drop, pg_url, tenant_with_reader
from tests.web import CASE_KEY, csrf_token, form_ref

GOAL_MB = 100
FULL_BYTES = 1024**3
QUICK_BYTES = 20 * 1024**2
LIMIT_BYTES = int(1.1 * 1024**3)
PIECE = 1024 * 1024
SLUG = "bench"
CATEGORY = re.compile(r'<option value="([0-9a-f-]{36})"')
ATTACHMENT = re.compile(rf'href="(/r/{SLUG}/case/attachments/[0-9a-f-]{{36}})"')
MB = 1024 * 1024


# --- the server's memory -----------------------------------------------------------------------
def _status_kb(pid: int, field: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def rss_bytes(pid: int) -> int:
    try:
        import psutil  # optional; /proc is enough on Linux
    except ImportError:
        return (_status_kb(pid, "VmRSS") or 0) * 1024
    return int(psutil.Process(pid).memory_info().rss)


class PeakRss:
    """Highest RSS of one process over a block: the kernel's high-water mark (VmHWM, reset
    at the start through clear_refs) where available, and a 10 ms sampler in any case."""

    def __init__(self, pid: int) -> None:
        self._pid = pid
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self.sampled = 0
        self.kernel: int | None = None

    def __enter__(self) -> PeakRss:
        with contextlib.suppress(OSError):
            Path(f"/proc/{self._pid}/clear_refs").write_text("5")  # reset VmHWM to the current RSS
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        hwm = _status_kb(self._pid, "VmHWM")
        self.kernel = hwm * 1024 if hwm is not None else None

    def _sample(self) -> None:
        while not self._stop.wait(0.01):
            self.sampled = max(self.sampled, rss_bytes(self._pid))

    @property
    def peak(self) -> int:
        return max(self.sampled, self.kernel or 0)


# --- the server --------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def child_pids(parent: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                stat = (entry / "stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
                    children.append(int(entry.name))
    return children


@dataclass
class Server:
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def worker(self) -> int:
        workers = child_pids(self.process.pid)
        if len(workers) != 1:
            raise RuntimeError(f"expected one gunicorn worker, found {workers}")
        return workers[0]

    def connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)


@contextlib.contextmanager
def appliance_server(backend: str, directory: Path) -> Iterator[Server]:
    """`appliance init` + `appliance tenant create` + `appliance serve --workers 1`."""
    appliance = str(Path(sys.executable).with_name("appliance"))
    data_dir = directory / "data"
    env = {**os.environ, "APPLIANCE_CONFIG": str(data_dir / "appliance.toml"),
           "APPLIANCE_MAX_ATTACHMENT_BYTES": str(LIMIT_BYTES), "APPLIANCE_MAX_REPORT_BYTES": str(LIMIT_BYTES)}
    pg_name = None
    init = [appliance, "init", "--data-dir", str(data_dir)]
    if backend == "postgres":
        pg_name = f"appliance_bench_{uuid.uuid4().hex[:12]}"
        pg_admin(f'CREATE DATABASE "{pg_name}"')
        init += ["--database-url", pg_url(pg_name)]
    try:
        subprocess.run(init, env=env, check=True, capture_output=True)
        # A channel takes reports only when someone could read them: a confirmed reader.
        context = build_context(load_settings(environ=env))
        try:
            with context.unit_of_work() as session:
                tenant_with_reader(Services(context, session), "Bench AB", SLUG, "handler@bench.example",
                                   password="bench horse battery staple")
        finally:
            context.close()
        port = free_port()
        log = directory / "server.log"
        with log.open("wb") as sink:
            process = subprocess.Popen([appliance, "serve", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
                                       env=env, stdout=sink, stderr=subprocess.STDOUT)
        server = Server(port, process, log)
        with stopped_at_end(process):
            _wait_until_ready(server)
            yield server
    finally:
        if pg_name is not None:
            pg_drop(pg_name)


def _wait_until_ready(server: Server, seconds: float = 300) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"the server exited: {server.log.read_text()[-2000:]}")
        with contextlib.suppress(OSError):
            connection = server.connection()
            try:
                connection.request("GET", "/healthz")
                if connection.getresponse().status == 200 and len(child_pids(server.process.pid)) == 1:
                    return
            finally:
                connection.close()
        time.sleep(0.1)
    raise RuntimeError(f"the server did not become ready within {seconds:.0f} s: {server.log.read_text()[-2000:]}")


# --- the reporter's browser ----------------------------------------------------------------------
class Reporter:
    """Just enough of a browser: cookies, CSRF tokens, streamed bodies."""

    def __init__(self, server: Server) -> None:
        self._server = server
        self.cookies: dict[str, str] = {}

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = {"Host": f"127.0.0.1:{self._server.port}", **(extra or {})}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        return headers

    def _keep_cookies(self, response: http.client.HTTPResponse) -> None:
        for header in response.headers.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(header).items():
                self.cookies[name] = morsel.value

    def get(self, path: str) -> tuple[int, str]:
        connection = self._server.connection()
        try:
            connection.request("GET", path, headers=self._headers())
            response = connection.getresponse()
            self._keep_cookies(response)
            return response.status, response.read().decode()
        finally:
            connection.close()

    def post_form(self, path: str, fields: dict[str, str]) -> tuple[int, str]:
        body = Multipart.fields(fields) + Multipart.end()[2:]
        connection = self._server.connection()
        try:
            connection.request("POST", path, body=body, headers=self._headers({"Content-Type": Multipart.content_type}))
            response = connection.getresponse()
            self._keep_cookies(response)
            return response.status, response.read().decode()
        finally:
            connection.close()

    def upload(self, path: str, fields: dict[str, str], size: int) -> tuple[int, str, str]:
        """POST fields and one file of ``size`` generated bytes, streamed; (status, page, sha256)."""
        head = Multipart.fields(fields) + Multipart.file_head("attachments", "evidence.bin",
                                                              "application/octet-stream")
        tail = Multipart.end()
        digest = hashlib.sha256()
        block = os.urandom(PIECE)
        connection = self._server.connection()
        try:
            connection.putrequest("POST", path, skip_host=True)
            for name, value in self._headers({"Content-Type": Multipart.content_type,
                                              "Content-Length": str(len(head) + size + len(tail))}).items():
                connection.putheader(name, value)
            connection.endheaders(head)
            for index, offset in enumerate(range(0, size, PIECE)):
                piece = index.to_bytes(8, "big") + block[8:min(PIECE, size - offset)]
                digest.update(piece)
                connection.send(piece)
            connection.send(tail)
            response = connection.getresponse()
            self._keep_cookies(response)
            return response.status, response.read().decode(), digest.hexdigest()
        finally:
            connection.close()

    def download(self, path: str) -> tuple[int, int, str]:
        """(status, bytes, sha256) of a streamed download; at most one piece held."""
        connection = self._server.connection()
        digest = hashlib.sha256()
        total = 0
        try:
            connection.request("GET", path, headers=self._headers())
            response = connection.getresponse()
            while piece := response.read(PIECE):
                digest.update(piece)
                total += len(piece)
            return response.status, total, digest.hexdigest()
        finally:
            connection.close()


# --- the benchmark -----------------------------------------------------------------------------
@dataclass
class Phase:
    seconds: float
    rss_before: int
    peak: PeakRss


def measure(backend: str, size: int) -> tuple[Phase, Phase]:
    with tempfile.TemporaryDirectory(prefix="appliance-bench-") as tmp, \
            appliance_server(backend, Path(tmp)) as server:
        reporter = Reporter(server)
        status, page = reporter.get(f"/r/{SLUG}/report")
        category = CATEGORY.search(page)
        if status != 200 or category is None:
            raise RuntimeError(f"no report form (HTTP {status})")
        token = csrf_token(page, "the report form")
        worker = server.worker
        fields = {"csrf_token": token, "form_ref": form_ref(page) or "", "category": category.group(1),
                  "what": "The attached export shows the payments.", "when": "Last quarter",
                  "where": "Finance", "people": "The controller"}
        before = rss_bytes(worker)
        with PeakRss(worker) as upload_peak:
            start = time.perf_counter()
            status, page, sent_digest = reporter.upload(f"/r/{SLUG}/report", fields, size)
            upload = Phase(time.perf_counter() - start, before, upload_peak)
        if status == 303:  # stored: the case key is on the receipt it redirects to
            status, page = reporter.get(f"/r/{SLUG}/receipt")
        case_key = CASE_KEY.search(page)
        if status != 200 or case_key is None:
            raise RuntimeError(f"the upload was not accepted (HTTP {status}); server log: "
                               f"{server.log.read_text()[-2000:]}")
        if server.worker != worker:
            raise RuntimeError("the gunicorn worker was replaced during the upload")

        reporter.cookies.clear()
        status, page = reporter.get(f"/r/{SLUG}/follow-up")
        token = csrf_token(page, "the follow-up form")
        status, _ = reporter.post_form(f"/r/{SLUG}/follow-up",
                                       {"csrf_token": token, "case_key": case_key.group(1)})
        if status != 303:
            raise RuntimeError(f"the case key was not accepted (HTTP {status})")
        status, page = reporter.get(f"/r/{SLUG}/case")
        link = ATTACHMENT.search(page)
        if status != 200 or link is None:
            raise RuntimeError(f"the case page shows no attachment (HTTP {status})")
        before = rss_bytes(worker)
        with PeakRss(worker) as download_peak:
            start = time.perf_counter()
            status, received, got_digest = reporter.download(link.group(1))
            download = Phase(time.perf_counter() - start, before, download_peak)
        if status != 200 or received != size or got_digest != sent_digest:
            raise RuntimeError(f"the download differs: HTTP {status}, {received} of {size} bytes")
    return upload, download


def run(quick: bool = False, backends: Sequence[str] = BACKENDS) -> Figures:
    size = QUICK_BYTES if quick else FULL_BYTES
    figures: Figures = {}
    rows = []
    for backend in backends:
        for name, phase in zip(("upload", "download"), measure(backend, size)):
            peak_mb = phase.peak.peak / MB
            figures.update({f"{backend}.{name}_peak_rss_mb": peak_mb, f"{backend}.{name}_seconds": phase.seconds})
            rows.append((backend, name, size / MB, phase.seconds, size / MB / phase.seconds, phase.rss_before / MB,
                         phase.peak.sampled / MB, (phase.peak.kernel or 0) / MB, peak_mb,
                         "yes" if peak_mb < GOAL_MB else "NO"))
    print_table(
        f"3. Server memory while a {size / MB:,.0f} MB attachment goes up and comes back down",
        f"peak RSS of the gunicorn worker < {GOAL_MB} MB",
        ("backend", "phase", "MB", "seconds", "MB/s", "RSS before MB", "sampled peak MB", "VmHWM MB",
         "peak MB", "goal met"), rows,
        ["`appliance serve` (gunicorn, 1 worker, gthread) on a config from `appliance init --data-dir`; "
         "no nginx in front; client: http.client streaming 1 MB pieces, SHA-256 checked both ways",
         "VmHWM is the kernel's high-water mark, reset before each phase; 0 where /proc cannot tell"])
    return figures


if __name__ == "__main__":
    arguments = parse_args(__doc__)
    run(arguments.quick, arguments.backend or BACKENDS)
