"""Encrypted columns: AES-256-GCM envelopes bound to table, column and row id.

A column of type :class:`EncryptedBytes` only accepts :class:`Sealed` values, so plaintext
can never be written to it by mistake. Sealing and opening are explicit calls on a
:class:`FieldCipher`, made by services that hold the right key; the AAD binds each value
to its place, so a ciphertext copied to another row or column fails to decrypt.

Envelope: format byte 0x01 | key version (4 bytes, big-endian) | nonce (12) | ciphertext+tag.
Public envelope (content added by someone who cannot read the rest, e.g. a reporter whose
access is not complete yet): 0x02 | key version (4) | an X25519 sealed box to the case's
public key (``appliance.crypto.sealing``) with the place as its context.
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

from appliance.crypto.sealing import open_sealed, seal_to
from appliance.db import Blob
from appliance.errors import DecryptionFailed

FORMAT = 1
PUBLIC_FORMAT = 2
FORMATS = (FORMAT, PUBLIC_FORMAT)
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


def seal_public(public_key: bytes, version: int, value: str | bytes, place: Place) -> Sealed:
    """A value only the holder of the matching private key can open (the writer cannot)."""
    data = value.encode("utf-8") if isinstance(value, str) else value
    return Sealed(_HEADER.pack(PUBLIC_FORMAT, version) + seal_to(public_key, data, place.aad(version)))


def open_public(private_key: bytes, sealed: bytes, place: Place) -> bytes:
    if len(sealed) < _HEADER.size:
        raise DecryptionFailed(f"{place.table}.{place.column}")
    fmt, version = _HEADER.unpack_from(sealed)
    if fmt != PUBLIC_FORMAT:
        raise DecryptionFailed(f"{place.table}.{place.column}")
    try:
        return open_sealed(private_key, sealed[_HEADER.size:], place.aad(version))
    except DecryptionFailed:
        raise DecryptionFailed(f"{place.table}.{place.column}") from None


class EncryptedBytes(sa.TypeDecorator[Sealed]):
    """VARBINARY(MAX)/BYTEA/BLOB column that refuses anything but a Sealed envelope."""

    impl = Blob
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> bytes | None:
        if value is None:
            return None
        if not isinstance(value, Sealed):
            raise TypeError("encrypted column given plaintext; seal it with a FieldCipher first")
        if len(value) < HEADER_BYTES or value[0] not in FORMATS:
            raise ValueError("malformed envelope for an encrypted column")
        return bytes(value)

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> Sealed | None:
        return None if value is None else Sealed(bytes(value))
