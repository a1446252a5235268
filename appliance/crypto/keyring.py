"""Tenant key-encryption keys and case data keys, with every unwrap in the logbook."""

from __future__ import annotations

import os
import secrets
import struct
import uuid

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.orm import Session

from appliance.actors import Actor
from appliance.audit.service import Logbook
from appliance.clock import Clock
from appliance.crypto.fields import FieldCipher
from appliance.crypto.keys import MasterKey
from appliance.crypto.models import InstallationKey
from appliance.errors import DecryptionFailed, NotFound
from appliance.tenants.models import TenantKey

_WRAP = struct.Struct(">I")  # key version prefix of a wrapped case key
INSTALLATION_FIELD_VERSION = 1


def installation_cipher(master: MasterKey) -> FieldCipher:
    """For data that belongs to no tenant (staff accounts span tenants)."""
    return FieldCipher(master.derive(f"installation-data/v{INSTALLATION_FIELD_VERSION}"),
                       INSTALLATION_FIELD_VERSION)


def tenant_key_opens(master: MasterKey, tenant_id: uuid.UUID, version: int, wrapped: bytes) -> bool:
    """Whether this master key unwraps a stored tenant key (backup verification: no logbook,
    the scratch database is not the appliance's)."""
    try:
        AESGCM(master.derive("tenant-key-wrap/v1")).decrypt(wrapped[:12], wrapped[12:], _tenant_aad(tenant_id, version))
    except InvalidTag:
        return False
    return True


class TenantKeyring:
    """Creates and unwraps tenant keys; wraps and unwraps per-case data keys."""

    def __init__(self, session: Session, master: MasterKey, logbook: Logbook, clock: Clock) -> None:
        self._session = session
        self._wrapper = AESGCM(master.derive("tenant-key-wrap/v1"))
        self._logbook = logbook
        self._clock = clock

    def create_tenant_key(self, tenant_id: uuid.UUID) -> int:
        """Add the next key version for a tenant and return it."""
        current = self._session.execute(
            sa.select(sa.func.max(TenantKey.version)).where(TenantKey.tenant_id == tenant_id)
        ).scalar_one()
        version = (current or 0) + 1
        nonce = os.urandom(12)
        wrapped = nonce + self._wrapper.encrypt(
            nonce, secrets.token_bytes(32), _tenant_aad(tenant_id, version)
        )
        self._session.add(TenantKey(tenant_id=tenant_id, version=version, wrapped_key=wrapped,
                                    created_at=self._clock()))
        self._session.flush()
        return version

    def current_version(self, tenant_id: uuid.UUID) -> int:
        return self._current_key(tenant_id).version

    def _current_key(self, tenant_id: uuid.UUID) -> TenantKey:
        row = self._session.execute(
            sa.select(TenantKey).where(TenantKey.tenant_id == tenant_id).order_by(TenantKey.version.desc()).limit(1)
        ).scalar_one_or_none()
        if row is None:
            raise NotFound("tenant key", tenant_id)
        return row

    def tenant_kek(self, tenant_id: uuid.UUID, version: int, actor: Actor) -> AESGCM:
        row = self._session.get(TenantKey, (tenant_id, version))
        if row is None:
            raise NotFound("tenant key", tenant_id)
        return self._unwrap_tenant_key(row, actor)

    def _unwrap_tenant_key(self, row: TenantKey, actor: Actor) -> AESGCM:
        tenant_id, version = row.tenant_id, row.version
        try:
            key = self._wrapper.decrypt(row.wrapped_key[:12], row.wrapped_key[12:],
                                        _tenant_aad(tenant_id, version))
        except InvalidTag:
            raise DecryptionFailed("tenant key") from None
        self._logbook.record("key.unwrapped", actor, tenant_id=tenant_id,
                             object_type="tenant_key", object_id=f"{tenant_id}/v{version}")
        return AESGCM(key)

    def wrap_case_key(self, tenant_id: uuid.UUID, case_id: uuid.UUID, data_key: bytes, actor: Actor) -> tuple[bytes, int]:
        """A case data key wrapped under the current tenant key, as cases were stored before
        sealed case keys (kept so old cases can be made, e.g. by migration tests)."""
        row = self._current_key(tenant_id)
        nonce = os.urandom(12)
        kek = self._unwrap_tenant_key(row, actor)
        body = kek.encrypt(nonce, data_key, _case_aad(tenant_id, case_id, row.version))
        return _WRAP.pack(row.version) + nonce + body, row.version

    def case_data_key(self, tenant_id: uuid.UUID, case_id: uuid.UUID, wrapped: bytes, actor: Actor) -> bytes:
        """Unwrap a case's data key (logged as a case key unwrap)."""
        (version,) = _WRAP.unpack_from(wrapped)
        kek = self.tenant_kek(tenant_id, version, actor)
        body = wrapped[_WRAP.size:]
        try:
            key = kek.decrypt(body[:12], body[12:], _case_aad(tenant_id, case_id, version))
        except InvalidTag:
            raise DecryptionFailed("case key") from None
        self._logbook.record("key.unwrapped", actor, tenant_id=tenant_id,
                             object_type="case_key", object_id=case_id)
        return key


