"""argon2id password hashing (argon2-cffi), parameters from settings.

Production defaults follow RFC 9106 section 4's second recommended option (t=3, 64 MiB,
p=4). Hashes made with other parameters verify and are re-hashed on the next login.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from appliance.errors import InvalidInput

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024


@dataclass(frozen=True)
class Argon2Params:
    time_cost: int
    memory_kib: int
    parallelism: int


class PasswordPolicy:
    """Hashes and verifies staff passwords."""

    def __init__(self, params: Argon2Params) -> None:
        self._hasher = PasswordHasher(
            time_cost=params.time_cost,
            memory_cost=params.memory_kib,
            parallelism=params.parallelism,
            hash_len=32,
            salt_len=16,
            type=Type.ID,
        )

    @cached_property
    def _dummy(self) -> str:
        # Verifying against this keeps unknown-user logins as slow as real ones. Made on
        # first use: CLI commands that never verify a password should not pay for it.
        return self._hasher.hash("appliance-timing-equaliser")

    def hash(self, password: str) -> str:
        check_password_strength(password)
        return self._hasher.hash(password)

    def verify(self, stored_hash: str | None, password: str) -> bool:
        """True when the password matches; constant work whether or not a hash exists."""
        if len(password) > MAX_PASSWORD_LENGTH:
            return False
        try:
            return bool(self._hasher.verify(stored_hash or self._dummy, password)) and bool(stored_hash)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored_hash: str) -> bool:
        return bool(self._hasher.check_needs_rehash(stored_hash))


def check_password_strength(password: str) -> None:
    """Length is what counts (NIST SP 800-63B); no composition rules."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput("password", f"must be at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInput("password", f"must be at most {MAX_PASSWORD_LENGTH} characters")
    if len(set(password)) < 4:
        raise InvalidInput("password", "is too repetitive")
