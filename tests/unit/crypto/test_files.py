"""Streaming attachment encryption: chunks cannot be dropped, reordered or moved."""

from __future__ import annotations

import io
import secrets
import uuid
from collections.abc import Iterator

import pytest

from appliance.crypto.files import ChunkSealer, open_chunks, read_chunks, seal_stream
from appliance.errors import DecryptionFailed, TooLarge

CHUNK = 16
NO_LIMIT = 1 << 40


@pytest.fixture
def key() -> bytes:
    return secrets.token_bytes(32)


@pytest.fixture
def attachment_id() -> uuid.UUID:
    return uuid.uuid4()


@pytest.fixture
def sealer(key: bytes, attachment_id: uuid.UUID) -> ChunkSealer:
    return ChunkSealer(key, attachment_id)


def seal_all(sealer: ChunkSealer, data: bytes, chunk_bytes: int = CHUNK) -> list[tuple[int, bytes]]:
    return [(index, blob) for index, blob, _size in
            seal_stream(sealer, read_chunks(io.BytesIO(data), chunk_bytes=chunk_bytes), NO_LIMIT)]


def open_all(sealer: ChunkSealer, sealed: list[tuple[int, bytes]], chunk_count: int | None = None) -> bytes:
    count = len(sealed) if chunk_count is None else chunk_count
    return b"".join(open_chunks(sealer, sealed, count))


class TrickleStream(io.RawIOBase):
    """A stream that hands out at most a few bytes per read, like a slow socket."""

    def __init__(self, data: bytes, per_read: int) -> None:
        self._data = data
        self._per_read = per_read

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        take = self._per_read if size < 0 else min(size, self._per_read)
        out, self._data = self._data[:take], self._data[take:]
        return out


# read_chunks -----------------------------------------------------------------------------

def test_read_chunks_gives_full_chunks_and_a_short_last_one() -> None:
    data = bytes(range(40))
    chunks = list(read_chunks(io.BytesIO(data), chunk_bytes=CHUNK))
    assert [len(c) for c in chunks] == [16, 16, 8]
    assert b"".join(chunks) == data


def test_read_chunks_of_an_empty_stream_is_one_empty_chunk() -> None:
    assert list(read_chunks(io.BytesIO(b""), chunk_bytes=CHUNK)) == [b""]


def test_read_chunks_fills_chunks_from_short_reads() -> None:
    data = secrets.token_bytes(50)
    chunks = list(read_chunks(TrickleStream(data, per_read=3), chunk_bytes=CHUNK))  # type: ignore[arg-type]
    assert all(len(c) == CHUNK for c in chunks[:-1])
    assert b"".join(chunks) == data


# round trips -----------------------------------------------------------------------------

@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 5 * CHUNK, 5 * CHUNK + 7])
def test_round_trip(sealer: ChunkSealer, size: int) -> None:
    data = secrets.token_bytes(size)
    sealed = seal_all(sealer, data)
    assert open_all(sealer, sealed) == data


def test_sizes_reported_per_chunk_add_up(sealer: ChunkSealer) -> None:
    data = secrets.token_bytes(3 * CHUNK + 5)
    results = list(seal_stream(sealer, read_chunks(io.BytesIO(data), chunk_bytes=CHUNK), NO_LIMIT))
    assert [index for index, _blob, _size in results] == list(range(len(results)))
    assert sum(size for _index, _blob, size in results) == len(data)


def test_empty_stream_is_one_sealed_chunk(sealer: ChunkSealer) -> None:
    sealed = seal_all(sealer, b"")
    assert len(sealed) == 1
    assert open_all(sealer, sealed) == b""


def test_sealed_chunks_hold_no_plaintext(sealer: ChunkSealer) -> None:
    marker = b"EVIDENCE-MARKER!"  # exactly one chunk
    sealed = seal_all(sealer, marker * 4)
    assert all(marker not in blob for _index, blob in sealed)


# attacks ---------------------------------------------------------------------------------

@pytest.fixture
def sealed(sealer: ChunkSealer) -> list[tuple[int, bytes]]:
    chunks = seal_all(sealer, secrets.token_bytes(4 * CHUNK + 3))
    assert len(chunks) == 5
    return chunks


def test_attack_truncation_with_count_unchanged(sealer: ChunkSealer, sealed: list[tuple[int, bytes]]) -> None:
    with pytest.raises(DecryptionFailed):
        open_all(sealer, sealed[:-1], chunk_count=len(sealed))


def test_attack_truncation_with_count_lowered(sealer: ChunkSealer, sealed: list[tuple[int, bytes]]) -> None:
    """Whoever can drop a chunk row can also edit chunk_count; the final flag still tells."""
    with pytest.raises(DecryptionFailed):
        open_all(sealer, sealed[:-1])


def test_attack_dropping_a_middle_chunk(sealer: ChunkSealer, sealed: list[tuple[int, bytes]]) -> None:
    with pytest.raises(DecryptionFailed):
        open_all(sealer, sealed[:2] + sealed[3:], chunk_count=len(sealed))


def test_attack_dropping_a_middle_chunk_and_renumbering(
    sealer: ChunkSealer, sealed: list[tuple[int, bytes]]
) -> None:
    remaining = [blob for _index, blob in sealed[:2] + sealed[3:]]
    with pytest.raises(DecryptionFailed):
        open_all(sealer, list(enumerate(remaining)))


