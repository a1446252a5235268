"""The integrity reports by mail: msmtp's configuration as the role writes it, real deliveries
through it to a local SMTP server, and the alert addresses in the appliance's configuration.

The role's mailer tasks run for real through ansible-playbook (tests/deploy/role_tasks.py),
with the configuration written under a temp directory; msmtp then sends with it (``msmtp -C``),
so the test never touches this machine's /etc/msmtprc or /usr/sbin/sendmail.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import re
import shutil
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from pathlib import Path
from typing import Any

import jinja2
import pytest

from tests.deploy.role_tasks import run_role_tasks
from tests.deploy.test_ansible import ANSIBLE_DIR, failed_task
from tests.deploy.test_integrity import render as render_integrity

pytestmark = pytest.mark.deploy
aiosmtpd = pytest.importorskip("aiosmtpd.controller", reason="aiosmtpd comes with the test extra")

# Percent-encoded as in SMTP_URL; the relay must receive them decoded, as the appliance's mailer
# decodes them (urllib's unquote: "+" stays a plus sign).
USER, PASSWORD = "relay@example.com", 'p@ss "w+rd\\ 100%'
ENCODED = "relay%40example.com:p%40ss%20%22w+rd%5C%20100%25"
REPORT = "AIDE found differences between database and filesystem!!\n\nf = ... : /etc/sudoers.d/helpdesk\n"


def msmtp() -> str:
    found = shutil.which("msmtp")
    if found is None:
        pytest.skip("msmtp is not installed (./scripts/test installs it with apt-get)")
    return found


def settings(config: str) -> dict[str, str]:
    """msmtp's settings for the default account, as msmtp reads them (the argument's quotes removed)."""
    found: dict[str, str] = {}
    for line in config.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.strip().partition(" ")
            value = value.strip()
            found[key] = value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value
    return found


@dataclass
class Written:
    returncode: int
    output: str
    configs: dict[str, Path]


def write_msmtprc(work: Path, urls: dict[str, str], **values: object) -> Written:
    """The role's mailer.yml on one db host per URL (its appliance_smtp_url); msmtp's file per host."""
    if os.geteuid() != 0:
        pytest.skip("the role writes msmtp's configuration as root's: run as root (CI and ./scripts/test do)")
    configs = {host: work / f"{host}.msmtprc" for host in urls}
    play = run_role_tasks(work / "play", "integrity", "mailer.yml",
                          {"db": {host: {"appliance_smtp_url": url} for host, url in urls.items()}},
                          {"appliance_install_packages": False, "appliance_systemd": False,
                           "appliance_server_name": "whistle.example.com",
                           "appliance_integrity_msmtp_config": f"{work}/{{{{ inventory_hostname }}}}.msmtprc", **values})
    return Written(play.returncode, play.output, configs)


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Written:
    done = write_msmtprc(tmp_path_factory.mktemp("msmtprc"), {
        "plain": "smtp://relay.example.com", "starttls": f"smtp+starttls://{ENCODED}@relay.example.com:587",
        "smtps": f"smtps://{ENCODED}@relay.example.com", "none": ""})
    assert done.returncode == 0, done.output[-6000:]
    return done


def test_smtp_without_tls_sends_no_password_and_uses_port_25(written: Written) -> None:
    config = settings(written.configs["plain"].read_text())
    assert (config["host"], config["port"], config["tls"], config["auth"]) == ("relay.example.com", "25", "off", "off")
    assert "user" not in config and "password" not in config
    assert config["from"] == "appliance@whistle.example.com" and config["account"] == "default : appliance"


def test_starttls_and_smtps_verify_the_relay_and_log_no_content(written: Written) -> None:
    starttls = settings(written.configs["starttls"].read_text())
    smtps = settings(written.configs["smtps"].read_text())
    # The URL's port, else the appliance mailer's defaults: 25 for STARTTLS, 465 for smtps.
    assert (starttls["port"], starttls["tls"], starttls["tls_starttls"]) == ("587", "on", "on")
    assert (smtps["port"], smtps["tls"], smtps["tls_starttls"]) == ("465", "on", "off")
    for config in (starttls, smtps):
        assert config["tls_trust_file"] == "/etc/ssl/certs/ca-certificates.crt" and "tls_certcheck" not in config
        assert (config["auth"], config["user"], config["password"]) == ("on", USER, PASSWORD)
        # One line per mail to syslog (the journal), no log file: never a report's content.
        assert config["syslog"] == "LOG_MAIL" and config["logfile"] == ""
    for path in written.configs.values():
        if path.exists():
            st = path.stat()
            assert (st.st_mode & 0o7777, st.st_uid, st.st_gid) == (0o600, 0, 0), path


def test_without_a_relay_nothing_is_written(written: Written) -> None:
    assert not written.configs["none"].exists()


def test_aide_watches_the_mailer_configuration_by_its_attributes_when_there_is_a_relay() -> None:
    rule = r"=/etc/msmtprc$ Secret"  # never read: the relay's password is in it
    assert rule in render_integrity("aide.conf.j2", "db1", appliance_smtp_url="smtps://relay.example.com").splitlines()
    assert "msmtprc" not in render_integrity("aide.conf.j2", "db1")


@pytest.mark.parametrize("url", ["smtp://relay:secret@relay.example.com", "http://relay.example.com",
                                 "smtps://relay:pass%0Aauth%20off@relay.example.com"])
def test_the_role_refuses_a_relay_url_the_appliance_refuses(url: str, tmp_path: Path) -> None:
    done = write_msmtprc(tmp_path, {"db1": url})
    assert done.returncode != 0
    assert failed_task(done.output).endswith("integrity : Check the relay's URL before the mailer is configured with it")
    assert "would be sent in clear" in " ".join(done.output.split())
    assert not done.configs["db1"].exists() and "secret" not in done.output


# --- real deliveries --------------------------------------------------------------------------


@dataclass
class Relay:
    """An SMTP server on loopback (aiosmtpd) that keeps what it receives and who signed in."""

    messages: list[tuple[list[str], bytes]] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
        self.messages.append((list(envelope.rcpt_tos), envelope.content))
        return "250 OK"

    def authenticate(self, server: object, session: object, envelope: object, mechanism: str, data: Any) -> Any:
        from aiosmtpd.smtp import AuthResult

        self.logins.append((data.login.decode(), data.password.decode()))
        return AuthResult(success=(data.login.decode(), data.password.decode()) == (USER, PASSWORD))


@dataclass
class Certificate:
    ca_file: Path
    context: ssl.SSLContext


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    """A self-signed certificate for 127.0.0.1: msmtp trusts it through tls_trust_file."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    directory = tmp_path_factory.mktemp("relay-tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = directory / "relay.pem", directory / "relay.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return Certificate(cert_file, context)


