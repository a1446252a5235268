"""A real nginx (rendered from nginx/appliance.conf) in front of a real gunicorn, in a temp dir.

Everything runs as subprocesses on free high ports and is stopped at the end; nothing under
/etc, /run or /var is touched. Readiness is polled with bounded loops that wait on the
subprocess itself (so a crash is reported at once, with its log), never with sleep().
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import shlex
import shutil
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import pytest

from tests.deploy import sandbox
from tests.light import LIGHT_ENV

REPO = Path(__file__).resolve().parents[2]
UNIT = REPO / "systemd" / "appliance-web.service"
TEMPLATE = REPO / "nginx" / "appliance.conf"
SANDBOX = Path(__file__).with_name("sandbox.py")
VENV_BIN = Path(sys.executable).parent
APPLIANCE = VENV_BIN / "appliance"
PRODUCTION_RUNTIME_DIR = "/run/appliance"
PRODUCTION_SOCKET = f"{PRODUCTION_RUNTIME_DIR}/web.sock"
SBIN_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/local/sbin", "/usr/sbin", "/sbin"])

WORKERS = 2  # gunicorn's, the WORKERS default
LOCKOUT_THRESHOLD = 3  # failed sign-ins before the application locks a client or an account
MONITORING_CLIENT = "127.0.0.66"  # the one loopback address nginx lets read /metrics
MONITORING_NETWORK = f"{MONITORING_CLIENT}/32"


def tool(name: str) -> str:
    """The path of a binary the deploy tests need, or skip (scripts/test installs them)."""
    path = shutil.which(name, path=SBIN_PATH)
    if path is None:
        pytest.skip(f"{name} is not installed (./scripts/test installs it with apt-get)")
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost and 127.0.0.1 (the clients verify it)."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run([tool("openssl"), "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True, timeout=60)
    return cert, key


def render_template(**values: object) -> str:
    """Render nginx/appliance.conf as the deployment does (Jinja2, unknown names are errors)."""
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False, trim_blocks=True)
    return env.from_string(TEMPLATE.read_text("utf-8")).render(**values)


def main_config(directory: Path, site: Path) -> str:
    """A minimal nginx.conf for running as root without touching /etc, /run or /var.

    Its http block carries Debian's stock defaults (TLS 1.0/1.1 on, server cipher order)
    so the tests prove the site overrides them.
    """
    user = "user root;\n" if os.geteuid() == 0 else ""
    d = directory
    return f"""{user}worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/logs/main.error.log;
events {{ worker_connections 64; }}
http {{
    ssl_protocols TLSv1 TLSv1.1 TLSv1.2 TLSv1.3;
    ssl_prefer_server_ciphers on;
    default_type application/octet-stream;
    access_log {d}/logs/main.access.log;
    client_body_temp_path {d}/temp/body;
    proxy_temp_path {d}/temp/proxy;
    fastcgi_temp_path {d}/temp/fastcgi;
    uwsgi_temp_path {d}/temp/uwsgi;
    scgi_temp_path {d}/temp/scgi;
    include {site};
}}
"""


@dataclass
class NginxSetup:
    directory: Path
    conf: Path
    log_dir: Path
    cert: Path
    http_port: int
    https_port: int

    @property
    def public_url(self) -> str:
        return f"https://localhost:{self.https_port}"

    def command(self, *args: str) -> list[str]:
        return [tool("nginx"), "-p", str(self.directory), "-c", str(self.conf), *args]


def write_nginx(directory: Path, app_socket: Path, **overrides: object) -> NginxSetup:
    """Certificate, rendered site and main config in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "logs").mkdir(exist_ok=True)
    (directory / "temp").mkdir(exist_ok=True)
    cert, key = make_certificate(directory)
    http_port, https_port = free_port(), free_port()
    setup = NginxSetup(directory, directory / "nginx.conf", directory / "logs", cert, http_port, https_port)
    site = directory / "appliance.conf"
    site.write_text(render_template(
        server_name="localhost", public_url=setup.public_url, http_port=http_port, https_port=https_port,
        tls_certificate=cert, tls_certificate_key=key,
        **{"app_servers": [f"unix:{app_socket}"], "monitoring_network": MONITORING_NETWORK,
           "log_dir": setup.log_dir, "client_max_body_size": "210m",
           "listen_ipv6": True, "load_balancers": [], **overrides}))
    setup.conf.write_text(main_config(directory, site))
    return setup


def unit_directives(name: str) -> list[str]:
    """Values of one directive in the unit file, in order."""
    prefix = f"{name}="
    return [line[len(prefix):] for line in UNIT.read_text("utf-8").splitlines() if line.startswith(prefix)]


def unit_command(socket_path: Path) -> list[str]:
    """The unit's ExecStart with this checkout's venv and a temp socket in place of /run."""
    (exec_start,) = unit_directives("ExecStart")
    argv = shlex.split(exec_start)
    assert Path(argv[0]).name == "appliance" and f"unix:{PRODUCTION_SOCKET}" in argv, exec_start
    return [str(APPLIANCE), *[a.replace(PRODUCTION_SOCKET, str(socket_path)) for a in argv[1:]]]


