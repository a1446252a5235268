"""Streaming attachment encryption in fixed-size chunks.

Each chunk is sealed on its own (fresh nonce) with AAD = attachment id, chunk index and a
"final" flag, so chunks cannot be reordered, moved to another attachment, dropped from the
middle (index gap) or from the end (the new last chunk was not sealed as final).
Neither direction ever holds more than one chunk of plaintext.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable, Iterator
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from appliance.errors import DecryptionFailed, TooLarge

CHUNK_BYTES = 1024 * 1024
NONCE_BYTES = 12


def _aad(attachment_id: uuid.UUID, index: int, final: bool) -> bytes:
    return b"attachment-chunk\x1f%s\x1f%d\x1f%d" % (attachment_id.bytes, index, int(final))


class ChunkSealer:
    """Seals and opens the chunks of one attachment."""

    def __init__(self, key: bytes, attachment_id: uuid.UUID) -> None:
        self._aead = AESGCM(key)
        self._attachment_id = attachment_id

    def seal(self, index: int, data: bytes, final: bool) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, data, _aad(self._attachment_id, index, final))

    def open(self, index: int, blob: bytes, final: bool) -> bytes:
        if len(blob) < NONCE_BYTES + 16:  # AESGCM raises ValueError on a short nonce
            raise DecryptionFailed("attachment chunk")
        try:
            return self._aead.decrypt(
                blob[:NONCE_BYTES], blob[NONCE_BYTES:], _aad(self._attachment_id, index, final)
            )
        except InvalidTag:
            raise DecryptionFailed("attachment chunk") from None


def read_chunks(stream: BinaryIO, chunk_bytes: int = CHUNK_BYTES) -> Iterator[bytes]:
    """Full-size chunks from a stream (the last may be shorter); at least one chunk."""
    pending = b""
    while True:
        data = stream.read(chunk_bytes - len(pending))
        if not data:
            break
        pending += data
        if len(pending) == chunk_bytes:
            yield pending
            pending = b""
    yield pending


def seal_stream(
    sealer: ChunkSealer, chunks: Iterable[bytes], limit_bytes: int
) -> Iterator[tuple[int, bytes, int]]:
    """Yield (index, sealed chunk, plaintext size) with one chunk of look-ahead, so the last
    chunk is sealed as final. Raises TooLarge as soon as the limit is passed."""
    total = 0
    iterator = iter(chunks)
    current = next(iterator, b"")
    index = 0
    while True:
        total += len(current)
        if total > limit_bytes:
            raise TooLarge(limit_bytes)
        following = next(iterator, None)
        yield index, sealer.seal(index, current, final=following is None), len(current)
        if following is None:
            return
        current = following
        index += 1


def open_chunks(
    sealer: ChunkSealer, sealed_chunks: Iterable[tuple[int, bytes]], chunk_count: int
) -> Iterator[bytes]:
    """Decrypt chunks in order, detecting gaps, reordering and truncation."""
    expected = 0
    for index, blob in sealed_chunks:
        if index != expected or index >= chunk_count:
            raise DecryptionFailed("attachment (missing or reordered chunk)")
        yield sealer.open(index, blob, final=index == chunk_count - 1)
        expected += 1
    if expected != chunk_count:
        raise DecryptionFailed("attachment (truncated)")
