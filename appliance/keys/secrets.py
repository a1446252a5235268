"""Secrets that must outlive the master key they were first derived from.

Some values derived from the master key are stored or recomputed and compared later: the
blind-index key (reporters' case keys exist only as HMACs under it, so it can never change),
the installation data key (staff e-mail addresses and TOTP secrets are sealed under it), the
logbook checkpoint signing key, the person key vault's file key and share-wrapping key (its
copies beside the backups are sealed under it) and the backup repositories' passwords. Before the first
master key rotation each is simply ``master.derive(purpose)``. A rotation stores the current
value of each in ``preserved_secrets``, wrapped under the new master key; from then on that
row is the value. A leaked *old* master key therefore still derives these particular values;
what a rotation takes away from it is every key-encryption key, the SQLCipher file key and
the cookie-signing key (see README, "Key management").

``preserved_secrets`` also holds one row that is no secret at all: ``master-key-check``
records which master key the database is wrapped for, so that a wrong key file is one clear
line at start-up instead of decryption errors later.
"""

from __future__ import annotations

import os
import threading
from typing import Protocol

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from appliance.clock import Clock
from appliance.crypto.keys import MasterKey
from appliance.errors import DecryptionFailed, MasterKeyError
from appliance.keys.keyring import opens_installation_key, tenant_key_opens
from appliance.keys.models import InstallationKey, PreservedSecret, TenantKey

BLIND_INDEX = "blind-index/v1"
INSTALLATION_DATA = "installation-data/v1"
AUDIT_CHECKPOINT = "audit-checkpoint/v1"
VAULT_FILE = "sqlcipher-vault/v1"
VAULT_SHARE_WRAP = "vault-share-wrap/v1"
KEY_BINDING = "key-binding/v1"
# API tokens are stored as HMACs under it: a token made before a master key rotation must still work after it.
API_TOKEN = "api-token/v1"  # noqa: S105 (a purpose name, not a secret)
# Insider-list versions are chained by MACs under it (appliance/insiders/chain.py): they must still
# verify after a master key rotation.
INSIDER_CHAIN = "insider-chain/v1"
# Acknowledgement codes are stored as HMACs under it (a code mailed before a rotation must still work).
ACKNOWLEDGEMENT_CODE = "acknowledgement-code/v1"
RESTIC_SITE_PREFIX = "restic-site/"
# Every purpose ``secret()`` may be asked for. A value used through it but missing here would
# silently change at the next master key rotation; asking for an unlisted one is a bug.
PRESERVED_PURPOSES = (BLIND_INDEX, INSTALLATION_DATA, AUDIT_CHECKPOINT, VAULT_FILE, VAULT_SHARE_WRAP, KEY_BINDING,
                      API_TOKEN, ACKNOWLEDGEMENT_CODE, INSIDER_CHAIN)
MASTER_KEY_CHECK = "master-key-check"
_WRAP_PURPOSE = "preserved-secret-wrap/v1"


def restic_site_purpose(site: str) -> str:
    return f"{RESTIC_SITE_PREFIX}{site}/v1"


def is_preservable(purpose: str) -> bool:
    return purpose in PRESERVED_PURPOSES or (
        purpose.startswith(RESTIC_SITE_PREFIX) and purpose.endswith("/v1"))


class SecretSource(Protocol):
    """Where services get a long-lived secret by purpose (``AppContext`` is one)."""

    def secret(self, purpose: str) -> bytes: ...


def checkpoint_key(secrets: SecretSource) -> bytes:
    """The key logbook checkpoints are signed with. A preserved secret (not ``master.derive``):
    checkpoints written before a master key rotation must still verify after it."""
    return secrets.secret(AUDIT_CHECKPOINT)


def wrap_secret(master: MasterKey, purpose: str, value: bytes) -> bytes:
    nonce = os.urandom(12)
    return nonce + AESGCM(master.derive(_WRAP_PURPOSE)).encrypt(nonce, value, _aad(purpose, master.key_id))


def unwrap_secret(master: MasterKey, row: PreservedSecret) -> bytes:
    if row.master_key_id != master.key_id:
        raise wrong_master_key(master, row.master_key_id)
    try:
        return AESGCM(master.derive(_WRAP_PURPOSE)).decrypt(row.wrapped[:12], row.wrapped[12:],
                                                            _aad(row.purpose, row.master_key_id))
    except InvalidTag:
        raise DecryptionFailed(f"preserved secret {row.purpose}") from None


