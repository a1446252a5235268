"""Staff passwords: one argon2id run gives both the login verifier and the key that
unlocks the user's private key.

Production defaults follow RFC 9106 section 4's second recommended option (t=3, 64 MiB,
p=4). A sign-in costs exactly one argon2id computation: its 32-byte output is split by
HKDF into a verifier (stored) and a key-wrapping key (never stored), the way password
managers separate their authentication and encryption keys. Knowing the verifier helps
no more than knowing an ordinary argon2id hash: the only way to the wrapping key is
through argon2id with the password.

Stored form: ``$appliance-argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<verifier>``
(base64 without padding). Hashes in argon2-cffi's PHC form from before sealed case key pairs
still verify; they carry no key, and the sign-in upgrades them.
"""

from __future__ import annotations

import base64
import hmac
import os
import re
from dataclasses import dataclass
from functools import cached_property

from argon2 import PasswordHasher, Type
from argon2.exceptions import HashingError, InvalidHashError, VerificationError, VerifyMismatchError
from argon2.low_level import hash_secret_raw
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from appliance.errors import InvalidInput

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024
SCHEME = "$appliance-argon2id$v=19$"
_STORED = re.compile(r"^\$appliance-argon2id\$v=19\$m=(\d{1,8}),t=(\d{1,4}),p=(\d{1,3})"
                     r"\$([A-Za-z0-9+/]{22})\$([A-Za-z0-9+/]{43})$")
_SALT_BYTES = 16


@dataclass(frozen=True)
class Argon2Params:
    time_cost: int
    memory_kib: int
    parallelism: int


@dataclass(frozen=True)
class PasswordSecret:
    """What a password gives: the stored verifier string and the wrapping key (kept in memory)."""

    stored: str
    key: bytes


@dataclass(frozen=True)
class Verified:
    """A matching password. ``key`` is None for a pre-upgrade hash, which carries no key."""

    key: bytes | None
    needs_rehash: bool


def argon2id(password: str, salt: bytes, params: Argon2Params) -> bytes:
    return hash_secret_raw(password.encode("utf-8"), salt, time_cost=params.time_cost,
                           memory_cost=params.memory_kib, parallelism=params.parallelism,
                           hash_len=32, type=Type.ID)


def split_output(raw: bytes) -> tuple[bytes, bytes]:
    """(verifier, wrapping key) from one argon2id output; independent by construction."""
    def expand(purpose: bytes) -> bytes:
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(raw)
    return expand(b"appliance/password-verifier/v1"), expand(b"appliance/private-key-wrap/v1")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


class PasswordPolicy:
    """Derives, verifies and upgrades staff password secrets."""

    def __init__(self, params: Argon2Params) -> None:
        self.params = params

    @cached_property
    def _legacy(self) -> PasswordHasher:
        return PasswordHasher(type=Type.ID)

    def derive(self, password: str) -> PasswordSecret:
        """A new salt, the stored verifier and the wrapping key for a (new) password."""
        check_password_strength(password)
        salt = os.urandom(_SALT_BYTES)
        verifier, key = split_output(argon2id(password, salt, self.params))
        p = self.params
        stored = f"{SCHEME}m={p.memory_kib},t={p.time_cost},p={p.parallelism}${_b64(salt)}${_b64(verifier)}"
        return PasswordSecret(stored, key)

    def hash(self, password: str) -> str:
        return self.derive(password).stored

    def verify(self, stored_hash: str | None, password: str) -> Verified | None:
        """The match, or None; the same argon2id work whether or not a hash exists."""
        if len(password) > MAX_PASSWORD_LENGTH:
            return None
        parsed = _STORED.match(stored_hash or "")
        if parsed is None and stored_hash and stored_hash.startswith("$argon2"):
            return self._verify_legacy(stored_hash, password)
        if parsed is None:
            argon2id(password, b"appliance-timing-equaliser", self.params)  # as slow as a real check
            return None
        memory, time_cost, lanes = (int(parsed.group(i)) for i in (1, 2, 3))
        params = Argon2Params(time_cost, memory, lanes)
        try:
            raw = argon2id(password, _unb64(parsed.group(4)), params)
        except HashingError:  # argon2 refuses absurd parameters from a corrupt row
            return None
        verifier, key = split_output(raw)
        if not hmac.compare_digest(verifier, _unb64(parsed.group(5))):
            return None
        return Verified(key, params != self.params)

    def _verify_legacy(self, stored_hash: str, password: str) -> Verified | None:
        try:
            if self._legacy.verify(stored_hash, password):
                return Verified(None, True)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            pass
        return None

    def needs_rehash(self, stored_hash: str) -> bool:
        parsed = _STORED.match(stored_hash)
        if parsed is None:
            return True
        p = self.params
        return (int(parsed.group(1)), int(parsed.group(2)), int(parsed.group(3))) != (
            p.memory_kib, p.time_cost, p.parallelism)


def check_password_strength(password: str) -> None:
    """Length is what counts (NIST SP 800-63B); no composition rules."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput("password", f"must be at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInput("password", f"must be at most {MAX_PASSWORD_LENGTH} characters")
    if len(set(password)) < 4:
        raise InvalidInput("password", "is too repetitive")
