"""Real servers for the HTTP benchmarks: the appliance under `appliance serve` (as scripts/run
starts it) and a bare Flask page under the same gunicorn settings, plus a loopback client.

Everything runs as subprocesses on free loopback ports in a temporary directory and is
stopped at the end. Readiness is polled with a bounded loop that also watches the process.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from appliance.cli.ops import gunicorn_command
from appliance.settings import Settings
from tests.bench.common import stopped_at_end
from tests.support import pg_admin, pg_drop, pg_url
from tests.web import CASE_KEY, CSRF

__all__ = ["CASE_KEY", "CATEGORY", "Client", "Served", "appliance", "bare_flask", "csrf_of", "demo_accounts",
           "runtime_dir"]

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# Every report of the run comes from one address: limits high enough never to refuse one (the
# admission itself, a write to the runtime store, stays on the measured path).
NO_REPORT_LIMITS = {"APPLIANCE_REPORT_LIMIT_PER_CLIENT": str(10**9), "APPLIANCE_REPORT_LIMIT_PER_CHANNEL": str(10**9)}
CATEGORY = re.compile(r'<option value="([0-9a-f-]{36})"')


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class Served:
    port: int
    process: subprocess.Popen[bytes]
    data_dir: Path | None = None  # the appliance's (its config, master key, demo credentials)

    def client(self, per_request: bool = False) -> Client:
        return Client(self.port, per_request)


def _wait_ready(process: subprocess.Popen[bytes], port: int, log: Path, limit_s: float = 60) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited ({process.returncode}): {log.read_text(errors='replace')[-2000:]}")
        probe = Client(port)
        try:
            with contextlib.suppress(OSError):
                status, _ = probe.request("GET", "/healthz")
                if status in (200, 404):
                    return
        finally:
            probe.close()
        time.sleep(0.1)  # polling a subprocess that starts up, not a test waiting for time
    raise RuntimeError(f"the server on port {port} did not answer within {limit_s:.0f} s")


@contextlib.contextmanager
def _process(args: list[str], env: dict[str, str], port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as sink:
        process = subprocess.Popen(args, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=sink)
    with stopped_at_end(process):
        _wait_ready(process, port, log)
        yield process


@contextlib.contextmanager
def bare_flask() -> Iterator[Served]:
    """tests/bench/bare_app.py under gunicorn with `appliance serve`'s settings (WORKERS, THREADS defaults)."""
    defaults = Settings.__dataclass_fields__
    workers, threads = int(str(defaults["workers"].default)), int(str(defaults["threads"].default))
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="appliance-bench-bare-") as tmp:
        args = gunicorn_command(f"127.0.0.1:{port}", workers, threads, "tests.bench.bare_app:app")
        with _process(args, dict(os.environ), port, Path(tmp) / "gunicorn.log") as process:
            yield Served(port, process)


@contextlib.contextmanager
def runtime_dir() -> Iterator[Path]:
    """A RUNTIME_DIR on tmpfs, as in production (the web unit's RuntimeDirectory under /run): the
    ephemeral store's commits (rate limits, case-key lockouts) cost no disk flush there."""
    shm = Path("/dev/shm")
    with tempfile.TemporaryDirectory(prefix="appliance-bench-run-", dir=shm if shm.is_dir() else None) as tmp:
        yield Path(tmp)


def _appliance(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([str(BIN / "appliance"), *args], env=env, cwd=REPO, capture_output=True,
                          text=True, timeout=600, check=False)
    if done.returncode:
        raise RuntimeError(f"appliance {' '.join(args[:2])} failed: {done.stderr.strip()[-2000:]}")
    return done.stdout


@contextlib.contextmanager
def appliance(backend: str) -> Iterator[Served]:
    """`appliance init`, `db upgrade`, `demo setup` and `appliance serve`, as scripts/run does,
    on a new embedded SQLCipher database or a new PostgreSQL database (dropped afterwards)."""
    port = free_port()
    pg_name = None
    with tempfile.TemporaryDirectory(prefix="appliance-bench-web-") as tmp, runtime_dir() as runtime:
        data_dir = Path(tmp) / "var"
        env = {k: v for k, v in os.environ.items() if not k.startswith("APPLIANCE_")}
        env |= NO_REPORT_LIMITS | {"APPLIANCE_CONFIG": str(data_dir / "appliance.toml"),
                                   "APPLIANCE_RUNTIME_DIR": str(runtime)}
        init = ["init", "--data-dir", str(data_dir), "--base-url", f"http://127.0.0.1:{port}"]
        if backend != "sqlite":
            assert backend == "postgres", backend
            pg_name = f"appliance_bench_{uuid.uuid4().hex[:12]}"
            pg_admin(f'CREATE DATABASE "{pg_name}"')
            init += ["--database-url", pg_url(pg_name)]
        try:
            _appliance(env, *init)
            _appliance(env, "db", "upgrade")
            _appliance(env, "demo", "setup", "--json")
            args = [str(BIN / "appliance"), "serve", "--bind", f"127.0.0.1:{port}"]
            with _process(args, env, port, Path(tmp) / "serve.log") as process:
                yield Served(port, process, data_dir)
        finally:
            if pg_name is not None:
                pg_drop(pg_name)


class Client:
    """One keep-alive HTTP/1.1 connection with its own cookies, as one browser; or, with
    ``per_request``, a new connection for every request, as nginx opens them to the app hosts
    (nginx/appliance.conf's upstream keeps no idle connections)."""

    def __init__(self, port: int, per_request: bool = False) -> None:
        self._port = port
        self._per_request = per_request
        self._connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, body: bytes | None = None,
                content_type: str | None = None) -> tuple[int, str]:
        headers = {"Host": f"127.0.0.1:{self._port}", "Accept-Language": "en"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if content_type:
            headers["Content-Type"] = content_type
        if self._per_request:
            headers["Connection"] = "close"
        try:
            self._connection.request(method, path, body=body, headers=headers)
            response = self._connection.getresponse()
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            # gunicorn closed the idle keep-alive connection: reconnect once, as a browser does
            self._connection.close()
            self._connection.request(method, path, body=body, headers=headers)
            response = self._connection.getresponse()
        text = response.read().decode("utf-8", "replace")
        for header in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            value = rest.split(";", 1)[0]
            if "Max-Age=0" in header or "expires=Thu, 01 Jan 1970" in header:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value
        if response.will_close:
            self._connection.close()
        return response.status, text

    def expect(self, method: str, path: str, status: int, body: bytes | None = None,
               content_type: str | None = None) -> str:
        got, text = self.request(method, path, body, content_type)
        if got != status:
            raise RuntimeError(f"{method} {path} answered {got}, expected {status}")
        return text

    def close(self) -> None:
        self._connection.close()


def csrf_of(html: str, where: str) -> str:
    match = CSRF.search(html)
    if not match:
        raise RuntimeError(f"no CSRF token on {where}")
    return match.group(1)


def demo_accounts(served: Served) -> list[dict[str, object]]:
    assert served.data_dir is not None
    accounts: list[dict[str, object]] = json.loads((served.data_dir / "demo-credentials.json").read_text())
    return accounts
