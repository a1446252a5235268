"""Two app hosts on one PostgreSQL database behind nginx (nginx/appliance.conf with two servers).

Each "host" is an `appliance serve` started as systemd/appliance-web.service starts it, with its
own runtime directory (throttles, metrics) and a unix socket of its own, in its own process
group so that it can be killed whole with SIGKILL, as a crashed host would go. Host B also runs
`appliance scheduler`. The load (tests/deploy/load.py) goes through nginx.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.deploy.stack import (
    APPLIANCE,
    WORKERS,
    NginxSetup,
    accepts,
    children,
    stop,
    tool,
    unit_command,
    unit_environment,
    wait_until,
    write_nginx,
)
from tests.light import LIGHT_ENV
from tests.support import pg_admin, pg_drop, pg_url
from tests.web import series


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP to one host's gunicorn socket directly, bypassing nginx (as nginx would send it)."""

    def __init__(self, path: Path) -> None:
        super().__init__("localhost", timeout=120)
        self.path = str(path)

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


@dataclass
class AppHost:
    name: str
    directory: Path
    env: dict[str, str]
    public_host: str  # the Host header nginx passes on
    proc: subprocess.Popen[bytes] | None = None

    @property
    def socket(self) -> Path:
        return self.directory / "web.sock"

    @property
    def log(self) -> Path:
        return self.directory / "gunicorn.log"

    def start(self) -> None:
        with self.log.open("ab") as out:
            # A process group of its own: SIGKILL takes gunicorn's master and workers at once.
            self.proc = subprocess.Popen(unit_command(self.socket), env=self.env, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        wait_until(accepts(str(self.socket)), self.proc, f"host {self.name}", self.log)
        wait_until(lambda: len(children(self.proc.pid)) >= WORKERS if self.proc else False, self.proc,
                   f"host {self.name}'s workers", self.log)
        wait_until(lambda: self.direct("GET", "/readyz")[0] == 200, self.proc, f"host {self.name}'s /readyz", self.log)

    def kill(self) -> None:
        """SIGKILL to gunicorn's master and every worker, as a host that dies takes them all."""
        assert self.proc is not None and self.proc.poll() is None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=60)
        for _ in range(200):  # the workers were in the group too; wait until they are gone
            try:
                os.killpg(self.proc.pid, 0)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(timeout=0.05)
            except subprocess.TimeoutExpired:
                pass

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            stop(self.proc)

    def direct(self, method: str, path: str, body: bytes | None = None,
               headers: dict[str, str] | None = None) -> tuple[int, str]:
        """One request straight to this host's socket, with nginx's forwarding headers."""
        conn = UnixHTTPConnection(self.socket)
        sent = {"Host": self.public_host, "X-Forwarded-For": "127.0.0.1",
                "X-Forwarded-Proto": "https", "Connection": "close", **(headers or {})}
        try:
            conn.request(method, path, body=body, headers=sent)
            raw = conn.getresponse()
            return raw.status, raw.read().decode("utf-8", errors="replace")
        except OSError:
            return 0, ""
        finally:
            conn.close()

    def metrics(self) -> dict[str, float]:
        status, text = self.direct("GET", "/metrics")
        assert status == 200, text[:500]
        return series(text)


@dataclass
class Cluster:
    nginx: NginxSetup
    hosts: tuple[AppHost, AppHost]
    scheduler: subprocess.Popen[bytes]
    credentials: list[dict[str, object]]
    env: dict[str, str]

    def cli(self, *args: str) -> str:
        done = subprocess.run([str(APPLIANCE), *args], env=self.env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"appliance {' '.join(args)}: {done.stderr}{done.stdout}"
        return done.stdout

    def jobs(self) -> dict[str, object]:
        result: dict[str, object] = json.loads(self.cli("jobs", "list", "--json"))
        return result


# The application's own per-client and per-organisation report limits are host-local and meant
# for real reporters; the load comes from one machine, so they are raised here. nginx's limits
# stay as the template has them (the load keeps under its per-organisation ceiling).
LOAD_ENV = {"APPLIANCE_REPORT_LIMIT_PER_CLIENT": "10000", "APPLIANCE_REPORT_LIMIT_PER_CHANNEL": "10000",
            "APPLIANCE_LOCKOUT_CASE_KEY_THRESHOLD": "1000"}


@contextmanager
def running_cluster(directory: Path) -> Iterator[Cluster]:
    tool("nginx")
    tool("openssl")
    try:
        pg_admin("SELECT 1")
    except Exception as exc:  # psycopg's OperationalError: no server here
        pytest.skip(f"PostgreSQL is not reachable ({exc})")
    database = f"scaleout_{uuid.uuid4().hex[:12]}"
    pg_admin(f'CREATE DATABASE "{database}"')
    with ExitStack() as cleanup:
        cleanup.callback(pg_drop, database)
        a, b = directory / "host-a", directory / "host-b"
        a.mkdir()
        b.mkdir()
        nginx = write_nginx(directory / "nginx", a / "web.sock",
                            app_servers=[f"unix:{a / 'web.sock'}", f"unix:{b / 'web.sock'}"])
        data = directory / "data"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("APPLIANCE_", "GUNICORN_"))}
        env.update(LIGHT_ENV)
        env.update(LOAD_ENV, APPLIANCE_CONFIG=str(data / "appliance.toml"), APPLIANCE_PROXY_COUNT="1",
                   APPLIANCE_COOKIE_SECURE="true", APPLIANCE_BASE_URL=nginx.public_url)
        done = subprocess.run([str(APPLIANCE), "init", "--data-dir", str(data), "--database-url", pg_url(database),
                               "--base-url", nginx.public_url], env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr + done.stdout
        credentials = json.loads(subprocess.run([str(APPLIANCE), "demo", "setup", "--json"], env=env, check=True,
                                                capture_output=True, text=True, timeout=600).stdout)["accounts"]
        hosts = []
        for name, path in (("a", a), ("b", b)):
            host = AppHost(name, path, {**env, **unit_environment(path), "APPLIANCE_CONFIG": env["APPLIANCE_CONFIG"]},
                           f"localhost:{nginx.https_port}")
            cleanup.callback(host.stop)
            host.start()
            hosts.append(host)
        scheduler_log = b / "scheduler.log"
        with scheduler_log.open("wb") as out:
            scheduler = subprocess.Popen([str(APPLIANCE), "scheduler"], env=hosts[1].env, stdout=out,
                                         stderr=subprocess.STDOUT)
        cleanup.callback(stop, scheduler)
        nginx_log = directory / "nginx.log"
        with nginx_log.open("wb") as out:
            proc = subprocess.Popen(nginx.command("-g", "daemon off;"), stdout=out, stderr=subprocess.STDOUT)
        cleanup.callback(stop, proc)
        wait_until(accepts(("127.0.0.1", nginx.https_port)), proc, "nginx", nginx_log)
        yield Cluster(nginx, (hosts[0], hosts[1]), scheduler, credentials, env)
