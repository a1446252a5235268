"""Server-side web sessions: the cookie carries a random token, the DB only its hash.

A session may hold a private key (a handler's, or, for a reporter, the case key pair's private half), sealed under a
key derived from the token. The database has only the token's hash, so a copy of the
sessions table unlocks nothing; logout and expiry delete the row, and with it the key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy.orm import Session

from appliance.clock import Clock
from appliance.crypto.fields import FieldCipher, Place
from appliance.errors import DecryptionFailed
from appliance.users.models import WebSession

TOUCH_EVERY = dt.timedelta(seconds=60)


@dataclass(frozen=True)
class SessionLimits:
    idle: dt.timedelta
    absolute: dt.timedelta


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _token_cipher(token: str) -> FieldCipher:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
               info=b"appliance/session-secret/v1").derive(token.encode())
    return FieldCipher(key, 1)


class SessionStore:
    def __init__(self, session: Session, clock: Clock) -> None:
        self._session = session
        self._clock = clock

    def create(self, kind: str, stage: str, *, user_id: uuid.UUID | None = None,
               case_id: uuid.UUID | None = None) -> tuple[str, WebSession]:
        token = secrets.token_urlsafe(32)
        now = self._clock()
        row = WebSession(token_hash=token_hash(token), kind=kind, stage=stage, user_id=user_id,
                         case_id=case_id, created_at=now, last_seen_at=now)
        self._session.add(row)
        self._session.flush()
        return token, row

    def lookup(self, token: str | None, kind: str, limits: SessionLimits) -> WebSession | None:
        """The live session for a token, or None (expired sessions are deleted)."""
        if not token or len(token) > 128:
            return None
        row = self._session.execute(
            sa.select(WebSession).where(WebSession.token_hash == token_hash(token), WebSession.kind == kind)
        ).scalar_one_or_none()
        if row is None:
            return None
        now = self._clock()
        if now - row.last_seen_at > limits.idle or now - row.created_at > limits.absolute:
            self._session.delete(row)
            self._session.flush()
            return None
        if now - row.last_seen_at > TOUCH_EVERY:
            row.last_seen_at = now
        return row

    def store_secret(self, row: WebSession, token: str, secret: bytes) -> None:
        row.secret_sealed = _token_cipher(token).seal(secret, Place("web_sessions", "secret", row.id))
        self._session.flush()

    def secret(self, row: WebSession, token: str | None) -> bytes | None:
        """The key the session holds, opened with the cookie's token (None without one)."""
        if row.secret_sealed is None or not token:
            return None
        try:
            return _token_cipher(token).open_bytes(row.secret_sealed, Place("web_sessions", "secret", row.id))
        except DecryptionFailed:
            return None

    def rotate(self, row: WebSession, stage: str, old_token: str | None = None) -> str:
        """New token (and stage) for an existing session: stops session fixation. The held key
        moves to the new token (it needs the old one to be opened)."""
        token = secrets.token_urlsafe(32)
        held = self.secret(row, old_token)
        row.secret_sealed = None
        if held is not None:
            row.secret_sealed = _token_cipher(token).seal(held, Place("web_sessions", "secret", row.id))
        row.token_hash = token_hash(token)
        row.stage = stage
        row.last_seen_at = self._clock()
        self._session.flush()
        return token

    def destroy(self, token: str | None) -> None:
        if token:
            self._session.execute(sa.delete(WebSession).where(WebSession.token_hash == token_hash(token)))

    def destroy_for_user(self, user_id: uuid.UUID, keep: uuid.UUID | None = None) -> int:
        """End every session of the user, except ``keep`` (the caller's own); how many ended."""
        query = sa.delete(WebSession).where(WebSession.user_id == user_id)
        if keep is not None:
            query = query.where(WebSession.id != keep)
        return int(self._session.execute(query).rowcount or 0)  # type: ignore[attr-defined]

    def purge_expired(self, limits_by_kind: dict[str, SessionLimits]) -> int:
        now = self._clock()
        removed = 0
        for kind, limits in limits_by_kind.items():
            result = self._session.execute(
                sa.delete(WebSession).where(
                    WebSession.kind == kind,
                    sa.or_(WebSession.last_seen_at < now - limits.idle,
                           WebSession.created_at < now - limits.absolute),
                )
            )
            removed += result.rowcount or 0  # type: ignore[attr-defined]
        return removed