def unit_environment(runtime_dir: Path) -> dict[str, str]:
    """The unit's Environment= lines, its RuntimeDirectory (/run/appliance) moved to runtime_dir."""
    env: dict[str, str] = {}
    for value in unit_directives("Environment"):
        key, _, val = value.partition("=")
        env[key] = val.replace(PRODUCTION_RUNTIME_DIR, str(runtime_dir))
    return env


def sandbox_command(argv: list[str], unit: Path = UNIT) -> tuple[list[str], dict[str, str]] | None:
    """argv under the unit's seccomp rules (see sandbox.py), with the environment it needs;
    None when this host lacks systemd-analyze or libseccomp."""
    analyze = shutil.which("systemd-analyze", path=SBIN_PATH)
    if analyze is None or sandbox.libseccomp_path() is None:
        return None
    return [sys.executable, str(SANDBOX), str(unit), *argv], {"SYSTEMD_ANALYZE": analyze}


def wait_until(ready: Callable[[], bool], proc: subprocess.Popen[bytes], what: str, log: Path) -> None:
    """Poll ``ready`` until true; between polls wait on the process itself (bounded)."""
    deadline = time.monotonic() + 90
    for _ in range(2000):
        if ready():
            return
        try:
            proc.wait(timeout=0.05)
        except subprocess.TimeoutExpired:
            if time.monotonic() > deadline:
                break
            continue
        raise AssertionError(f"{what} exited with status {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
    raise AssertionError(f"{what} did not become ready:\n{log.read_text(errors='replace')[-3000:]}")


def accepts(address: str | tuple[str, int]) -> Callable[[], bool]:
    def probe() -> bool:
        family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.settimeout(2)
            try:
                sock.connect(address)
            except OSError:
                return False
            return True
    return probe


def parent_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


def children(pid: int) -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit() and parent_of(int(p.name)) == pid]


def forbid_temp_files(temp: Path) -> None:
    """Replace the request-body and proxy temp directories nginx made at start-up with plain
    files: from now on any attempt to buffer an upload or a response on disk (in clear)
    fails the request, so the upload and download tests prove nothing is written there."""
    for name in ("body", "proxy"):
        path = temp / name
        path.rmdir()
        path.write_bytes(b"")
        path.chmod(0)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@dataclass
class Stack:
    nginx: NginxSetup
    credentials: list[dict[str, object]]
    gunicorn_log: Path
    gunicorn_pid: int
    sandboxed: bool  # gunicorn runs under the unit's seccomp rules

    @property
    def log_dir(self) -> Path:
        return self.nginx.log_dir

    @property
    def metrics_dir(self) -> Path:
        return self.nginx.directory.parent / "metrics"

    def client(self, source: str = "127.0.0.1") -> Client:
        return Client(self, source)

    def scrape(self) -> dict[str, float]:
        """GET /metrics from the monitoring network: {series with labels: value}."""
        response = self.client(source=MONITORING_CLIENT).get("/metrics")
        assert response.status == 200, response.text[:500]
        assert response.one("Content-Type").startswith("text/plain")
        series: dict[str, float] = {}
        for line in response.text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                series[name] = float(value)
        return series


