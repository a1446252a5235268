"""Key bindings: a MAC that only the master key's holder can make, over the keys the server
relies on (staff users' public keys, escrow keys, the reader lists, each case's key pair).

A database administrator without the master key can change any row, but cannot make a tag
that verifies: a planted public key, a swapped case key pair or an edited reader list is refused.
The tag alone does not stop IT, who hold the master key; that is what the owners' signatures
and the reader lists' confirmations are for (``appliance.readers``).

The key is the preserved secret ``key-binding/v1``, so a master key rotation keeps every
stored tag valid.
"""

from __future__ import annotations

import hashlib
import hmac
import struct

TAG_BYTES = 32


class KeyBinding:
    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        self._key = key

    def __repr__(self) -> str:
        return "KeyBinding(...)"

    def tag(self, kind: str, *parts: bytes) -> bytes:
        """The tag over ``parts`` for one kind of binding (each part length-prefixed, so no two
        different lists of parts give the same input)."""
        message = kind.encode() + b"".join(struct.pack(">I", len(part)) + part for part in parts)
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def check(self, tag: bytes | None, kind: str, *parts: bytes) -> bool:
        return tag is not None and hmac.compare_digest(bytes(tag), self.tag(kind, *parts))