def wrong_master_key(master: MasterKey, recorded_id: str, path: str = "file") -> MasterKeyError:
    return MasterKeyError(path, f"the database is wrapped for master key {recorded_id}; this file is "
                                f"{master.key_id} (the wrong file, or an interrupted `appliance keys rotate-master`: "
                                "run it again with the same --new-key-file)")


def _aad(purpose: str, key_id: str) -> bytes:
    return f"preserved-secret\x1f{purpose}\x1f{key_id}".encode()


class PreservedSecrets:
    """``secret(purpose)``: the preserved value when the database holds one, else the master
    key's derivation. ``build_context`` reads the rows once, before any transaction (they change
    only while the appliance is stopped for a master key rotation); reading them later, from
    inside a transaction, would wait on SQLite's write lock. Without an engine (a restore with
    no database) every value is derived."""

    def __init__(self, master: MasterKey, engine: Engine | None) -> None:
        self._master = master
        self._engine = engine
        self._lock = threading.Lock()
        self._values: dict[str, bytes] | None = None if engine is not None else {}

    def load(self, connection: Connection) -> None:
        """Read and unwrap every preserved secret (a wrong master key fails here, in one line)."""
        values = {}
        if _has_table(connection):
            for row in connection.execute(sa.select(PreservedSecret.__table__).where(
                    PreservedSecret.purpose != MASTER_KEY_CHECK)).all():
                stored = PreservedSecret(purpose=row.purpose, wrapped=bytes(row.wrapped),
                                         master_key_id=row.master_key_id)
                values[row.purpose] = unwrap_secret(self._master, stored)
        with self._lock:
            self._values = values

    def secret(self, purpose: str) -> bytes:
        if not is_preservable(purpose):
            raise ValueError(f"{purpose!r} is not a preserved purpose; add it to PRESERVED_PURPOSES")
        with self._lock:
            values = self._values
        if values is None:  # a context built without the start-up check (tests' migrations)
            assert self._engine is not None
            with self._engine.connect() as connection:
                self.load(connection)
            return self.secret(purpose)
        found = values.get(purpose)
        return found if found is not None else self._master.derive(purpose)


def recorded_master_key_id(connection: Connection | Session) -> str | None:
    """The id of the master key the database is wrapped for, if it has been recorded."""
    if isinstance(connection, Connection) and not _has_table(connection):
        return None
    found = connection.execute(sa.select(PreservedSecret.master_key_id).where(
        PreservedSecret.purpose == MASTER_KEY_CHECK)).scalar_one_or_none()
    return str(found) if found is not None else None


def check_master_key(connection: Connection, master: MasterKey, path: str) -> None:
    """Refuse, in one line, a key file that is not the one the database is wrapped for."""
    recorded = recorded_master_key_id(connection)
    if recorded is not None and recorded != master.key_id:
        raise wrong_master_key(master, recorded, path)


def record_master_key(session: Session, master: MasterKey, clock: Clock) -> bool:
    """Record ``master`` as the key the database is wrapped for, unless something is recorded
    already. Never records a key that fails to open an existing tenant or installation key:
    that would bless a wrong key file. Returns whether a row was written."""
    if recorded_master_key_id(session) is not None:
        return False
    if not _opens_existing_keys(session, master):
        return False
    set_master_key_check(session, master, clock)
    return True


def set_master_key_check(session: Session, master: MasterKey, clock: Clock) -> None:
    row = session.get(PreservedSecret, MASTER_KEY_CHECK)
    wrapped = wrap_secret(master, MASTER_KEY_CHECK, b"")
    if row is None:
        session.add(PreservedSecret(purpose=MASTER_KEY_CHECK, wrapped=wrapped, master_key_id=master.key_id,
                                    created_at=clock()))
    else:
        row.wrapped, row.master_key_id, row.created_at = wrapped, master.key_id, clock()
    session.flush()


def _opens_existing_keys(session: Session, master: MasterKey) -> bool:
    tenant_key = session.execute(sa.select(TenantKey).limit(1)).scalar_one_or_none()
    if tenant_key is not None and not tenant_key_opens(master, tenant_key.tenant_id, tenant_key.version, tenant_key.wrapped_key):
        return False
    installation_key = session.execute(sa.select(InstallationKey).limit(1)).scalar_one_or_none()
    return installation_key is None or opens_installation_key(master, installation_key)


def _has_table(connection: Connection) -> bool:
    # Before migration 0004 (``db upgrade`` of an older install) there is no such table yet.
    return sa.inspect(connection).has_table(PreservedSecret.__tablename__)
