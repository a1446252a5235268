"""The code a person types (or follows in a mail) to confirm a notice: 100 random bits as
``XXXX-XXXX-XXXX-XXXX-XXXX`` (Crockford base32). It is never stored: only its keyed hash."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_ALIASES = str.maketrans({"O": "0", "I": "1", "L": "1"})
CODE_CHARS = 20  # 20 x 5 bits = 100 bits
MAX_TYPED = 64  # longer input is refused before any work


def new_code() -> str:
    """A fresh code in its grouped form (what the mail shows)."""
    value = secrets.randbits(CODE_CHARS * 5)
    chars = "".join(CROCKFORD[(value >> (5 * i)) & 31] for i in reversed(range(CODE_CHARS)))
    return "-".join(chars[i:i + 4] for i in range(0, CODE_CHARS, 4))


def normalise_code(typed: str) -> str | None:
    """The 20 characters a typed code stands for (case, dashes, spaces and O/I/L forgiven), or
    None when it cannot be a code."""
    if len(typed) > MAX_TYPED:
        return None
    value = "".join(typed.split()).replace("-", "").upper().translate(_ALIASES)
    if len(value) != CODE_CHARS or any(ch not in CROCKFORD for ch in value):
        return None
    return value


def code_digest(key: bytes, tenant_id: uuid.UUID, normalised: str) -> bytes:
    """HMAC-SHA256 under the preserved secret, bound to the tenant: another tenant's code never
    matches, whatever its rows say."""
    return hmac.new(key, tenant_id.bytes + b"\x1f" + normalised.encode("ascii"), hashlib.sha256).digest()
