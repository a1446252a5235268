"""testssl.sh (Debian's package) against the real nginx on the project's template, in front of
the real gunicorn: no finding at MEDIUM or above.

The scan is limited to what the template decides (protocols, cipher categories, forward
secrecy, the server's choices and defaults, the known vulnerabilities, the HTTP security
headers), runs against loopback with no DNS look-ups and no fetching of revocation lists,
and is bounded by testssl.sh's own connect and openssl timeouts and by the subprocess'.
The certificate is made here like the nginx role's trial certificate (ECDSA P-384) and
handed to testssl.sh as a trusted CA, so the chain of trust is checked as for a real one.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deploy.stack import Stack, running_stack, tool

pytestmark = pytest.mark.deploy

BLOCKING = {"MEDIUM", "HIGH", "CRITICAL"}
# Findings about the test certificate, not about the template. Exactly these, by id:
NOT_THE_TEMPLATES = {
    # A self-signed certificate names no CRL or OCSP responder; a CA's certificate does, and
    # whether it does is the CA's choice (docs/install.md, "Certificates").
    "cert_revocation",
}
# testssl.sh ran each part asked for (a scan that stopped early reports no finding at all).
EXPECTED_IDS = {"SSLv2", "SSLv3", "TLS1", "TLS1_1", "TLS1_2", "TLS1_3", "cipherlist_NULL", "cipherlist_3DES_IDEA",
                "cipher_order", "PFS", "heartbleed", "ROBOT", "secure_renego", "BREACH", "HSTS_time",
                "cert_chain_of_trust"}


def make_certificate(directory: Path) -> None:
    """Replace the stack's certificate (RSA, two days) with one like the role's trial
    certificate: ECDSA P-384, for localhost, valid 90 days (testssl.sh rates one expiring
    within 30 days HIGH)."""
    done = subprocess.run([tool("openssl"), "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:secp384r1",
                           "-nodes", "-days", "90", "-subj", "/CN=localhost",
                           "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                           "-keyout", str(directory / "key.pem"), "-out", str(directory / "cert.pem")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, list[dict[str, str]]]]:
    testssl = tool("testssl")
    with running_stack(tmp_path_factory.mktemp("stack")) as stack:
        make_certificate(stack.nginx.directory)
        reload = subprocess.run(stack.nginx.command("-s", "reload"), capture_output=True, text=True, timeout=60)
        assert reload.returncode == 0, reload.stderr
        # The new certificate is served once the reload is done: the stack's client trusts only it.
        for _ in range(200):
            try:
                if stack.client().get("/healthz").status == 200:
                    break
            except OSError:  # the old certificate, refused by the client, until the workers change
                pass
        else:
            pytest.fail("nginx did not serve the new certificate")
        report = tmp_path_factory.mktemp("testssl") / "findings.json"
        done = subprocess.run([testssl, "--quiet", "--color", "0", "--warnings", "off", "--nodns", "none",
                               "--connect-timeout", "10", "--openssl-timeout", "10",
                               "--protocols", "--standard", "--fs", "--server-preference", "--server-defaults",
                               "--vulnerable", "--headers", "--add-ca", str(stack.nginx.cert),
                               "--jsonfile", str(report), "--ip", "127.0.0.1",
                               f"https://localhost:{stack.nginx.https_port}/r/demo/"],
                              capture_output=True, text=True, timeout=600)
        assert report.is_file(), done.stdout[-4000:] + done.stderr[-2000:]
        yield stack, json.loads(report.read_text())


def test_testssl_finds_nothing_at_medium_or_above(scanned: tuple[Stack, list[dict[str, str]]]) -> None:
    _, findings = scanned
    ids = {f["id"] for f in findings}
    assert ids >= EXPECTED_IDS, sorted(EXPECTED_IDS - ids)
    blocking = [f"{f['id']} {f['severity']}: {f['finding']}" for f in findings
                if f["severity"] in BLOCKING and f["id"] not in NOT_THE_TEMPLATES]
    assert not blocking, "\n".join(blocking)
    assert not [f for f in findings if f["severity"] == "FATAL"], findings


def test_the_scan_saw_what_the_template_promises(scanned: tuple[Stack, list[dict[str, str]]]) -> None:
    _, findings = scanned
    by_id = {f["id"]: f for f in findings}
    for old in ("SSLv2", "SSLv3", "TLS1", "TLS1_1"):
        assert by_id[old]["finding"] == "not offered", by_id[old]
    assert by_id["TLS1_2"]["finding"] == "offered" and by_id["TLS1_3"]["finding"].startswith("offered")
    assert by_id["cert_chain_of_trust"]["severity"] == "OK", by_id["cert_chain_of_trust"]
    assert by_id["HSTS_time"]["severity"] == "OK", by_id["HSTS_time"]
    assert by_id["cipher_order"]["severity"] == "OK", by_id["cipher_order"]


def test_the_exclusions_are_only_about_the_certificate(scanned: tuple[Stack, list[dict[str, str]]]) -> None:
    _, findings = scanned
    excluded = {f["id"] for f in findings if f["id"] in NOT_THE_TEMPLATES}
    assert excluded <= NOT_THE_TEMPLATES and all(name.startswith("cert_") for name in NOT_THE_TEMPLATES)

