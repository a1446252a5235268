"""Encrypted columns: AES-256-GCM envelopes bound to table, column and row id.

A column of type :class:`EncryptedBytes` only accepts :class:`Sealed` values, so plaintext
can never be written to it by mistake. Sealing and opening are explicit calls on a
:class:`FieldCipher`, made by services that hold the right key; the AAD binds each value
to its place, so a ciphertext copied to another row or column fails to decrypt.

Envelope: format byte 0x01 | key version (4 bytes, big-endian) | nonce (12) | ciphertext+tag.
"""

from __future__ import annotations

import os
import struct
import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from appliance.db import Blob
from appliance.errors import DecryptionFailed

FORMAT = 1
NONCE_BYTES = 12
_HEADER = struct.Struct(">BI")
HEADER_BYTES = _HEADER.size + NONCE_BYTES


class Sealed(bytes):
    """Ciphertext in envelope form; the only thing an encrypted column stores."""

    @property
    def key_version(self) -> int:
        return int(_HEADER.unpack_from(self)[1])


@dataclass(frozen=True)
class Place:
    """Where a value lives: the AAD that binds a ciphertext to its row."""

    table: str
    column: str
    row_id: uuid.UUID | str

    def aad(self, key_version: int) -> bytes:
        return f"{self.table}\x1f{self.column}\x1f{self.row_id}\x1f{key_version}".encode()


class FieldCipher:
    """Seals and opens values under one key of a known version."""

    __slots__ = ("_aead", "version")

    def __init__(self, key: bytes, version: int) -> None:
        if len(key) != 32:
            raise ValueError("AES-256 needs a 32-byte key")
        self._aead = AESGCM(key)
        self.version = version

    def seal(self, value: str | bytes, place: Place) -> Sealed:
        data = value.encode("utf-8") if isinstance(value, str) else value
        nonce = os.urandom(NONCE_BYTES)
        header = _HEADER.pack(FORMAT, self.version) + nonce
        return Sealed(header + self._aead.encrypt(nonce, data, place.aad(self.version)))

    def open_bytes(self, sealed: bytes, place: Place) -> bytes:
        if len(sealed) < HEADER_BYTES + 16:
            raise DecryptionFailed(f"{place.table}.{place.column}")
        fmt, version = _HEADER.unpack_from(sealed)
        if fmt != FORMAT or version != self.version:
            raise DecryptionFailed(f"{place.table}.{place.column}")
        nonce = sealed[_HEADER.size:HEADER_BYTES]
        try:
            return self._aead.decrypt(nonce, sealed[HEADER_BYTES:], place.aad(version))
        except InvalidTag:
            raise DecryptionFailed(f"{place.table}.{place.column}") from None

    def open(self, sealed: bytes, place: Place) -> str:
        return self.open_bytes(sealed, place).decode("utf-8")


class EncryptedBytes(sa.TypeDecorator[Sealed]):
    """VARBINARY(MAX)/BYTEA/BLOB column that refuses anything but a Sealed envelope."""

    impl = Blob
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> bytes | None:
        if value is None:
            return None
        if not isinstance(value, Sealed):
            raise TypeError("encrypted column given plaintext; seal it with a FieldCipher first")
        if len(value) < HEADER_BYTES or value[0] != FORMAT:
            raise ValueError("malformed envelope for an encrypted column")
        return bytes(value)

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> Sealed | None:
        return None if value is None else Sealed(bytes(value))
