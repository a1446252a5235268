"""Scale-out: two app hosts on one PostgreSQL database behind nginx, one killed under load.

nginx is rendered from nginx/appliance.conf with both hosts' sockets as its upstream; host B
also runs the scheduler. Four reporters file reports and two handler sessions work the queue
for a bounded time; host A is killed with SIGKILL in the middle and started again. Then: every
report that got its receipt opens with its case key, no request failed except POSTs in flight
on host A when it died (nginx passes a GET on to host B, never a POST it already sent), the
restarted host serves again, and the logbook verifies. Behaviour only: the durations bound
the load, nothing is asserted on time.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.deploy.load import Load, Request, sign_in
from tests.deploy.scaleout import Cluster, running_cluster
from tests.deploy.stack import Client, render_template, write_nginx
from tests.web import csrf_token

pytestmark = pytest.mark.deploy

BEFORE_KILL = 8.0  # seconds of load before host A is killed, and again after it is back


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with running_cluster(tmp_path_factory.mktemp("scaleout")) as running:
        yield running


@pytest.fixture(scope="module")
def handler(cluster: Cluster) -> Client:
    """The demo handler, signed in once through nginx (a TOTP code is taken once per time step)."""
    account = next(a for a in cluster.credentials if "handler" in a["roles"])  # type: ignore[operator]
    staff = Load(cluster).client("127.0.0.1")
    sign_in(staff, account)
    return staff


# --- the template with several servers ------------------------------------------------------


def test_the_upstream_lists_every_server_and_retries_only_what_is_safe(tmp_path: Path) -> None:
    setup = write_nginx(tmp_path, tmp_path / "a.sock", app_servers=["unix:/run/appliance/web.sock", "10.0.2.12:8000"])
    site = (tmp_path / "appliance.conf").read_text()
    upstream = re.search(r"upstream appliance_web \{(.*?)\}", site, re.DOTALL)
    assert upstream
    servers = re.findall(r"^\s*server (\S+) max_fails=1 fail_timeout=10s;$", upstream.group(1), re.MULTILINE)
    assert servers == ["unix:/run/appliance/web.sock", "10.0.2.12:8000"]
    directives = [line.strip() for line in site.splitlines() if not line.strip().startswith("#")]
    (next_upstream,) = [d for d in directives if d.startswith("proxy_next_upstream ")]
    # A POST nginx has sent is never passed on (no non_idempotent): a report is never filed twice.
    assert next_upstream == "proxy_next_upstream error timeout http_502;"
    assert not any("non_idempotent" in d for d in directives)
    assert "ip_hash;" not in directives and not any(d.startswith(("sticky", "hash ")) for d in directives)
    done = subprocess.run(setup.command("-t"), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_single_server_renders_as_before() -> None:
    site = render_template(server_name="x", public_url="https://x", http_port=80, https_port=443,
                           tls_certificate="/c", tls_certificate_key="/k", app_servers=["unix:/run/appliance/web.sock"],
                           monitoring_network="127.0.0.1/32", log_dir="/var/log/nginx", client_max_body_size="210m",
                           listen_ipv6=False, load_balancers=[])
    assert "server unix:/run/appliance/web.sock max_fails=1 fail_timeout=10s;" in site


# --- sessions need no stickiness ----------------------------------------------------------------


def test_a_handler_session_works_on_both_hosts(cluster: Cluster, handler: Client) -> None:
    load = Load(cluster)
    reporter = load.client()
    form = reporter.get("/r/demo/report")
    category = re.search(r'<option value="([0-9a-f-]{36})"', form.text)
    assert category
    receipt = reporter.post_form("/r/demo/report", {"csrf_token": csrf_token(form.text, "form"),
                                                    "category": category.group(1), "what": "Sessions across hosts."})
    assert receipt.status == 200

    cookie = {"Cookie": "; ".join(f"{k}={v}" for k, v in handler.cookies.items())}
    host_a, host_b = cluster.hosts
    # The session made through nginx opens the queue on each host directly...
    pages = {}
    for host in (host_a, host_b):
        status, page = host.direct("GET", "/staff/queue", headers=cookie)
        assert status == 200 and "/staff/cases/" in page, (host.name, status, page[:500])
        pages[host.name] = page
    case_id = re.search(r'href="/staff/cases/([0-9a-f-]{36})"', pages["a"])
    assert case_id
    # ...and a form from host A is accepted by host B (CSRF and session are in the database).
    status, case_page = host_a.direct("GET", f"/staff/cases/{case_id.group(1)}", headers=cookie)
    assert status == 200
    body = f"csrf_token={csrf_token(case_page, 'case page')}&body=Written+on+host+B".encode()
    status, _ = host_b.direct("POST", f"/staff/cases/{case_id.group(1)}/notes", body=body,
                              headers={**cookie, "Content-Type": "application/x-www-form-urlencoded"})
    assert status == 303
    status, again = host_a.direct("GET", f"/staff/cases/{case_id.group(1)}", headers=cookie)
    assert status == 200 and "Written on host B" in again
    # Without the cookie neither host lets anyone in.
    for host in (host_a, host_b):
        status, _ = host.direct("GET", "/staff/queue")
        assert status in (302, 303), (host.name, status)


# --- a host killed under load --------------------------------------------------------------------


def in_flight(request: Request, kill_started: float, kill_done: float) -> bool:
    """Sent before the host was gone, answered after the kill began."""
    return request.started <= kill_done and request.ended >= kill_started


def served(cluster: Cluster) -> float:
    """Requests host A's workers answered since it started (health and metrics not counted)."""
    return sum(v for k, v in cluster.hosts[0].metrics().items()
               if k.startswith("appliance_http_requests_total{") and "common." not in k)


