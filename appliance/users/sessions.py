"""Server-side web sessions: the cookie carries a random token, the DB only its hash."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from appliance.clock import Clock
from appliance.users.models import WebSession

TOUCH_EVERY = dt.timedelta(seconds=60)


@dataclass(frozen=True)
class SessionLimits:
    idle: dt.timedelta
    absolute: dt.timedelta


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


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

    def rotate(self, row: WebSession, stage: str) -> str:
        """New token (and stage) for an existing session: stops session fixation."""
        token = secrets.token_urlsafe(32)
        row.token_hash = token_hash(token)
        row.stage = stage
        row.last_seen_at = self._clock()
        self._session.flush()
        return token

    def destroy(self, token: str | None) -> None:
        if token:
            self._session.execute(sa.delete(WebSession).where(WebSession.token_hash == token_hash(token)))

    def destroy_for_user(self, user_id: uuid.UUID) -> None:
        self._session.execute(sa.delete(WebSession).where(WebSession.user_id == user_id))

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
