"""Tenant key-encryption keys and case data keys, with every unwrap in the logbook.

What the logbook gets (``key.unwrapped``): one event each time a tenant or installation
key-encryption key (KEK) is unwrapped, and one each time a data key is unwrapped for use
(a legacy content key, a person's key). Two exceptions: the keys of the persons named in one case
are unwrapped together and logged as one event naming the case and the count (``unwrap_many``:
an event per person would put the person's id next to the case's). And a rotation batch
(``appliance.operations.rotation``): it unwraps each KEK it needs once per batch (one event each)
and logs one ``key.rewrapped`` event per table per batch naming how many data keys it
unwrapped and rewrapped, instead of one event per row; those keys are only rewrapped,
never used to open anything.
"""

from __future__ import annotations

import os
import secrets
import struct
import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.orm import Session

from appliance.actors import Actor
from appliance.audit.service import Logbook
from appliance.clock import Clock
from appliance.crypto.fields import FieldCipher
from appliance.crypto.keys import MasterKey
from appliance.crypto.unwraps import UnwrapCounter
from appliance.errors import DecryptionFailed, NotFound
from appliance.keys.models import InstallationKey, TenantKey

_WRAP = struct.Struct(">I")  # key version prefix of a wrapped legacy content key
INSTALLATION_FIELD_VERSION = 1


def installation_cipher(key: bytes) -> FieldCipher:
    """For data that belongs to no tenant (staff accounts span tenants). ``key`` is the
    preserved secret ``installation-data/v1`` (``AppContext.secret``): it must survive a
    master key rotation, since every staff e-mail address and TOTP secret is sealed under it."""
    return FieldCipher(key, INSTALLATION_FIELD_VERSION)


def tenant_wrapper(master: MasterKey) -> AESGCM:
    """The key that wraps tenant KEKs (changes with the master key: rotation rewraps them)."""
    return AESGCM(master.derive("tenant-key-wrap/v1"))


def installation_wrapper(master: MasterKey) -> AESGCM:
    return AESGCM(master.derive("installation-key-wrap/v1"))


def rewrap_tenant_key(row: TenantKey, old: MasterKey, new: MasterKey) -> None:
    """Move a tenant KEK from the old master key's wrapping to the new one's; the KEK itself,
    and so every row under it, stays the same."""
    aad = _tenant_aad(row.tenant_id, row.version)
    row.wrapped_key = _rewrap(tenant_wrapper(old), tenant_wrapper(new), row.wrapped_key, aad, "tenant key")


def rewrap_installation_key(row: InstallationKey, old: MasterKey, new: MasterKey) -> None:
    aad = _installation_aad(row.version)
    row.wrapped_key = _rewrap(installation_wrapper(old), installation_wrapper(new), row.wrapped_key, aad,
                              "installation key")


def opens_installation_key(master: MasterKey, row: InstallationKey) -> bool:
    try:
        _unwrap(installation_wrapper(master), row.wrapped_key, _installation_aad(row.version), "installation key")
    except DecryptionFailed:
        return False
    return True


def _unwrap(wrapper: AESGCM, wrapped: bytes, aad: bytes, what: str) -> bytes:
    try:
        return wrapper.decrypt(wrapped[:12], wrapped[12:], aad)
    except InvalidTag:
        raise DecryptionFailed(what) from None


def _rewrap(old: AESGCM, new: AESGCM, wrapped: bytes, aad: bytes, what: str) -> bytes:
    key = _unwrap(old, wrapped, aad, what)
    nonce = os.urandom(12)
    return nonce + new.encrypt(nonce, key, aad)


def tenant_key_opens(master: MasterKey, tenant_id: uuid.UUID, version: int, wrapped: bytes) -> bool:
    """Whether this master key unwraps a stored tenant key (backup verification: no logbook,
    the scratch database is not the appliance's)."""
    try:
        _unwrap(tenant_wrapper(master), wrapped, _tenant_aad(tenant_id, version), "tenant key")
    except DecryptionFailed:
        return False
    return True