def test_a_host_killed_under_load_loses_no_acknowledged_report(cluster: Cluster, handler: Client) -> None:
    host_a = cluster.hosts[0]
    load = Load(cluster)
    # Two handler threads on the handler's session (two tabs); nginx spreads them over both hosts.
    staff = [Client(handler.stack, handler.source, dict(handler.cookies)) for _ in range(2)]
    threads = load.start(staff)
    try:
        load.stop.wait(BEFORE_KILL)
        kill_started = time.monotonic()
        host_a.kill()
        killed_at = time.monotonic()
        load.stop.wait(2.0)  # host B alone serves, nginx routes around A
        host_a.start()
        back_at = time.monotonic()
        # nginx tries A again fail_timeout (10 s) after its last failure there: wait until the
        # restarted host has served requests of the load (bounded), then keep the load on a while.
        for _ in range(300):
            if served(cluster) > 0:
                break
            load.stop.wait(0.5)
        load.stop.wait(BEFORE_KILL)
    finally:
        load.finish(threads)

    # The load did real work on both sides of the kill.
    reports = [r for r in load.requests if r.what == "new report"]
    assert any(r.ended < kill_started and r.status == 200 for r in reports)
    assert any(r.started > back_at and r.status == 200 for r in reports)
    assert load.notes > 0

    print(f"scale-out load: {len(load.requests)} requests, {sum(r.status == 200 for r in reports)} reports filed, "
          f"{load.notes} notes, failed: {[(r.method, r.what, r.status) for r in load.requests if r.status not in (200, 303)]}")
    # No request failed, except POSTs that were in flight on host A when it died.
    failed = [r for r in load.requests if r.status not in (200, 303)]
    unexplained = [r for r in failed
                   if not (r.method == "POST" and r.status == 502 and in_flight(r, kill_started, killed_at))]
    assert not unexplained, unexplained
    assert all(r.status in (200, 303) for r in load.requests if r.method == "GET")

    # The restarted host A served requests again (its counters start afresh at start-up).
    assert served(cluster) > 0

    # Every acknowledged report is there and opens with its case key.
    assert load.receipts
    for receipt in load.receipts:
        reporter = load.client()
        follow = reporter.get("/r/demo/follow-up")
        opened = reporter.post_form("/r/demo/follow-up", {"csrf_token": csrf_token(follow.text, "follow-up"),
                                                           "case_key": receipt.key})
        assert opened.status == 303, opened.text[:500]
        assert urlsplit(opened.one("Location")).path == "/r/demo/case"
        case = reporter.get("/r/demo/case")
        assert case.status == 200 and receipt.marker in case.text

    # The logbook's hash chain verifies; the scheduler on host B alone holds the lease.
    assert "logbook OK" in cluster.cli("audit", "verify")
    scheduler = cluster.jobs()["scheduler"]
    assert isinstance(scheduler, dict) and str(scheduler["holder"]).endswith(f":{cluster.scheduler.pid}")
