"""nginx/appliance.conf: `nginx -t`, then a real nginx in front of a real gunicorn.

The gunicorn is started the way systemd/appliance-web.service starts it (its ExecStart and
Environment=, the socket moved to a temp dir) under the unit's seccomp rules
(MemoryDenyWriteExecute=, SystemCallFilter=) as tests/deploy/sandbox.py reproduces them, so
the end-to-end tests also prove the hardened unit can serve.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from appliance.crypto import totp
from tests.deploy.stack import (
    LOCKOUT_THRESHOLD,
    MONITORING_CLIENT,
    TEMPLATE,
    WORKERS,
    Client,
    Response,
    Stack,
    children,
    tool,
    write_nginx,
)
from tests.web import csrf_token, form_ref

pytestmark = pytest.mark.deploy

# Mozilla Server Side TLS 6.0, intermediate: the TLS 1.2 suites (the ECDHE-RSA ones can be
# negotiated with the tests' RSA certificate).
MOZILLA_INTERMEDIATE = ("ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
                        "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305")
SECURITY_HEADERS = ("Strict-Transport-Security", "Content-Security-Policy", "X-Content-Type-Options",
                    "X-Frame-Options", "Referrer-Policy")
BODY_LIMIT = 210 * 1024 * 1024  # client_max_body_size 210m
CASE_KEY = re.compile(r'data-testid="case-key">([0-9A-Z-]{19})<')
CATEGORY = re.compile(r'<option value="([0-9a-f-]{36})"')
CASE_LINK = re.compile(r'href="(/staff/cases/[0-9a-f-]{36})"')
ATTACHMENT_LINK = re.compile(r'href="(/staff/cases/[0-9a-f-]{36}/attachments/[0-9a-f-]{36})"')
URLENCODED = {"Content-Type": "application/x-www-form-urlencoded"}


def csrf(page: Response) -> str:
    return csrf_token(page.text, f"a {page.status} page")


def s_client(stack: Stack, *args: str) -> tuple[int, str]:
    done = subprocess.run([tool("openssl"), "s_client", "-connect", f"127.0.0.1:{stack.nginx.https_port}",
                           "-servername", "localhost", "-brief", *args],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    return done.returncode, done.stdout + done.stderr


def oversized_post(client: Client, path: str) -> Response:
    """Announce a body one byte over client_max_body_size; nginx answers before any is sent."""
    conn, host = client.connection()
    try:
        conn.putrequest("POST", path, skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", host)
        conn.putheader("Content-Type", "multipart/form-data; boundary=x")
        conn.putheader("Content-Length", str(BODY_LIMIT + 1))
        conn.endheaders()
        raw = conn.getresponse()
        return Response(raw.status, raw.getheaders(), raw.read())
    finally:
        conn.close()


# --- the template on its own ------------------------------------------------------------------


def test_rendered_template_passes_nginx_t(tmp_path: Path) -> None:
    setup = write_nginx(tmp_path, tmp_path / "web.sock")
    site = (tmp_path / "appliance.conf").read_text()
    assert "{{" not in site and "{%" not in site
    done = subprocess.run(setup.command("-t"), capture_output=True, text=True, timeout=60)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "test is successful" in output
    assert "[warn]" not in output, output


def test_every_template_variable_is_documented_in_its_header() -> None:
    text = TEMPLATE.read_text("utf-8")
    header = text.split("# --- http level", 1)[0]
    loop_variables = set(re.findall(r"\{%\s*for\s+(\w+)\s+in", text))
    used = set(re.findall(r"\{\{\s*(\w+)\s*\}\}", text)) | set(re.findall(r"\{%\s*(?:if|for \w+ in)\s+(\w+)", text))
    used -= loop_variables
    assert used
    for name in sorted(used):
        assert re.search(rf"^#\s+{name}\s", header, re.MULTILINE), f"{name} is not documented at the top"


# --- the unit's sandbox around the gunicorn behind nginx ------------------------------------


def test_gunicorn_behind_nginx_runs_under_the_units_seccomp_rules(stack: Stack) -> None:
    if not stack.sandboxed:
        pytest.skip("systemd-analyze or libseccomp is missing (./scripts/test installs the systemd package)")
    workers = children(stack.gunicorn_pid)
    assert len(workers) >= WORKERS
    for pid in (stack.gunicorn_pid, *workers):
        status = Path(f"/proc/{pid}/status").read_text()
        assert re.search(r"^Seccomp:\s+2$", status, re.MULTILINE), status  # filter mode
        filters = re.search(r"^Seccomp_filters:\s+(\d+)$", status, re.MULTILINE)
        assert filters and int(filters.group(1)) >= 2  # MemoryDenyWriteExecute= and SystemCallFilter=
        assert re.search(r"^NoNewPrivs:\s+1$", status, re.MULTILINE)


# --- plain HTTP -------------------------------------------------------------------------------


def test_http_is_redirected_to_the_configured_https_origin(stack: Stack) -> None:
    client = stack.client()
    response = client.get("/r/demo/?lang=sv", scheme="http")
    assert response.status == 301
    assert response.one("Location") == f"{stack.nginx.public_url}/r/demo/?lang=sv"
    # The redirect goes to the configured origin, never to a Host the client made up.
    spoofed = client.get("/staff/login", scheme="http", headers={"Host": "evil.example"})
    assert spoofed.status == 301
    assert spoofed.one("Location") == f"{stack.nginx.public_url}/staff/login"


# --- TLS ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["-tls1", "-tls1_1"])
def test_tls_1_0_and_1_1_are_refused_by_the_server(stack: Stack, version: str) -> None:
    # The client is allowed everything (@SECLEVEL=0), so the refusal is the server's: a
    # protocol_version alert (a cipher mismatch would be a handshake_failure alert instead).
    code, output = s_client(stack, version, "-cipher", "DEFAULT:@SECLEVEL=0")
    assert code != 0 and "CONNECTION ESTABLISHED" not in output, output
    assert "alert protocol version" in output, output


@pytest.mark.parametrize("version, name", [("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")])
def test_tls_1_2_and_1_3_are_accepted_with_a_verified_certificate(stack: Stack, version: str, name: str) -> None:
    code, output = s_client(stack, version, "-CAfile", str(stack.nginx.cert), "-verify_return_error")
    assert code == 0 and "CONNECTION ESTABLISHED" in output, output
    assert f"Protocol version: {name}" in output, output
    suite = re.search(r"^Ciphersuite: (\S+)", output, re.MULTILINE)
    assert suite, output
    if name == "TLSv1.2":
        assert suite.group(1) in MOZILLA_INTERMEDIATE


@pytest.mark.parametrize("cipher", [c for c in MOZILLA_INTERMEDIATE if c.startswith("ECDHE-RSA")])
def test_each_intermediate_tls12_cipher_is_accepted(stack: Stack, cipher: str) -> None:
    code, output = s_client(stack, "-tls1_2", "-cipher", cipher)
    assert code == 0 and f"Ciphersuite: {cipher}" in output, output


@pytest.mark.parametrize("cipher", ["AES256-GCM-SHA384", "ECDHE-RSA-AES128-SHA", "ECDHE-RSA-AES256-SHA384"])
def test_tls12_ciphers_outside_the_profile_are_refused(stack: Stack, cipher: str) -> None:
    # RSA key exchange (no forward secrecy) and CBC suites: the server finds no shared cipher.
    code, output = s_client(stack, "-tls1_2", "-cipher", f"{cipher}:@SECLEVEL=0")
    assert code != 0 and "CONNECTION ESTABLISHED" not in output, output
    assert "alert handshake failure" in output, output


# --- HTTPS in front of the application ----------------------------------------------------


def test_reporter_portal_is_served_with_each_security_header_once(stack: Stack) -> None:
    response = stack.client().get("/r/demo/")
    assert response.status == 200
    assert "Demo Organisation AB" in response.text
    for name in SECURITY_HEADERS:
        response.one(name)  # the application's; nginx did not add a second copy
    assert response.one("Strict-Transport-Security") == "max-age=63072000; includeSubDomains"
    assert "default-src 'self'" in response.one("Content-Security-Policy")
    assert response.one("X-Frame-Options") == "DENY"
    assert response.one("Server") == "nginx"  # no version


def test_pages_nginx_makes_itself_carry_the_security_headers(stack: Stack) -> None:
    # /metrics is open to the monitoring network only (a TEST-NET range here), so nginx
    # answers 403 itself; the application has no say in it.
    denied = stack.client().get("/metrics")
    assert denied.status == 403
    assert "403 Forbidden" in denied.text and "nginx" in denied.text
    for name in SECURITY_HEADERS:
        denied.one(name)
    assert denied.one("Strict-Transport-Security") == "max-age=63072000; includeSubDomains"
    assert denied.one("Content-Security-Policy").startswith("default-src 'none'")
    assert stack.client().get("/healthz").status == 200


def test_upload_over_client_max_body_size_is_refused_with_413(stack: Stack) -> None:
    response = oversized_post(stack.client(), "/r/demo/report")
    assert response.status == 413
    assert "413 Request Entity Too Large" in response.text and "nginx" in response.text
    response.one("Strict-Transport-Security")


def test_http2_uploads_stream_to_the_application_too(stack: Stack, tmp_path: Path) -> None:
    # Browsers speak HTTP/2 to nginx; the upload must stream through unbuffered there as
    # well (nginx's temp directories are unusable in this stack: buffering would be a 500).
    # The application answers 400 (no CSRF token) after reading the whole form.
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed (the only HTTP/2 client at hand)")
    upload = tmp_path / "upload.bin"
    upload.write_bytes(secrets.token_bytes(4 * 1024 * 1024))
    port = stack.nginx.https_port
    done = subprocess.run([curl, "-sS", "--http2", "-o", "/dev/null", "-w", "%{http_version} %{http_code}",
                           "--cacert", str(stack.nginx.cert), "--resolve", f"localhost:{port}:127.0.0.1",
                           "-F", f"attachments=@{upload}", f"https://localhost:{port}/r/demo/report"],
                          capture_output=True, text=True, timeout=120)
    assert done.stdout == "2 400", done.stdout + done.stderr


def test_sign_in_posts_beyond_the_limit_get_429(stack: Stack) -> None:
    flooder = stack.client(source="127.0.0.77")
    statuses: list[int] = []
    for _ in range(40):
        last = flooder.request("POST", "/staff/login", body=b"email=a%40b.example&password=x", headers=URLENCODED)
        statuses.append(last.status)
        if last.status == 429:
            break
    # burst=20 nodelay: the first request and 20 more pass (to the application, which
    # refuses them without a CSRF token), then nginx answers 429 itself.
    assert 429 not in statuses[:21], statuses
    assert statuses[-1] == 429, statuses
    assert "429 Too Many Requests" in last.text
    last.one("Strict-Transport-Security")
    # Only POSTs count, and only this client's.
    assert flooder.get("/staff/login").status == 200
    other = stack.client(source="127.0.0.1")
    assert other.request("POST", "/staff/login", body=b"email=a%40b.example&password=x",
                         headers=URLENCODED).status != 429


def test_the_application_tells_clients_apart_by_the_address_nginx_forwards(stack: Stack) -> None:
    # nginx overwrites X-Forwarded-For with the client's address and the application
    # (PROXY_COUNT=1) keys its sign-in lockout on (account, client). Lock one client out of
    # an account...
    account = next(a for a in stack.credentials if "admin" in a["roles"])  # type: ignore[operator]
    fields = {"email": str(account["email"]), "password": str(account["password"])}
    locked = stack.client(source="127.0.0.79")
    for _ in range(LOCKOUT_THRESHOLD):
        page = locked.get("/staff/login")
        failed = locked.post_form("/staff/login", {"csrf_token": csrf(page), "email": fields["email"],
                                                   "password": "not the password"})
        assert failed.status == 401
    # ...then even the right password from it is refused, by the application (nginx's own
    # limit is far off), and a forged X-Forwarded-For does not get it out.
    page = locked.get("/staff/login")
    refused = locked.post_form("/staff/login", {"csrf_token": csrf(page), **fields},
                               headers={"X-Forwarded-For": "198.51.100.7"})
    assert refused.status == 429 and "<center>nginx</center>" not in refused.text
    # The owner, from another client, is not affected.
    other = stack.client()
    page = other.get("/staff/login")
    assert other.post_form("/staff/login", {"csrf_token": csrf(page), **fields}).status == 303


def test_report_with_attachment_then_handler_reads_it_through_nginx(stack: Stack) -> None:
    # Reporter: a report with a 16 MiB attachment (streamed through nginx to the app), the
    # case key, then the follow-up with that key from a fresh browser.
    reporter = stack.client()
    form = reporter.get("/r/demo/report")
    assert form.status == 200
    category = CATEGORY.search(form.text)
    assert category
    attachment = secrets.token_bytes(16 * 1024 * 1024)
    stored = reporter.post_form("/r/demo/report", {"csrf_token": csrf(form), "form_ref": form_ref(form.text) or "",
                                                   "category": category.group(1),
                                                   "what": "Invoices were backdated in March."},
                                files=[("attachments", "evidence.bin", attachment)])
    assert stored.status == 303, stored.text[:1000]
    receipt = reporter.get(urlsplit(stored.one("Location")).path)  # the key is shown there, once
    key = CASE_KEY.search(receipt.text)
    assert key
    later = stack.client()
    follow = later.get("/r/demo/follow-up")
    opened = later.post_form("/r/demo/follow-up", {"csrf_token": csrf(follow), "case_key": key.group(1)})
    assert opened.status == 303, opened.text[:1000]
    assert urlsplit(opened.one("Location")).path == "/r/demo/case"
    case = later.get("/r/demo/case")
    assert case.status == 200
    assert "Invoices were backdated in March." in case.text and "evidence.bin" in case.text

    # Handler: password + TOTP sign-in over HTTPS (Secure __Host- cookies, CSRF without a
    # Referer, like a browser told no-referrer), then the case and the decrypted attachment
    # streamed back through nginx.
    account = next(a for a in stack.credentials if "handler" in a["roles"])  # type: ignore[operator]
    staff = stack.client()
    login = staff.get("/staff/login")
    signed = staff.post_form("/staff/login", {"csrf_token": csrf(login), "email": str(account["email"]),
                                              "password": str(account["password"])})
    assert signed.status == 303, signed.text[:1000]
    step = urlsplit(signed.one("Location")).path
    assert step in ("/staff/2fa", "/staff/enrol")
    code = totp.current_code(str(account["totp_secret"]), dt.datetime.now(dt.UTC))
    second = staff.post_form(step, {"csrf_token": csrf(staff.get(step)), "code": code})
    assert second.status in (200, 303), second.text[:1000]
    assert staff.cookies and all(name.startswith("__Host-") for name in staff.cookies), staff.cookies
    queue = staff.get("/staff/queue")
    assert queue.status == 200
    links = CASE_LINK.findall(queue.text)
    assert links, queue.text[:2000]
    download = None
    for link in links:
        page = staff.get(link)
        if "Invoices were backdated in March." in page.text:
            download = ATTACHMENT_LINK.search(page.text)
            break
    assert download, "the case or its attachment link is not on the handler's pages"
    fetched = staff.slow_download(download.group(1))
    assert fetched.status == 200
    assert fetched.body == attachment  # whole: nginx did not try to park it in proxy_temp_path


def test_report_posts_beyond_the_limits_get_429(stack: Stack) -> None:
    flooder = stack.client(source="127.0.0.81")
    form = flooder.get("/r/demo/report")
    statuses: list[int] = []
    for _ in range(12):
        last = flooder.request("POST", "/r/demo/report", body=b"what=spam", headers=URLENCODED)
        statuses.append(last.status)
        if last.status == 429 and "<center>nginx</center>" in last.text:
            break
    # The application refuses first (5 per client per hour; these posts fail its CSRF check and
    # keep their slot), in the organisation's frame; nginx (burst 5 + 2/min) right after.
    assert statuses[:5] == [400] * 5, statuses
    assert 429 in statuses[5:-1], statuses
    assert statuses[-1] == 429 and "<center>nginx</center>" in last.text, statuses
    app_refusal = flooder.request("GET", "/r/demo/report")
    assert app_refusal.status == 200 and 'data-testid="report-wait"' in app_refusal.text
    last.one("Strict-Transport-Security")
    # Only this client: another one still reaches the form and can report.
    other = stack.client(source="127.0.0.82")
    page = other.get("/r/demo/report")
    category = CATEGORY.search(page.text)
    assert category
    sent = other.post_form("/r/demo/report", {"csrf_token": csrf(page), "form_ref": form_ref(page.text) or "",
                                              "category": category.group(1), "what": "A report while someone floods."})
    assert sent.status == 303 and CASE_KEY.search(other.get(urlsplit(sent.one("Location")).path).text)
    assert form.status == 200


def test_reporter_requests_leave_no_trace_in_the_nginx_logs(stack: Stack) -> None:
    source = "127.0.0.78"
    reporter = stack.client(source=source)
    assert reporter.get("/r/demo/").status == 200
    # Events nginx writes to its error log with the client's address: rate-limited case-key
    # guesses and reports (429) and an oversized upload (413), all on reporter routes.
    for _ in range(30):
        guess = reporter.request("POST", "/r/demo/follow-up", body=b"case_key=AAAA-AAAA-AAAA-AAAA", headers=URLENCODED)
        if guess.status == 429:
            break
    assert guess.status == 429
    for _ in range(30):
        flood = reporter.request("POST", "/r/demo/report", body=b"what=spam", headers=URLENCODED)
        if flood.status == 429 and "<center>nginx</center>" in flood.text:
            break
    assert flood.status == 429 and "<center>nginx</center>" in flood.text
    assert oversized_post(reporter, "/r/demo/report").status == 413
    # Control: the same 413 on a staff route is logged, with the client's address.
    assert oversized_post(reporter, "/staff/login").status == 413
    # One nginx worker handles requests in turn: once this answer is back, every earlier
    # request has been logged.
    assert reporter.get("/healthz").status == 200

    logs = {path.name: path.read_text(errors="replace") for path in stack.log_dir.iterdir()}
    for name, text in logs.items():
        assert "/r/" not in text, f"{name} mentions a reporter route:\n{text[-2000:]}"
        assert "appliance_report" not in text, f"{name} logged a report limit:\n{text[-2000:]}"
    errors = logs["appliance.error.log"]
    assert f"client: {source}" in errors and "/staff/login" in errors  # the control was logged
    access = logs["appliance.access.log"]
    assert "/healthz" in access
    assert "127.0.0." not in access  # no client address in the access log at all


# --- /metrics through nginx -----------------------------------------------------------------


def test_metrics_from_the_monitoring_network_add_up_every_worker(stack: Stack) -> None:
    before = stack.scrape()
    healthz = 'appliance_http_requests_total{endpoint="common.healthz",method="GET",status="200"}'
    for _ in range(12):
        assert stack.client().get("/healthz").status == 200
    # gunicorn runs two workers; whichever answers the scrape reports both workers' counts.
    for _ in range(4):
        assert stack.scrape()[healthz] >= before.get(healthz, 0) + 12
    assert stack.client(source="127.0.0.1").get("/metrics").status == 403


def test_metrics_count_submissions_and_never_name_a_url(stack: Stack) -> None:
    submissions = "appliance_report_submissions_total"
    before = stack.scrape()[submissions]
    reporter = stack.client()
    form = reporter.get("/r/demo/report")
    category = CATEGORY.search(form.text)
    assert category
    stored = reporter.post_form("/r/demo/report", {"csrf_token": csrf(form), "form_ref": form_ref(form.text) or "",
                                                   "category": category.group(1), "what": "A metrics check."})
    assert stored.status == 303, stored.text[:1000]
    again = reporter.get("/r/demo/report")  # a new form: the same one sent again is the report above
    refused = reporter.post_form("/r/demo/report", {"csrf_token": csrf(again), "form_ref": form_ref(again.text) or "",
                                                    "category": "", "what": ""})
    assert refused.status == 400  # a refused form is not a submission
    scraped = stack.client(source=MONITORING_CLIENT).get("/metrics").text
    assert stack.scrape()[submissions] == before + 1
    assert 'endpoint="reporter.report"' in scraped
    # Labels are endpoint names: no path, case id or key in any series; the organisation's slug
    # (public in its portal's address) appears only as the health gauges' tenant label.
    assert "/r/" not in scraped and "demo" not in scraped.replace('tenant="demo"', "")
    assert not re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-", scraped)


def test_metrics_directory_holds_the_workers_files(stack: Stack) -> None:
    files = sorted(p.name for p in stack.metrics_dir.iterdir())
    assert any(name.startswith("counter_") for name in files), files
    assert any(name.startswith("histogram_") for name in files), files


def test_behind_load_balancers_nginx_takes_the_client_from_their_header(tmp_path: Path) -> None:
    # HA: with load_balancers set, nginx trusts their X-Forwarded-For (and nobody else's).
    setup = write_nginx(tmp_path, tmp_path / "web.sock", load_balancers=["192.0.2.10", "192.0.2.0/28"],
                        listen_ipv6=False)
    site = (tmp_path / "appliance.conf").read_text()
    assert "set_real_ip_from 192.0.2.10;" in site and "set_real_ip_from 192.0.2.0/28;" in site
    assert "real_ip_header X-Forwarded-For;" in site and "real_ip_recursive on;" in site
    assert "listen [::]" not in site
    done = subprocess.run(setup.command("-t"), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    # Without load balancers (the default) nobody's X-Forwarded-For is believed.
    default_site = write_nginx(tmp_path / "default", tmp_path / "web.sock")
    default_text = (default_site.directory / "appliance.conf").read_text()
    assert "real_ip_header" not in default_text.replace("# real_ip_header", "") and "    set_real_ip_from" not in default_text