class TenantKeyring:
    """Creates and unwraps tenant keys; wraps and unwraps per-case data keys."""

    def __init__(self, session: Session, master: MasterKey, logbook: Logbook, clock: Clock,
                 unwraps: UnwrapCounter | None = None) -> None:
        self._session = session
        self._wrapper = tenant_wrapper(master)
        self._logbook = logbook
        self._clock = clock
        self.unwraps = unwraps if unwraps is not None else UnwrapCounter()

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
        key = _unwrap(self._wrapper, row.wrapped_key, _tenant_aad(tenant_id, version), "tenant key")
        self._logbook.record("key.unwrapped", actor, tenant_id=tenant_id,
                             object_type="tenant_key", object_id=f"{tenant_id}/v{version}")
        self.unwraps.add("tenant_key")
        return AESGCM(key)

    def wrap_legacy_content_key(self, tenant_id: uuid.UUID, case_id: uuid.UUID, data_key: bytes,
                                actor: Actor) -> tuple[bytes, int]:
        """A case's content key wrapped under the current tenant key, as cases were stored before
        sealed case key pairs (kept so old cases can be made, e.g. by migration tests)."""
        row = self._current_key(tenant_id)
        kek = self._unwrap_tenant_key(row, actor)
        return seal_legacy_content_key(kek, row.version, tenant_id, case_id, data_key), row.version

    def legacy_content_key(self, tenant_id: uuid.UUID, case_id: uuid.UUID, wrapped: bytes, actor: Actor) -> bytes:
        """Unwrap a legacy case's content key (logged as a ``content_key`` unwrap)."""
        (version,) = _WRAP.unpack_from(wrapped)
        key = open_legacy_content_key(self.tenant_kek(tenant_id, version, actor), tenant_id, case_id, wrapped)
        self._logbook.record("key.unwrapped", actor, tenant_id=tenant_id,
                             object_type="content_key", object_id=case_id)
        self.unwraps.add("content_key")
        return key


def legacy_content_key_version(wrapped: bytes) -> int:
    """The tenant key version a legacy wrapped content key names in its prefix."""
    return int(_WRAP.unpack_from(wrapped)[0])


def open_legacy_content_key(kek: AESGCM, tenant_id: uuid.UUID, case_id: uuid.UUID, wrapped: bytes) -> bytes:
    """A legacy content key, unwrapped with the already unwrapped tenant KEK its prefix names
    (callers log; ``TenantKeyring.legacy_content_key`` and rotation batches do)."""
    version = legacy_content_key_version(wrapped)
    body = wrapped[_WRAP.size:]
    try:
        return kek.decrypt(body[:12], body[12:], _case_aad(tenant_id, case_id, version))
    except InvalidTag:
        raise DecryptionFailed("legacy content key") from None


def seal_legacy_content_key(kek: AESGCM, version: int, tenant_id: uuid.UUID, case_id: uuid.UUID,
                            data_key: bytes) -> bytes:
    """A legacy content key wrapped under tenant KEK ``version`` (rotation moves them)."""
    nonce = os.urandom(12)
    return _WRAP.pack(version) + nonce + kek.encrypt(nonce, data_key, _case_aad(tenant_id, case_id, version))


