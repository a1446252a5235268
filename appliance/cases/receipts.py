"""The reporter's receipt (post/redirect/get) and the report form recognised when it comes twice.

The case key is shown exactly once, on a page the browser reaches by a redirect after the
report is stored, so reloading that page or going Back never files the report again.

Between the post and that page the key waits in a ``web_sessions`` row of kind ``receipt``,
sealed under a key derived from a token that only the reporter's short-lived cookie holds (the
row keeps the token's hash, and no case id). It is in the database, not the host's ephemeral
store, because several app hosts behind a load balancer need no stickiness: the redirect may
reach another host. Showing the key wipes it from the row; a key not shown within
``SHOW_WITHIN`` is never shown, and is wiped by the next form check or receipt, or the ``session-sweep`` job (``sweep``).

Each report form the portal renders carries a reference: random, dated and MACed (tenant
bound). The token is an HMAC of that reference, so a second post of the same form (a double
click, or Back and send again) finds the row of the first instead of filing a second case. It
is sent on to the receipt while the key has not been shown (after a double click the browser
shows only the second answer), and is told that the report was already received once it has.
A row stays as long as its form is accepted (``FORM_LIFETIME``, the CSRF token's lifetime too),
and is deleted by the next form check or receipt after that.
"""

from __future__ import annotations

import base64
import datetime as dt
import enum
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from appliance.clock import Clock
from appliance.crypto.case_keys import CaseKey
from appliance.errors import Conflict, InvalidInput
from appliance.users.models import WebSession
from appliance.users.sessions import SessionStore, token_hash

KIND = "receipt"
SHOW_WITHIN = dt.timedelta(minutes=10)  # the redirect takes a moment; a reporter who left does not come back
FORM_LIFETIME = dt.timedelta(hours=8)  # webapp: WTF_CSRF_TIME_LIMIT
FORM_FIELD = "form_ref"
MAX_REFERENCE = 128
CLOCK_SKEW = dt.timedelta(minutes=5)  # a form rendered by another app host whose clock runs ahead


class FormState(enum.Enum):
    NEW = "new"  # no report was stored from this form
    WAITING = "waiting"  # stored; its receipt was not shown yet
    RECEIVED = "received"  # stored, and its receipt was shown (or its time to be shown ran out)


@dataclass(frozen=True)
class ReportForm:
    """A checked reference of one rendered report form, and the receipt token it names."""

    tenant_id: uuid.UUID
    token: str = field(repr=False)


@dataclass(frozen=True)
class Claim:
    """The receipt row a report being stored holds (in the request's transaction)."""

    row: WebSession
    token: str = field(repr=False)


class FormAlreadySent(Conflict):
    """A report from this form is being stored, or was stored, by another request."""

    def __init__(self) -> None:
        super().__init__("this report form was already sent")


