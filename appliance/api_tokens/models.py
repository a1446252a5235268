"""The ``api_tokens`` table: one row per bearer token; the secret itself is never stored."""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from appliance.db import GUID, Base, Digest, UTCDateTime, new_id


class ApiToken(Base):
    """A tenant's bearer token. ``lookup`` is the random prefix the token carries in clear, so a
    request finds its row by an index; ``hash`` is HMAC-SHA256 of the whole token under a
    preserved secret, compared in constant time."""

    __tablename__ = "api_tokens"

    id: Mapped[uuid.UUID] = mapped_column(GUID, primary_key=True, default=new_id)
    tenant_id: Mapped[uuid.UUID] = mapped_column(GUID, sa.ForeignKey("tenants.id"), index=True)
    name: Mapped[str] = mapped_column(sa.Unicode(80))
    scopes: Mapped[str] = mapped_column(sa.String(200))  # space-separated, sorted
    lookup: Mapped[str] = mapped_column(sa.String(16), unique=True)
    hash: Mapped[bytes] = mapped_column(Digest)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(sa.String(64))  # "cli" or the staff user's id
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