@contextmanager
def running_stack(directory: Path) -> Iterator[Stack]:
    """gunicorn (as the systemd unit starts it, under its seccomp rules) behind nginx."""
    tool("nginx")
    tool("openssl")
    data, sock = directory / "data", directory / "web.sock"
    nginx = write_nginx(directory / "nginx", sock)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("APPLIANCE_", "GUNICORN_"))}
    env.update(unit_environment(directory))
    env.update(LIGHT_ENV, APPLIANCE_CONFIG=str(data / "appliance.toml"), APPLIANCE_PROXY_COUNT="1",
               APPLIANCE_COOKIE_SECURE="true", APPLIANCE_BASE_URL=nginx.public_url,
               APPLIANCE_LOCKOUT_THRESHOLD=str(LOCKOUT_THRESHOLD))

    def cli(*args: str) -> str:
        done = subprocess.run([str(APPLIANCE), *args], env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"appliance {' '.join(args)}: {done.stderr}{done.stdout}"
        return done.stdout

    cli("init", "--data-dir", str(data), "--base-url", nginx.public_url)
    credentials = json.loads(cli("demo", "setup", "--json"))["accounts"]

    # `appliance serve` as the unit runs it, under the unit's seccomp rules when possible.
    command, serve_env = unit_command(sock), dict(env)
    sandboxed = sandbox_command(command)
    if sandboxed is not None:
        command, extra = sandboxed
        serve_env.update(extra)
    gunicorn_log = directory / "gunicorn.log"
    with gunicorn_log.open("wb") as out:
        gunicorn = subprocess.Popen(command, env=serve_env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_until(accepts(str(sock)), gunicorn, "gunicorn", gunicorn_log)
        # The master binds the socket before it forks its workers (with a short random pause
        # between them): the tests count on all of them.
        wait_until(lambda: len(children(gunicorn.pid)) >= WORKERS, gunicorn, "gunicorn's workers", gunicorn_log)
        nginx_log = directory / "nginx.log"
        with nginx_log.open("wb") as out:
            proc = subprocess.Popen(nginx.command("-g", "daemon off;"), stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_until(accepts(("127.0.0.1", nginx.https_port)), proc, "nginx", nginx_log)
            wait_until(accepts(("127.0.0.1", nginx.http_port)), proc, "nginx", nginx_log)
            forbid_temp_files(nginx.directory / "temp")
            yield Stack(nginx, credentials, gunicorn_log, gunicorn.pid, sandboxed is not None)
        finally:
            stop(proc)
    finally:
        stop(gunicorn)


# --- a small HTTP client that behaves like a browser on the appliance -----------------------


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def all(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def one(self, name: str) -> str:
        values = self.all(name)
        assert len(values) == 1, f"{name}: expected exactly one header, got {values}"
        return values[0]

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


@dataclass
class Client:
    """Keeps cookies, verifies the certificate, sends the Host a browser would; no Referer
    (the appliance answers with Referrer-Policy: no-referrer, so browsers send none)."""

    stack: Stack
    source: str = "127.0.0.1"
    cookies: dict[str, str] = field(default_factory=dict)

    def connection(self, scheme: str = "https") -> tuple[http.client.HTTPConnection, str]:
        nginx = self.stack.nginx
        if scheme == "http":
            return (http.client.HTTPConnection("127.0.0.1", nginx.http_port, timeout=60,
                                               source_address=(self.source, 0)), f"localhost:{nginx.http_port}")
        context = ssl.create_default_context(cafile=str(nginx.cert))
        return (http.client.HTTPSConnection("127.0.0.1", nginx.https_port, timeout=60, context=context,
                                            source_address=(self.source, 0)), f"localhost:{nginx.https_port}")

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None,
                scheme: str = "https") -> Response:
        conn, host = self.connection(scheme)
        sent = {"Host": host, "Connection": "close", "User-Agent": "appliance-deploy-test", **(headers or {})}
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        try:
            conn.request(method, path, body=body, headers=sent)
            raw = conn.getresponse()
            response = Response(raw.status, raw.getheaders(), raw.read())
        finally:
            conn.close()
        for cookie in response.all("Set-Cookie"):
            name, _, rest = cookie.partition("=")
            value = rest.split(";", 1)[0]
            if value and "max-age=0" not in cookie.lower():
                self.cookies[name] = value
            else:
                self.cookies.pop(name, None)
        return response

    def slow_download(self, path: str) -> Response:
        """GET a large response like a stalled client on a slow line: a 64 KiB receive
        buffer, and nothing read past the headers until 40 other requests have gone through
        nginx (and gunicorn's other worker). By then the application has normally streamed
        more than the sockets between nginx and the client can hold (nginx's send buffer
        grows to net.ipv4.tcp_wmem's maximum, 4 MiB by default), so an nginx allowed to park
        the rest in proxy_temp_path would try to, and fail on the sabotaged temp directory
        (see forbid_temp_files): the download comes back cut. With the template's
        proxy_max_temp_file_size 0, nginx just waits, and the download is whole."""
        conn, host = self.connection()

        def small_window(address: tuple[str, int], timeout: float, source: tuple[str, int] | None = None) -> socket.socket:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)  # before connect: no autotuning
            sock.settimeout(timeout)
            if source:
                sock.bind(source)
            sock.connect(address)
            return sock

        conn._create_connection = small_window  # type: ignore[attr-defined]
        try:
            cookies = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
            conn.request("GET", path, headers={"Host": host, "Connection": "close", "Cookie": cookies})
            raw = conn.getresponse()
            for _ in range(40):
                assert Client(self.stack, self.source).get("/healthz").status == 200
            return Response(raw.status, raw.getheaders(), raw.read())
        finally:
            conn.close()

    def get(self, path: str, **kw: object) -> Response:
        return self.request("GET", path, **kw)  # type: ignore[arg-type]

    def post_form(self, path: str, fields: dict[str, str], files: list[tuple[str, str, bytes]] | None = None,
                  headers: dict[str, str] | None = None) -> Response:
        body, content_type = multipart(fields, files or [])
        return self.request("POST", path, body=body, headers={"Content-Type": content_type, **(headers or {})})


def multipart(fields: dict[str, str], files: list[tuple[str, str, bytes]]) -> tuple[bytes, str]:
    boundary = f"----appliance{secrets.token_hex(12)}"
    parts: list[bytes] = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for name, filename, data in files:
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                     f"Content-Type: application/octet-stream\r\n\r\n".encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"