class DataKeys:
    """Data keys of non-case records (persons, later insider lists), wrapped under the
    current key-encryption key of their tenant, or of the installation when ``tenant_id`` is
    None (staff persons span tenants). Each wrap records its version; reads use that version,
    so a rotation can move rows one batch at a time while the appliance keeps serving."""

    def __init__(self, session: Session, master: MasterKey, keyring: TenantKeyring, logbook: Logbook,
                 clock: Clock) -> None:
        self._session = session
        self._wrapper = installation_wrapper(master)
        self._keyring = keyring
        self._logbook = logbook
        self._clock = clock
        # KEKs this unit of work unwrapped (one logged unwrap each, not one per person shown:
        # a page listing fifty colleagues would otherwise log fifty unwraps of the same key).
        self._keks: dict[tuple[uuid.UUID | None, int], AESGCM] = {}

    @property
    def keyring(self) -> TenantKeyring:
        return self._keyring

    @property
    def unwraps(self) -> UnwrapCounter:
        return self._keyring.unwraps

    def current_version(self, tenant_id: uuid.UUID | None) -> int:
        if tenant_id is not None:
            return self._keyring.current_version(tenant_id)
        return self._current_installation_key().version

    def wrap(self, tenant_id: uuid.UUID | None, owner: str, data_key: bytes, actor: Actor,
             version: int | None = None) -> tuple[bytes, int]:
        """``data_key`` wrapped for ``owner`` (e.g. ``person/<id>``) under the current (or the
        given) key version; returns the wrapped bytes and the version."""
        version = version if version is not None else self.current_version(tenant_id)
        return seal_data_key(self._held_kek(tenant_id, version, actor), tenant_id, owner, version, data_key), version

    def unwrap(self, tenant_id: uuid.UUID | None, owner: str, version: int, wrapped: bytes, actor: Actor,
               object_type: str, object_id: uuid.UUID | str) -> bytes:
        """Unwrap a data key (logged as a ``key.unwrapped`` of ``object_type``, counted under
        that kind)."""
        key = open_data_key(self._held_kek(tenant_id, version, actor), tenant_id, owner, version, wrapped, object_type)
        self._logbook.record("key.unwrapped", actor, tenant_id=tenant_id, object_type=object_type,
                             object_id=object_id)
        self._keyring.unwraps.add(object_type)
        return key

    def unwrap_many(self, tenant_id: uuid.UUID | None, keys: Sequence[tuple[str, int, bytes]], actor: Actor,
                    object_type: str, object_id: uuid.UUID | str, also_used: int = 0) -> list[bytes]:
        """Unwrap several data keys (``(owner, version, wrapped)`` each) for one use, logged as one
        ``key.unwrapped`` event of ``object_type`` naming ``object_id`` and the count, and counted
        under that kind. For keys whose owners must not appear next to the object they are used
        for: the persons named in a case are unwrapped under the case's id, never their own.
        ``also_used``: keys of the same use that needed no unwrap (made just now); the event counts
        them too, so it does not tell a key just made from one that existed."""
        opened = [open_data_key(self._held_kek(tenant_id, version, actor), tenant_id, owner, version, wrapped,
                                object_type) for owner, version, wrapped in keys]
        if opened or also_used:
            self._logbook.record("key.unwrapped", actor, tenant_id=tenant_id, object_type=object_type,
                                 object_id=object_id, detail=f"keys={len(opened) + also_used}")
            self._keyring.unwraps.add(object_type, len(opened))
        return opened

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

    def _held_kek(self, tenant_id: uuid.UUID | None, version: int, actor: Actor) -> AESGCM:
        kek = self._keks.get((tenant_id, version))
        if kek is None:
            kek = self._keks[(tenant_id, version)] = self.kek(tenant_id, version, actor)
        return kek

    def kek(self, tenant_id: uuid.UUID | None, version: int, actor: Actor) -> AESGCM:
        """The tenant's (or, for None, the installation's) KEK of ``version``; every call is an
        unwrap, logged and counted."""
        if tenant_id is not None:
            return self._keyring.tenant_kek(tenant_id, version, actor)
        row = self._session.get(InstallationKey, version)
        if row is None:
            raise NotFound("installation key", str(version))
        key = _unwrap(self._wrapper, row.wrapped_key, _installation_aad(version), "installation key")
        self._logbook.record("key.unwrapped", actor, object_type="installation_key", object_id=f"v{version}")
        self._keyring.unwraps.add("installation_key")
        return AESGCM(key)


def seal_data_key(kek: AESGCM, tenant_id: uuid.UUID | None, owner: str, version: int, data_key: bytes) -> bytes:
    """``data_key`` wrapped for ``owner`` under an unwrapped KEK of ``version``."""
    nonce = os.urandom(12)
    return nonce + kek.encrypt(nonce, data_key, _data_aad(tenant_id, owner, version))


def open_data_key(kek: AESGCM, tenant_id: uuid.UUID | None, owner: str, version: int, wrapped: bytes,
                  what: str) -> bytes:
    """The data key in ``wrapped`` (callers log the unwrap)."""
    try:
        return kek.decrypt(wrapped[:12], wrapped[12:], _data_aad(tenant_id, owner, version))
    except InvalidTag:
        raise DecryptionFailed(what) from None


def _installation_aad(version: int) -> bytes:
    return b"installation-key\x1f%d" % version


def _data_aad(tenant_id: uuid.UUID | None, owner: str, version: int) -> bytes:
    scope = tenant_id.bytes if tenant_id else b"installation"
    return b"data-key\x1f%s\x1f%s\x1f%d" % (scope, owner.encode(), version)


def _tenant_aad(tenant_id: uuid.UUID, version: int) -> bytes:
    return b"tenant-key\x1f%s\x1f%d" % (tenant_id.bytes, version)


def _case_aad(tenant_id: uuid.UUID, case_id: uuid.UUID, version: int) -> bytes:
    return b"case-key\x1f%s\x1f%s\x1f%d" % (tenant_id.bytes, case_id.bytes, version)