def test_attack_swapping_two_chunks(sealer: ChunkSealer, sealed: list[tuple[int, bytes]]) -> None:
    swapped = list(sealed)
    swapped[1], swapped[2] = swapped[2], swapped[1]
    with pytest.raises(DecryptionFailed):
        open_all(sealer, swapped)


def test_attack_swapping_two_chunk_payloads_keeping_indexes(
    sealer: ChunkSealer, sealed: list[tuple[int, bytes]]
) -> None:
    swapped = list(sealed)
    swapped[1], swapped[2] = (1, sealed[2][1]), (2, sealed[1][1])
    with pytest.raises(DecryptionFailed):
        open_all(sealer, swapped)


def test_attack_appending_a_chunk(sealer: ChunkSealer, sealed: list[tuple[int, bytes]]) -> None:
    extra = (len(sealed), sealer.seal(len(sealed), b"planted", final=True))
    with pytest.raises(DecryptionFailed):
        open_all(sealer, [*sealed, extra], chunk_count=len(sealed))
    with pytest.raises(DecryptionFailed):
        open_all(sealer, [*sealed, extra])  # the old last chunk was sealed as final


def test_attack_chunks_moved_to_another_attachment(key: bytes, sealed: list[tuple[int, bytes]]) -> None:
    other = ChunkSealer(key, uuid.uuid4())
    with pytest.raises(DecryptionFailed):
        open_all(other, sealed)


def test_attack_one_chunk_borrowed_from_another_attachment(
    key: bytes, sealer: ChunkSealer, sealed: list[tuple[int, bytes]]
) -> None:
    foreign = seal_all(ChunkSealer(key, uuid.uuid4()), secrets.token_bytes(4 * CHUNK + 3))
    mixed = list(sealed)
    mixed[2] = foreign[2]
    with pytest.raises(DecryptionFailed):
        open_all(sealer, mixed)


def test_attack_flipped_bit(sealer: ChunkSealer, sealed: list[tuple[int, bytes]]) -> None:
    index, blob = sealed[1]
    for position in (0, 11, 12, len(blob) - 1):  # nonce, ciphertext, tag
        changed = bytearray(blob)
        changed[position] ^= 0x80
        tampered = list(sealed)
        tampered[1] = (index, bytes(changed))
        with pytest.raises(DecryptionFailed):
            open_all(sealer, tampered)


def test_attack_wrong_key(attachment_id: uuid.UUID, sealed: list[tuple[int, bytes]]) -> None:
    with pytest.raises(DecryptionFailed):
        open_all(ChunkSealer(secrets.token_bytes(32), attachment_id), sealed)


def test_attack_garbage_chunk(sealer: ChunkSealer) -> None:
    with pytest.raises(DecryptionFailed):
        open_all(sealer, [(0, b"")])
    with pytest.raises(DecryptionFailed):
        open_all(sealer, [(0, bytes(40))])


# limits and memory -----------------------------------------------------------------------

def test_limit_exactly_reached_is_allowed(sealer: ChunkSealer) -> None:
    data = secrets.token_bytes(3 * CHUNK)
    chunks = read_chunks(io.BytesIO(data), chunk_bytes=CHUNK)
    sealed = [(i, b) for i, b, _s in seal_stream(sealer, chunks, limit_bytes=len(data))]
    assert open_all(sealer, sealed) == data


def test_limit_exceeded_raises_while_streaming(sealer: ChunkSealer) -> None:
    """TooLarge comes as soon as the limit is passed, before the rest is even read."""
    pulled: list[int] = []

    def endless() -> Iterator[bytes]:
        while True:
            pulled.append(1)
            yield bytes(CHUNK)

    stream = seal_stream(sealer, endless(), limit_bytes=3 * CHUNK + 1)
    yielded = 0
    with pytest.raises(TooLarge) as caught:
        for _item in stream:
            yielded += 1
    assert caught.value.limit_bytes == 3 * CHUNK + 1
    assert yielded == 3
    assert len(pulled) == 4


def test_a_single_oversized_chunk_is_refused(sealer: ChunkSealer) -> None:
    with pytest.raises(TooLarge):
        list(seal_stream(sealer, [bytes(CHUNK)], limit_bytes=CHUNK - 1))


def test_sealing_pulls_chunks_lazily(sealer: ChunkSealer) -> None:
    """Never more than one chunk of look-ahead: the file is never held whole."""
    pulled = 0

    def chunks() -> Iterator[bytes]:
        nonlocal pulled
        for _ in range(100):
            pulled += 1
            yield secrets.token_bytes(CHUNK)

    stream = seal_stream(sealer, chunks(), NO_LIMIT)
    for expected_index in range(5):
        index, _blob, _size = next(stream)
        assert index == expected_index
        assert pulled == index + 2
    assert pulled < 100


def test_reading_pulls_the_stream_lazily() -> None:
    stream = io.BytesIO(secrets.token_bytes(100 * CHUNK))
    chunks = read_chunks(stream, chunk_bytes=CHUNK)
    next(chunks)
    next(chunks)
    assert stream.tell() == 2 * CHUNK


def test_opening_pulls_sealed_chunks_lazily(sealer: ChunkSealer) -> None:
    sealed = seal_all(sealer, secrets.token_bytes(10 * CHUNK))
    pulled = 0

    def rows() -> Iterator[tuple[int, bytes]]:
        nonlocal pulled
        for row in sealed:
            pulled += 1
            yield row

    plain = open_chunks(sealer, rows(), len(sealed))
    next(plain)
    next(plain)
    assert pulled == 2
