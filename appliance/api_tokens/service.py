"""Create, list, revoke and check API tokens.

A token reads ``apl_<lookup>_<secret>``: ``lookup`` is 16 random hex digits stored in clear (a
request finds its row through a unique index, in one query), ``secret`` is 32 random bytes,
url-safe base64. The database keeps only HMAC-SHA256 of the whole token under the preserved
secret ``api-token/v1`` (appliance/keys/secrets.py), compared in constant time. The token is
returned once, by ``create``; nothing can show it again.
"""

from __future__ import annotations

import builtins
import datetime as dt
import enum
import hashlib
import hmac
import re
import secrets
import uuid
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.orm import Session

from appliance.actors import Actor
from appliance.api_tokens.models import ApiToken
from appliance.audit.service import Logbook
from appliance.clock import Clock
from appliance.errors import AccessDenied, AuthenticationFailed, Conflict, InvalidInput, NotFound

PREFIX = "apl"
TOKEN = re.compile(r"apl_(?P<lookup>[0-9a-f]{16})_(?P<secret>[A-Za-z0-9_-]{43})")
MAX_NAME = 80
MAX_EXPIRY_DAYS = 3650
ACTOR_KIND = "api-token"
# ``last_used_at`` is kept to the minute: lists show when a token was last used, and a busy
# client does not rewrite its token's row on every request.
LAST_USED_STEP = dt.timedelta(minutes=1)


class Scope(enum.StrEnum):
    """What a token may do. The last three are for the insider-list and statistics APIs."""

    REPORTS_INTAKE = "reports:intake"
    EVENTS_UPLOAD = "events:upload"
    INSIDERS_READ = "insiders:read"
    INSIDERS_WRITE = "insiders:write"
    STATS_READ = "stats:read"


def api_actor(token_id: uuid.UUID) -> Actor:
    """How a request made with a token appears in the logbook: the token's id, never the token."""
    return Actor(ACTOR_KIND, token_id)


@dataclass(frozen=True)
class ApiPrincipal:
    """The caller behind a valid token: one tenant, some scopes."""

    token_id: uuid.UUID
    tenant_id: uuid.UUID
    scopes: frozenset[Scope]

    @property
    def actor(self) -> Actor:
        return api_actor(self.token_id)

    def require(self, scope: Scope) -> None:
        """AccessDenied unless the token carries ``scope``."""
        if scope not in self.scopes:
            raise AccessDenied(f"scope {scope.value}")


@dataclass(frozen=True)
class TokenView:
    """A token as lists show it: never its secret or hash."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    name: str
    scopes: tuple[Scope, ...]
    created_at: dt.datetime
    created_by: str
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None

    def state(self, now: dt.datetime) -> str:
        """``active``, ``revoked`` or ``expired``."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"

    def as_dict(self, now: dt.datetime) -> dict[str, object]:
        def iso(value: dt.datetime | None) -> str | None:
            return value.isoformat() if value is not None else None
        return {"id": str(self.id), "tenant_id": str(self.tenant_id), "name": self.name,
                "scopes": [s.value for s in self.scopes], "state": self.state(now),
                "created_at": iso(self.created_at), "created_by": self.created_by,
                "expires_at": iso(self.expires_at), "revoked_at": iso(self.revoked_at),
                "last_used_at": iso(self.last_used_at)}


@dataclass(frozen=True)
class IssuedToken:
    """A new token and its secret, which is shown once and never again."""

    view: TokenView
    token: str = field(repr=False)


def parse_scopes(values: list[str] | tuple[str, ...]) -> tuple[Scope, ...]:
    """The scopes named, sorted and without repeats; InvalidInput for an unknown one or none."""
    found: set[Scope] = set()
    for value in values:
        try:
            found.add(Scope(value))
        except ValueError:
            raise InvalidInput("scope", f"unknown scope (known: {', '.join(s.value for s in Scope)})") from None
    if not found:
        raise InvalidInput("scope", "give at least one scope")
    return tuple(sorted(found))


def token_lookup(token: str) -> str | None:
    """The lookup part of a well-formed token, else None."""
    match = TOKEN.fullmatch(token)
    return match["lookup"] if match else None


def new_token() -> tuple[str, str]:
    """(lookup, token): a fresh token in the ``apl_<lookup>_<secret>`` format."""
    lookup = secrets.token_hex(8)
    return lookup, f"{PREFIX}_{lookup}_{secrets.token_urlsafe(32)}"


