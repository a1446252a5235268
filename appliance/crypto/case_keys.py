"""Reporter case keys: 80 random bits shown as ``XXXX-XXXX-XXXX-XXXX`` (Crockford base32)."""

from __future__ import annotations

import secrets

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_DECODE_ALIASES = str.maketrans({"O": "0", "I": "1", "L": "1"})
KEY_CHARS = 16  # 16 × 5 bits = 80 bits


def new_case_key() -> str:
    value = secrets.randbits(KEY_CHARS * 5)
    chars = "".join(CROCKFORD[(value >> (5 * i)) & 31] for i in reversed(range(KEY_CHARS)))
    return format_case_key(chars)


def format_case_key(chars: str) -> str:
    return "-".join(chars[i:i + 4] for i in range(0, KEY_CHARS, 4))


def normalise_case_key(text: str) -> str | None:
    """Canonical 16-character form, forgiving case, dashes, spaces and O/I/L; None if invalid."""
    cleaned = "".join(text.split()).replace("-", "").upper().translate(_DECODE_ALIASES)
    if len(cleaned) != KEY_CHARS or any(ch not in CROCKFORD for ch in cleaned):
        return None
    return cleaned
