"""Sending mail over SMTP (smtp://, smtp+starttls://, smtps://; user:password in the URL)."""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

from appliance.errors import ApplianceError


class MailFailed(ApplianceError):
    """The mail server refused or could not be reached."""

    exit_code = 69

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def message(self) -> str:
        return f"mail: {self.reason}"


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    body: str


class Mailer:
    """One SMTP connection per batch; the messages are plain text."""

    def __init__(self, smtp_url: str, mail_from: str, timeout: float = 30) -> None:
        self._url = urlsplit(smtp_url)
        self._from = mail_from
        self._timeout = timeout

    @property
    def configured(self) -> bool:
        return bool(self._url.scheme)

    def send(self, mails: list[Mail]) -> None:
        if not mails:
            return
        if not self.configured:
            raise MailFailed("SMTP_URL is not set")
        host, scheme = self._url.hostname or "localhost", self._url.scheme
        if self._url.username and scheme not in ("smtps", "smtp+starttls"):
            # Settings refuse this at start; never send a password over a plain connection anyway.
            raise MailFailed("refusing to send the SMTP user name and password without TLS; "
                             "use smtp+starttls:// or smtps:// in SMTP_URL")
        port = self._url.port or (465 if scheme == "smtps" else 25)
        try:
            client: smtplib.SMTP
            if scheme == "smtps":
                client = smtplib.SMTP_SSL(host, port, timeout=self._timeout, context=ssl.create_default_context())
            else:
                client = smtplib.SMTP(host, port, timeout=self._timeout)
            with client:
                if scheme == "smtp+starttls":
                    client.starttls(context=ssl.create_default_context())
                if self._url.username:
                    client.login(unquote(self._url.username), unquote(self._url.password or ""))
                for mail in mails:
                    message = EmailMessage()
                    message["From"], message["To"], message["Subject"] = self._from, mail.to, mail.subject
                    message.set_content(mail.body)
                    client.send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            raise MailFailed(f"{host}:{port}: {exc}"[:200]) from None
