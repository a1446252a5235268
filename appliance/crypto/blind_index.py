"""Keyed HMAC blind indexes: equality look-ups without storing the value."""

from __future__ import annotations

import hashlib
import hmac
import re
import uuid


class BlindIndex:
    """HMAC-SHA256 under one key, separated per purpose.

    The key is the preserved secret ``blind-index/v1`` (``AppContext.secret``), never simply
    the master key's derivation: reporters' case keys exist only as HMACs under it, so it
    must stay the same across master key rotations."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("the blind index key must be 32 bytes")
        self._key = key

    def compute(self, purpose: str, value: str, tenant_id: uuid.UUID | None = None) -> bytes:
        scope = tenant_id.hex if tenant_id else "-"
        message = f"{purpose}\x1f{scope}\x1f{value}".encode()
        return hmac.new(self._key, message, hashlib.sha256).digest()


# An address as staff accounts and the person chain accept it (one pattern for both: the
# same address must be recordable in either).
EMAIL_ADDRESS = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,252}\.[^@\s]{2,}$")


def normalise_email(email: str) -> str:
    return email.strip().lower()