class ApiTokens:
    """Tokens of every tenant. ``key`` is the preserved secret the token hashes are made under."""

    def __init__(self, session: Session, logbook: Logbook, clock: Clock, key: bytes) -> None:
        self._session = session
        self._logbook = logbook
        self._clock = clock
        self._key = key

    def create(self, tenant_id: uuid.UUID, name: str, scopes: list[str] | tuple[str, ...],
               expires_days: int | None, actor: Actor) -> IssuedToken:
        """A new token for one tenant; its secret is returned once, here."""
        name = name.strip()
        if not name or len(name) > MAX_NAME or any(ord(c) < 32 or ord(c) == 127 for c in name):
            raise InvalidInput("name", f"give 1 to {MAX_NAME} printable characters")
        chosen = parse_scopes(scopes)
        if expires_days is not None and not 1 <= expires_days <= MAX_EXPIRY_DAYS:
            raise InvalidInput("expires_days", f"must be from 1 to {MAX_EXPIRY_DAYS}")
        now = self._clock()
        lookup, token = new_token()
        row = ApiToken(id=uuid.uuid4(), tenant_id=tenant_id, name=name, scopes=" ".join(chosen), lookup=lookup,
                       hash=self._digest(token), created_at=now, created_by=actor.audit_id or actor.kind,
                       expires_at=now + dt.timedelta(days=expires_days) if expires_days is not None else None)
        self._session.add(row)
        self._session.flush()
        self._logbook.record("api_token.created", actor, tenant_id=tenant_id, object_type="api_token",
                             object_id=row.id, detail=f"scopes={row.scopes}")
        return IssuedToken(_view(row), token)

    def list(self, tenant_id: uuid.UUID | None = None) -> list[TokenView]:
        """Every token (of one tenant), newest first, revoked and expired ones included."""
        query = sa.select(ApiToken).order_by(ApiToken.created_at.desc(), ApiToken.id)
        if tenant_id is not None:
            query = query.where(ApiToken.tenant_id == tenant_id)
        return [_view(row) for row in self._session.execute(query).scalars()]

    def revoke(self, token_id: uuid.UUID, actor: Actor, tenant_id: uuid.UUID | None = None) -> TokenView:
        """Revoke a token at once. ``tenant_id``: only a token of that tenant (NotFound otherwise,
        as for one that does not exist). Conflict when it is revoked already."""
        query = sa.select(ApiToken).where(ApiToken.id == token_id)
        if tenant_id is not None:
            query = query.where(ApiToken.tenant_id == tenant_id)
        row = self._session.execute(query).scalar_one_or_none()
        if row is None:
            raise NotFound("api token", token_id)
        if row.revoked_at is not None:
            raise Conflict("the token is revoked already")
        row.revoked_at = self._clock()
        self._session.flush()
        self._logbook.record("api_token.revoked", actor, tenant_id=row.tenant_id, object_type="api_token",
                             object_id=row.id)
        return _view(row)

    def authenticate(self, token: str) -> ApiPrincipal:
        """The principal behind a valid token; AuthenticationFailed for a malformed, unknown,
        wrong, revoked or expired one (the same error for each: the caller learns nothing)."""
        lookup = token_lookup(token)
        row = None
        if lookup is not None:
            row = self._session.execute(sa.select(ApiToken).where(ApiToken.lookup == lookup)).scalar_one_or_none()
        # The HMAC is computed whether or not a row was found, so timing tells nothing either.
        digest = self._digest(token)
        if row is None or not hmac.compare_digest(digest, bytes(row.hash)):
            raise AuthenticationFailed()
        now = self._clock()
        if row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= now):
            raise AuthenticationFailed()
        if row.last_used_at is None or now - row.last_used_at >= LAST_USED_STEP:
            row.last_used_at = now  # a write per minute at most, not one per request
        return ApiPrincipal(row.id, row.tenant_id, frozenset(Scope(s) for s in row.scopes.split()))

    def record_request(self, principal: ApiPrincipal, operation: str, object_type: str | None = None,
                       object_id: uuid.UUID | None = None) -> None:
        """Log one API operation by token id (never the token, never what was sent)."""
        self._logbook.record(f"api.{operation}", principal.actor, tenant_id=principal.tenant_id,
                             object_type=object_type, object_id=object_id, detail=f"token={principal.token_id}")

    def expiring(self, within: dt.timedelta) -> builtins.list[TokenView]:
        """Active tokens that expire within ``within`` from now (soonest first)."""
        now = self._clock()
        rows = self._session.execute(sa.select(ApiToken).where(
            ApiToken.revoked_at.is_(None), ApiToken.expires_at.is_not(None), ApiToken.expires_at > now,
            ApiToken.expires_at <= now + within).order_by(ApiToken.expires_at)).scalars()
        return [_view(row) for row in rows]

    def _digest(self, token: str) -> bytes:
        return hmac.new(self._key, token.encode("utf-8", "surrogatepass"), hashlib.sha256).digest()


def _view(row: ApiToken) -> TokenView:
    return TokenView(row.id, row.tenant_id, row.name, tuple(Scope(s) for s in row.scopes.split()), row.created_at,
                     row.created_by, row.expires_at, row.revoked_at, row.last_used_at)