class DataKeys:
    """Data keys of non-case records (persons, later insider lists), wrapped under the
    current key-encryption key of their tenant, or of the installation when ``tenant_id`` is
    None (staff persons span tenants). Each wrap records its version; reads use that version,
    so a rotation can move rows one batch at a time while the appliance keeps serving."""

    def __init__(self, session: Session, master: MasterKey, keyring: TenantKeyring, logbook: Logbook,
                 clock: Clock) -> None:
        self._session = session
        self._wrapper = AESGCM(master.derive("installation-key-wrap/v1"))
        self._keyring = keyring
        self._logbook = logbook
        self._clock = clock

    def current_version(self, tenant_id: uuid.UUID | None) -> int:
        if tenant_id is not None:
            return self._keyring.current_version(tenant_id)
        return self._current_installation_key().version

    def wrap(self, tenant_id: uuid.UUID | None, owner: str, data_key: bytes, actor: Actor,
             version: int | None = None) -> tuple[bytes, int]:
        """``data_key`` wrapped for ``owner`` (e.g. ``person/<id>``) under the current (or the
        given) key version; returns the wrapped bytes and the version."""
        version = version if version is not None else self.current_version(tenant_id)
        kek = self._kek(tenant_id, version, actor)
        nonce = os.urandom(12)
        return nonce + kek.encrypt(nonce, data_key, _data_aad(tenant_id, owner, version)), version

    def unwrap(self, tenant_id: uuid.UUID | None, owner: str, version: int, wrapped: bytes, actor: Actor,
               object_type: str, object_id: uuid.UUID | str) -> bytes:
        """Unwrap a data key (logged as a ``key.unwrapped`` of ``object_type``)."""
        kek = self._kek(tenant_id, version, actor)
        try:
            key = kek.decrypt(wrapped[:12], wrapped[12:], _data_aad(tenant_id, owner, version))
        except InvalidTag:
            raise DecryptionFailed(object_type) from None
        self._logbook.record("key.unwrapped", actor, tenant_id=tenant_id, object_type=object_type,
                             object_id=object_id)
        return key

    def create_installation_key(self) -> int:
        """Add the next installation key version and return it."""
        current = self._session.execute(sa.select(sa.func.max(InstallationKey.version))).scalar_one()
        version = (current or 0) + 1
        nonce = os.urandom(12)
        wrapped = nonce + self._wrapper.encrypt(nonce, secrets.token_bytes(32), _installation_aad(version))
        self._session.add(InstallationKey(version=version, wrapped_key=wrapped, created_at=self._clock()))
        self._session.flush()
        return version

    def _current_installation_key(self) -> InstallationKey:
        row = self._session.execute(
            sa.select(InstallationKey).order_by(InstallationKey.version.desc()).limit(1)
        ).scalar_one_or_none()
        if row is None:
            self.create_installation_key()
            return self._current_installation_key()
        return row

    def _kek(self, tenant_id: uuid.UUID | None, version: int, actor: Actor) -> AESGCM:
        if tenant_id is not None:
            return self._keyring.tenant_kek(tenant_id, version, actor)
        row = self._session.get(InstallationKey, version)
        if row is None:
            raise NotFound("installation key", str(version))
        try:
            key = self._wrapper.decrypt(row.wrapped_key[:12], row.wrapped_key[12:], _installation_aad(version))
        except InvalidTag:
            raise DecryptionFailed("installation key") from None
        self._logbook.record("key.unwrapped", actor, object_type="installation_key", object_id=f"v{version}")
        return AESGCM(key)


def _installation_aad(version: int) -> bytes:
    return b"installation-key\x1f%d" % version


def _data_aad(tenant_id: uuid.UUID | None, owner: str, version: int) -> bytes:
    scope = tenant_id.bytes if tenant_id else b"installation"
    return b"data-key\x1f%s\x1f%s\x1f%d" % (scope, owner.encode(), version)


def _tenant_aad(tenant_id: uuid.UUID, version: int) -> bytes:
    return b"tenant-key\x1f%s\x1f%d" % (tenant_id.bytes, version)


def _case_aad(tenant_id: uuid.UUID, case_id: uuid.UUID, version: int) -> bytes:
    return b"case-key\x1f%s\x1f%s\x1f%d" % (tenant_id.bytes, case_id.bytes, version)
