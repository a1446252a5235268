"""Mail goes through a real local SMTP server (aiosmtpd); credentials never go over a plain connection."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from appliance.notify.mailer import Mail, Mailer, MailFailed


@dataclass
class Relay:
    """A relay that offers AUTH even without TLS (a badly configured one) and records everything."""

    port: int = 0
    logins: list[tuple[bytes, bytes]] = field(default_factory=list)
    messages: list[bytes] = field(default_factory=list)

    def authenticate(self, server: object, session: object, envelope: object, mechanism: str,
                     auth_data: object) -> AuthResult:
        if isinstance(auth_data, LoginPassword):
            self.logins.append((auth_data.login, auth_data.password))
        return AuthResult(success=True)

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        self.messages.append(envelope.content)  # type: ignore[attr-defined]
        return "250 OK"


@pytest.fixture
def relay() -> Iterator[Relay]:
    from appliance.backup.drivers.postgres import free_port

    handler = Relay(port=free_port())
    controller = Controller(handler, hostname="127.0.0.1", port=handler.port, authenticator=handler.authenticate,
                            auth_require_tls=False)
    controller.start()
    yield handler
    controller.stop()


MAIL = [Mail("officer@example.com", "Reminder", "Case ABCD-1234 is due.")]


def test_a_password_is_never_sent_without_tls(relay: Relay) -> None:
    mailer = Mailer(f"smtp://relay:s3cret@127.0.0.1:{relay.port}", "appliance@example.com", timeout=10)
    with pytest.raises(MailFailed) as refused:
        mailer.send(MAIL)
    assert "smtp+starttls://" in str(refused.value) and "s3cret" not in str(refused.value)
    assert relay.logins == [] and relay.messages == []


def test_plain_smtp_without_credentials_still_delivers(relay: Relay) -> None:
    Mailer(f"smtp://127.0.0.1:{relay.port}", "appliance@example.com", timeout=10).send(MAIL)
    assert len(relay.messages) == 1 and relay.logins == []
