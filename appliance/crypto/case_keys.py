"""The reporter's case key: 80 random bits shown as ``XXXX-XXXX-XXXX-XXXX`` (Crockford base32).

"Case key" means this code only. The case's X25519 pair is the *case key pair* and the
symmetric key its content is encrypted under is the *content key* (appliance/cases/access.py).
A ``CaseKey`` never shows its value in ``repr``/``str`` (and so in logs, tracebacks or an
f-string by mistake): ask for ``.display`` (the grouped form, shown to the reporter once) or
``.normalised`` (what the blind index and the reporter's private key are derived from).
"""

from __future__ import annotations

import secrets

from appliance.errors import InvalidInput

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_DECODE_ALIASES = str.maketrans({"O": "0", "I": "1", "L": "1"})
KEY_CHARS = 16  # 16 × 5 bits = 80 bits
MAX_TYPED = 64  # longer input is refused before any normalising work


class CaseKey:
    """A well-formed case key (not necessarily one that opens a case)."""

    __slots__ = ("_normalised",)
    _normalised: str

    def __init__(self, normalised: str) -> None:
        if len(normalised) != KEY_CHARS or any(ch not in CROCKFORD for ch in normalised):
            raise InvalidInput("case_key", "is not a case key")
        object.__setattr__(self, "_normalised", normalised)

    @classmethod
    def new(cls) -> CaseKey:
        value = secrets.randbits(KEY_CHARS * 5)
        return cls("".join(CROCKFORD[(value >> (5 * i)) & 31] for i in reversed(range(KEY_CHARS))))

    @classmethod
    def parse(cls, typed: str) -> CaseKey:
        """Forgiving case, dashes, spaces and O/I/L; InvalidInput for anything else (the
        message never repeats what was typed)."""
        if len(typed) > MAX_TYPED:
            raise InvalidInput("case_key", "is not a case key")
        return cls("".join(typed.split()).replace("-", "").upper().translate(_DECODE_ALIASES))

    @property
    def normalised(self) -> str:
        """16 characters, no dashes: what is hashed and derived from."""
        return self._normalised

    @property
    def display(self) -> str:
        """Groups of four joined by dashes: what the reporter is shown once."""
        return format_case_key(self._normalised)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("a CaseKey is immutable")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CaseKey):
            return NotImplemented
        return secrets.compare_digest(self._normalised, other._normalised)

    def __hash__(self) -> int:
        return hash(self._normalised)

    def __repr__(self) -> str:
        return "CaseKey(<hidden>)"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("a CaseKey is not pickled")  # it would leave the process in the clear


def format_case_key(chars: str) -> str:
    return "-".join(chars[i:i + 4] for i in range(0, KEY_CHARS, 4))
