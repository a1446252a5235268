"""The cipher of one case: read and write with its content key, or only add to it.

Someone who holds the case's private key (a handler with access, the reporter) reads and
writes with the content key. Someone who only knows the case's public key can still add a
value (``seal_public``), which then only a key holder can read back.
"""

from __future__ import annotations

from appliance.crypto.fields import FORMAT, PUBLIC_FORMAT, FieldCipher, Place, Sealed, open_public, seal_public
from appliance.errors import DecryptionFailed

CASE_FIELD_VERSION = 1


class CaseCipher:
    __slots__ = ("_fields", "_private_key", "_public_key", "content_key")

    def __init__(self, content_key: bytes | None, private_key: bytes | None = None,
                 public_key: bytes | None = None) -> None:
        self.content_key = content_key
        self._fields = FieldCipher(content_key, CASE_FIELD_VERSION) if content_key else None
        self._private_key = private_key
        self._public_key = public_key

    @property
    def readable(self) -> bool:
        return self._fields is not None

    def seal(self, value: str | bytes, place: Place) -> Sealed:
        if self._fields is not None:
            return self._fields.seal(value, place)
        if self._public_key is None:
            raise DecryptionFailed(f"{place.table}.{place.column}")
        return seal_public(self._public_key, CASE_FIELD_VERSION, value, place)

    def open_bytes(self, sealed: bytes, place: Place) -> bytes:
        fmt = sealed[0] if sealed else 0
        if fmt == FORMAT and self._fields is not None:
            return self._fields.open_bytes(sealed, place)
        if fmt == PUBLIC_FORMAT and self._private_key is not None:
            return open_public(self._private_key, sealed, place)
        raise DecryptionFailed(f"{place.table}.{place.column}")

    def open(self, sealed: bytes, place: Place) -> str:
        return self.open_bytes(sealed, place).decode("utf-8")
