"""The master key file and what is derived from it.

Hierarchy: master key file (32 random bytes, mode 0400) → per-purpose subkeys by HKDF
(database file key, tenant-key wrapping key, blind-index keys, cookie signing key) →
per-tenant key-encryption keys (versioned, wrapped, stored in the DB; see
``appliance.keys.keyring``) → one data key per case.

Subkeys whose value must outlive the master key (blind index, installation data key, ...)
are read through ``AppContext.secret`` (``appliance.keys.secrets``); a master key rotation
(``appliance.operations.master_rotation``) carries them over.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from appliance.errors import MasterKeyError

MASTER_KEY_BYTES = 32
_HKDF_SALT = b"appliance/master-key/v1"


_DERIVED_KEPT = 256


class MasterKey:
    """The installation's root secret. Never printed, never logged."""

    __slots__ = ("_derived", "_key")

    def __init__(self, key: bytes) -> None:
        if len(key) != MASTER_KEY_BYTES:
            raise MasterKeyError("(memory)", f"must be {MASTER_KEY_BYTES} bytes")
        self._key = key
        # Subkeys derived so far (a request derives several; each is a pure function of the key).
        self._derived: dict[tuple[str, int], bytes] = {}

    def __repr__(self) -> str:
        return f"MasterKey(id={self.key_id})"

    @classmethod
    def load(cls, path: Path) -> MasterKey:
        """Read the key file, refusing one that others could read."""
        try:
            info = path.stat()
        except FileNotFoundError:
            raise MasterKeyError(str(path), "file not found; run `appliance init`") from None
        except PermissionError:
            raise MasterKeyError(str(path), "permission denied; run as the appliance's user") from None
        if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise MasterKeyError(
                str(path), f"mode {stat.S_IMODE(info.st_mode):04o} lets others read it; chmod 0400"
            )
        try:
            data = path.read_bytes()
        except PermissionError:
            raise MasterKeyError(str(path), "permission denied; run as the appliance's user") from None
        if len(data) != MASTER_KEY_BYTES:
            raise MasterKeyError(str(path), f"must hold exactly {MASTER_KEY_BYTES} bytes")
        return cls(data)

    @staticmethod
    def create(path: Path) -> MasterKey:
        """Write a new random key file with mode 0400; never overwrites."""
        key = secrets.token_bytes(MASTER_KEY_BYTES)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
        except FileExistsError:
            raise MasterKeyError(str(path), "already exists; refusing to overwrite it") from None
        with os.fdopen(fd, "wb") as handle:
            handle.write(key)
        os.chmod(path, 0o400)
        return MasterKey(key)

    @property
    def key_id(self) -> str:
        """A short public fingerprint, safe to show in status output."""
        return hmac.new(self._key, b"appliance/key-id", hashlib.sha256).hexdigest()[:16]

    def derive(self, purpose: str, length: int = 32) -> bytes:
        """A subkey for one purpose; different purposes give independent keys."""
        found = self._derived.get((purpose, length))
        if found is None:
            found = HKDF(algorithm=hashes.SHA256(), length=length, salt=_HKDF_SALT, info=purpose.encode()
                         ).derive(self._key)
            if len(self._derived) < _DERIVED_KEPT:  # purposes are the code's own names, a few dozen
                self._derived[(purpose, length)] = found
        return found


def sqlcipher_key(master: MasterKey) -> bytes:
    """The embedded database's file key. Not preserved: a master key rotation rekeys the file."""
    return master.derive("sqlcipher-database/v1")


def install_key_file(target: Path, key: MasterKey, keep_old_as: Path | None = None) -> None:
    """Put ``key`` at ``target`` in one step: written to a temporary file (mode 0400) in the same
    directory, flushed to disk, then renamed over the old file, so the path always holds either
    the old key or the new one. With ``keep_old_as`` the old file is first linked there."""
    directory = target.parent
    temporary = directory / f".{target.name}.new-{secrets.token_hex(4)}"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(key._key)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o400)
        if keep_old_as is not None and target.exists() and not keep_old_as.exists():
            os.link(target, keep_old_as)
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    directory_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(directory_fd)  # the rename itself must reach the disk before we report success
    finally:
        os.close(directory_fd)
