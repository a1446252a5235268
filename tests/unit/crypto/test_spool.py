"""The upload spool keeps nothing readable on disk and gives back exactly what was written."""

from __future__ import annotations

import io
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag

from appliance.crypto.spool import BLOCK, EncryptedSpool

MARKER = b"PLAINTEXT-MARKER-7d1e"


def read_in_sizes(spool: EncryptedSpool, sizes: list[int]) -> bytes:
    out = bytearray()
    turn = 0
    while True:
        piece = spool.read(sizes[turn % len(sizes)])
        if not piece:
            return bytes(out)
        out += piece
        turn += 1


def raw_file(spool: EncryptedSpool) -> bytes:
    spool._file.flush()
    position = spool._file.tell()
    spool._file.seek(0)
    data = spool._file.read()
    spool._file.seek(position)
    return data


def payload(size: int) -> bytes:
    """Random bytes with the marker planted at the start, across a block edge and at the end."""
    data = bytearray(secrets.token_bytes(size))
    for at in (0, BLOCK - len(MARKER) // 2, size - len(MARKER)):
        if 0 <= at <= size - len(MARKER):
            data[at:at + len(MARKER)] = MARKER
    return bytes(data)


@pytest.fixture
def spool() -> Iterator[EncryptedSpool]:
    with EncryptedSpool() as opened:
        yield opened


def test_round_trip_with_odd_read_sizes(spool: EncryptedSpool) -> None:
    data = payload(3 * BLOCK + 12345)
    for start in range(0, len(data), 7919):  # writes of an odd size too
        spool.write(data[start:start + 7919])
    assert spool.size == len(data)
    spool.seek(0)
    assert read_in_sizes(spool, [1, 3, 4097, BLOCK + 1, 65537]) == data


def test_read_all_at_once_and_rewind(spool: EncryptedSpool) -> None:
    data = payload(2 * BLOCK + 1)
    spool.write(data)
    spool.seek(0)
    assert spool.read() == data
    assert spool.read() == b""
    spool.seek(0)
    assert spool.read(10) == data[:10]
    assert spool.read() == data[10:]


def test_read_without_seek_starts_at_the_beginning(spool: EncryptedSpool) -> None:
    spool.write(b"hello ")
    spool.write(b"world")
    assert spool.read() == b"hello world"


def test_exactly_one_block(spool: EncryptedSpool) -> None:
    data = payload(BLOCK)
    spool.write(data)
    spool.seek(0)
    assert read_in_sizes(spool, [BLOCK - 1]) == data


def test_empty_spool_reads_empty(spool: EncryptedSpool) -> None:
    spool.seek(0)
    assert spool.read() == b""
    assert spool.read(5) == b""


def test_shutil_style_copy_works() -> None:
    """What werkzeug and the views do: write, rewind, copy out in fixed-size pieces."""
    data = payload(BLOCK + 99)
    with EncryptedSpool() as spool:
        spool.write(data)
        spool.seek(0)
        target = io.BytesIO()
        while piece := spool.read(16 * 1024):
            target.write(piece)
    assert target.getvalue() == data


def test_attack_disk_never_holds_the_plaintext_while_writing(spool: EncryptedSpool) -> None:
    data = payload(3 * BLOCK + 500)
    for start in range(0, len(data), BLOCK // 3):
        spool.write(data[start:start + BLOCK // 3])
        assert MARKER not in raw_file(spool)


def test_attack_disk_never_holds_the_plaintext_after_rewind(spool: EncryptedSpool) -> None:
    data = payload(3 * BLOCK + 500)
    spool.write(data)
    spool.seek(0)
    on_disk = raw_file(spool)
    assert len(on_disk) > len(data)  # the whole payload is on disk, sealed
    assert MARKER not in on_disk
    assert data[1000:1064] not in on_disk
    assert read_in_sizes(spool, [777]) == data


def test_attack_files_in_the_spool_directory_hold_no_plaintext(tmp_path: Path) -> None:
    """Read the directory as someone with a disk image would (the temp file is unlinked on
    POSIX, so read it through the descriptor the spool holds)."""
    data = payload(2 * BLOCK + 3)
    with EncryptedSpool(directory=str(tmp_path)) as spool:
        spool.write(data)
        spool.seek(0)
        for path in tmp_path.iterdir():
            assert MARKER not in path.read_bytes()
        with open(os.dup(spool._file.fileno()), "rb") as raw:
            raw.seek(0)
            on_disk = raw.read()
        assert on_disk
        assert MARKER not in on_disk
        spool.seek(0)  # the duplicate descriptor shares the file offset
        assert spool.read() == data


def test_two_spools_use_different_keys() -> None:
    data = payload(1000)
    with EncryptedSpool() as first, EncryptedSpool() as second:
        first.write(data)
        second.write(data)
        first.seek(0)
        second.seek(0)
        assert raw_file(first) != raw_file(second)


def test_attack_tampered_spool_does_not_read_back(spool: EncryptedSpool) -> None:
    spool.write(payload(1000))
    spool.seek(0)
    spool._file.seek(10)
    byte = spool._file.read(1)
    spool._file.seek(10)
    spool._file.write(bytes([byte[0] ^ 0xFF]))  # flipped: writing a fixed byte missed 1 time in 256
    spool.seek(0)
    with pytest.raises(InvalidTag):
        spool.read()


def test_no_writes_after_reading_began(spool: EncryptedSpool) -> None:
    spool.write(b"abc")
    spool.seek(0)
    assert not spool.writable()
    with pytest.raises(OSError):
        spool.write(b"more")


def test_only_rewinds_to_the_start(spool: EncryptedSpool) -> None:
    spool.write(b"abc")
    with pytest.raises(OSError):
        spool.seek(1)
    with pytest.raises(OSError):
        spool.seek(0, os.SEEK_END)


def test_close_closes_the_file() -> None:
    spool = EncryptedSpool()
    spool.write(b"abc")
    assert not spool.closed
    spool.close()
    assert spool.closed