@pytest.fixture
def relay(request: pytest.FixtureRequest, certificate: Certificate) -> Iterator[tuple[Relay, str]]:
    """The relay, listening as the parametrised scheme expects; its appliance_smtp_url."""
    from aiosmtpd.controller import Controller

    from appliance.backup.drivers.postgres import free_port

    scheme: str = request.param
    handler, port = Relay(), free_port()
    options: dict[str, Any] = {"hostname": "127.0.0.1", "port": port}
    if scheme == "smtp+starttls":
        options.update(tls_context=certificate.context, require_starttls=True, authenticator=handler.authenticate)
    elif scheme == "smtps":
        # TLS from the first byte: aiosmtpd's check for a STARTTLS before AUTH does not apply.
        options.update(ssl_context=certificate.context, authenticator=handler.authenticate, auth_require_tls=False)
    controller = Controller(handler, **options)
    controller.start()
    try:
        credentials = "" if scheme == "smtp" else f"{ENCODED}@"
        yield handler, f"{scheme}://{credentials}127.0.0.1:{port}"
    finally:
        controller.stop()


def mail_as_the_check_does(config: Path, mail_to: str, report: str) -> subprocess.CompletedProcess[str]:
    """The check script's own mail command (rendered from its template), with msmtp and this
    configuration in place of /usr/sbin/sendmail and /etc/msmtprc."""
    script = render_integrity("appliance-integrity-check.j2", "db1")
    (command,) = re.findall(r"^  (\{ printf 'To: .*\n.*\| /usr/sbin/sendmail -oi -t) \|\|", script, re.MULTILINE)
    command = command.replace("/usr/sbin/sendmail", f"{msmtp()} -C {config}")
    report_file = config.with_name("report")
    report_file.write_text(report)
    env = {"PATH": "/usr/bin:/bin", "MAIL_TO": mail_to, "HOST": "db1", "report": str(report_file),
           "summary": "FILES DIFFER from the last deployment's baseline: see the report"}
    return subprocess.run(["sh", "-c", command], env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("relay", ["smtp", "smtp+starttls", "smtps"], indirect=True)
def test_the_report_reaches_the_alert_addresses_through_the_relay(relay: tuple[Relay, str], certificate: Certificate,
                                                                 tmp_path: Path) -> None:
    handler, url = relay
    written = write_msmtprc(tmp_path, {"db1": url})
    assert written.returncode == 0, written.output[-6000:]
    config = written.configs["db1"]
    mail_to = "it-ops@example.com,security@example.com"
    if not url.startswith("smtp:"):
        # The relay's certificate is checked: signed by none of the system's CAs, it is refused.
        done = mail_as_the_check_does(config, mail_to, REPORT)
        assert done.returncode != 0 and not handler.messages and not handler.logins, done.stdout + done.stderr
    # The test's relay has a certificate of its own: msmtp is told to trust it.
    config.write_text(config.read_text().replace("/etc/ssl/certs/ca-certificates.crt", str(certificate.ca_file)))

    done = mail_as_the_check_does(config, mail_to, REPORT)
    assert done.returncode == 0, done.stdout + done.stderr
    ((recipients, content),) = handler.messages
    assert recipients == ["it-ops@example.com", "security@example.com"]
    message = message_from_bytes(content)
    assert message["To"] == mail_to and message["From"] == "appliance@whistle.example.com"
    assert message["Subject"] == "appliance-integrity on db1: FILES DIFFER from the last deployment's baseline: see the report"
    assert message.get_payload().replace("\r\n", "\n") == REPORT  # the report, and nothing else
    assert handler.logins == ([] if url.startswith("smtp:") else [(USER, PASSWORD)])


# --- the alert addresses in the appliance's configuration ------------------------------------


def render_appliance_toml(**values: object) -> str:
    """The app role's appliance.toml.j2 with the production defaults (Ansible's filters as plain Python)."""
    yaml = pytest.importorskip("yaml", reason="PyYAML comes with the deploy extra")
    defaults = yaml.safe_load((ANSIBLE_DIR / "group_vars" / "all" / "defaults.yml").read_text("utf-8"))
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, trim_blocks=True, autoescape=False)
    env.filters.update(to_json=json.dumps, zip=lambda a, b: list(zip(a, b, strict=True)),
                       regex_replace=lambda value, pattern, replacement: re.sub(pattern, replacement, value))
    plain = {k: v for k, v in defaults.items() if not (isinstance(v, str) and "{{" in v)}
    context = {**plain, "ansible_managed": "Ansible managed", "appliance_database_url": "sqlite+pysqlcipher:///appliance.db",
               "appliance_vault_database_url": "", "appliance_base_url": "https://whistle.example.com",
               "appliance_mail_from": "appliance@whistle.example.com", **values}
    template = (ANSIBLE_DIR / "roles" / "app" / "templates" / "appliance.toml.j2").read_text("utf-8")
    return env.from_string(template).render(**context)


@pytest.mark.parametrize("addresses", [[], ["it-ops@example.com", "security@example.com"]])
def test_the_appliance_reads_the_alert_addresses_from_its_configuration(addresses: list[str], tmp_path: Path) -> None:
    from appliance.settings import load_settings

    path = tmp_path / "appliance.toml"
    path.write_text(render_appliance_toml(appliance_alert_email=addresses))
    assert f"alert_email = {json.dumps(addresses)}" in path.read_text()
    assert load_settings(environ={}, config_path=path).alert_email == tuple(addresses)


def test_the_integrity_reports_go_to_the_alert_addresses_by_default() -> None:
    yaml = pytest.importorskip("yaml", reason="PyYAML comes with the deploy extra")
    defaults = yaml.safe_load((ANSIBLE_DIR / "group_vars" / "all" / "defaults.yml").read_text("utf-8"))
    template = jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(defaults["appliance_integrity_mail_to"])
    assert template.render(appliance_alert_email=["it-ops@example.com", "security@example.com"]) == \
        "it-ops@example.com,security@example.com"
    assert template.render(appliance_alert_email=[]) == ""