class ReportReceipts:
    """Form references, receipts held for the redirect, and the one showing of a case key."""

    def __init__(self, session: Session, key: bytes, clock: Clock) -> None:
        self._session = session
        self._key = key
        self._clock = clock
        self._sessions = SessionStore(session, clock)

    # --- the form ---------------------------------------------------------------------------
    def new_form(self, tenant_id: uuid.UUID) -> str:
        """A fresh reference for one rendered report form of this tenant."""
        issued = str(int(self._clock().timestamp()))
        nonce = _b64(secrets.token_bytes(16))
        return f"{issued}.{nonce}.{self._mac(tenant_id, issued, nonce)}"

    def check_form(self, tenant_id: uuid.UUID, reference: str) -> ReportForm:
        """The form a posted reference names; InvalidInput (field ``form_ref``) when it is
        missing, altered, of another tenant, or older than FORM_LIFETIME."""
        self.sweep()
        parts = reference.split(".") if 0 < len(reference) <= MAX_REFERENCE else []
        if len(parts) != 3 or not parts[0].isdigit() or not hmac.compare_digest(
                parts[2], self._mac(tenant_id, parts[0], parts[1])):
            raise InvalidInput(FORM_FIELD, "is not a form of this portal")
        issued = dt.datetime.fromtimestamp(int(parts[0]), dt.UTC)
        now = self._clock()
        if issued > now + CLOCK_SKEW or now - issued > FORM_LIFETIME:
            raise InvalidInput(FORM_FIELD, "has expired")
        token = _b64(hmac.new(self._key, _message("receipt", str(tenant_id), reference), hashlib.sha256).digest())
        return ReportForm(tenant_id, token)

    def state(self, form: ReportForm) -> FormState:
        """Whether a report was stored from this form, and whether its receipt was shown."""
        row = self._row(form.token)
        if row is None:
            return FormState.NEW
        return FormState.WAITING if row.secret_sealed is not None else FormState.RECEIVED

    def claim(self, form: ReportForm) -> Claim:
        """Take this form's receipt row before its report is stored (call inside the transaction
        that stores it): a second request with the same form waits here until the first ends,
        and then gets FormAlreadySent. The row is the form's until FORM_LIFETIME has passed."""
        now = self._clock()
        row = WebSession(token_hash=token_hash(form.token), kind=KIND, stage="filing", created_at=now,
                         last_seen_at=now)
        try:
            with self._session.begin_nested():
                self._session.add(row)
                self._session.flush()
        except IntegrityError:
            raise FormAlreadySent() from None
        return Claim(row, form.token)

    def hold(self, claim: Claim, tenant_id: uuid.UUID, case_key: CaseKey) -> str:
        """Keep the stored report's case key for its one showing; returns the cookie's token."""
        self._sessions.store_secret(claim.row, claim.token, tenant_id.bytes + case_key.normalised.encode())
        claim.row.stage = "waiting"
        return claim.token

    # --- the receipt ------------------------------------------------------------------------
    def show(self, tenant_id: uuid.UUID, token: str | None) -> CaseKey | None:
        """The case key a receipt token holds, once: the key is wiped as it is read. None when
        the token is unknown or of another tenant, its receipt was shown, or its time to be
        shown ran out."""
        self.sweep()
        row = self._row(token)
        if row is None or row.secret_sealed is None:
            return None
        secret = self._sessions.secret(row, token)
        if secret is None or secret[:16] != tenant_id.bytes:
            return None
        row.secret_sealed = None
        row.stage = "shown"
        row.last_seen_at = self._clock()
        self._session.flush()
        return CaseKey(secret[16:].decode())

    def _row(self, token: str | None) -> WebSession | None:
        if not token or len(token) > MAX_REFERENCE:
            return None
        return self._session.execute(sa.select(WebSession).where(
            WebSession.token_hash == token_hash(token), WebSession.kind == KIND)).scalar_one_or_none()

    def sweep(self) -> None:
        """Receipts not shown in time lose their key; rows of forms no longer accepted go. Run by
        every form check and receipt, and every few minutes by the ``session-sweep`` job, so a
        key no browser came back for does not wait for the next report."""
        now = self._clock()
        self._session.execute(sa.delete(WebSession).where(
            WebSession.kind == KIND, WebSession.created_at < now - FORM_LIFETIME - CLOCK_SKEW))
        self._session.execute(sa.update(WebSession).where(
            WebSession.kind == KIND, WebSession.created_at < now - SHOW_WITHIN,
            WebSession.secret_sealed.is_not(None)).values(secret_sealed=None, stage="shown"))

    def _mac(self, tenant_id: uuid.UUID, issued: str, nonce: str) -> str:
        return _b64(hmac.new(self._key, _message("form", str(tenant_id), issued, nonce), hashlib.sha256).digest()[:16])


def _message(*parts: str) -> bytes:
    return b"".join(len(p.encode()).to_bytes(4, "big") + p.encode() for p in parts)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
