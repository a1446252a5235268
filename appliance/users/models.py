"""Staff users, their roles per tenant, recovery codes, web sessions and throttles."""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from appliance.crypto.fields import EncryptedBytes, Sealed
from appliance.db import GUID, Base, Blob, Digest, UTCDateTime, new_id

DIGEST = Digest


class User(Base):
    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(GUID, primary_key=True, default=new_id)
    email_index: Mapped[bytes] = mapped_column(DIGEST, unique=True)
    email_sealed: Mapped[Sealed] = mapped_column(EncryptedBytes)
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    totp_secret_sealed: Mapped[Sealed | None] = mapped_column(EncryptedBytes)
    totp_enabled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    totp_last_step: Mapped[int | None] = mapped_column(sa.BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    password_changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    disabled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # X25519 key pair for sealed case keys; the private half only under the password's key.
    public_key: Mapped[bytes | None] = mapped_column(Blob)
    private_key_sealed: Mapped[Sealed | None] = mapped_column(EncryptedBytes)
    keys_reset_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # The Ed25519 key derived from the private key, the user's own signature over both public
    # keys, and the server's MAC over the same (``appliance.crypto.binding``): a key planted in
    # this row by anyone but its owner fails one or the other.
    sign_key: Mapped[bytes | None] = mapped_column(Blob)
    key_signature: Mapped[bytes | None] = mapped_column(Blob)
    key_mac: Mapped[bytes | None] = mapped_column(Digest)
    # Set by an administrator (a new account, a reset): the user chooses their own before
    # anything else, and only then gets a key pair, which no administrator ever knew.
    must_change_password: Mapped[bool] = mapped_column(sa.Boolean, default=False, server_default=sa.false())
    # The person chain record that holds this account's identity (e-mail) for erasure.
    person_id: Mapped[uuid.UUID | None] = mapped_column(GUID, sa.ForeignKey("persons.id"))


class Membership(Base):
    __tablename__ = "memberships"
    __table_args__ = (sa.UniqueConstraint("user_id", "tenant_id", "role"),)

    id: Mapped[uuid.UUID] = mapped_column(GUID, primary_key=True, default=new_id)
    user_id: Mapped[uuid.UUID] = mapped_column(GUID, sa.ForeignKey("users.id"), index=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(GUID, sa.ForeignKey("tenants.id"), index=True)
    role: Mapped[str] = mapped_column(sa.String(20))


class RecoveryCode(Base):
    __tablename__ = "recovery_codes"

    id: Mapped[uuid.UUID] = mapped_column(GUID, primary_key=True, default=new_id)
    user_id: Mapped[uuid.UUID] = mapped_column(GUID, sa.ForeignKey("users.id"), index=True)
    code_hash: Mapped[bytes] = mapped_column(DIGEST)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class WebSession(Base):
    """A server-side session. The cookie holds a random token; only its hash is stored."""

    __tablename__ = "web_sessions"

    id: Mapped[uuid.UUID] = mapped_column(GUID, primary_key=True, default=new_id)
    token_hash: Mapped[bytes] = mapped_column(DIGEST, unique=True)
    kind: Mapped[str] = mapped_column(sa.String(10))  # staff | reporter
    stage: Mapped[str] = mapped_column(sa.String(10))  # staff: password | enrol | full
    user_id: Mapped[uuid.UUID | None] = mapped_column(GUID, sa.ForeignKey("users.id"), index=True)
    case_id: Mapped[uuid.UUID | None] = mapped_column(GUID, sa.ForeignKey("cases.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # A private key (the staff user's, or the case key pair's for a reporter) sealed under a key derived
    # from the cookie token, which the database never sees: this table alone unlocks nothing.
    secret_sealed: Mapped[Sealed | None] = mapped_column(EncryptedBytes)


class Throttle(Base):
    """Failed attempts per account, per client or per tenant; the key is a keyed hash."""

    __tablename__ = "throttles"

    key_hash: Mapped[bytes] = mapped_column(DIGEST, primary_key=True)
    failures: Mapped[int] = mapped_column(sa.Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_failure_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
