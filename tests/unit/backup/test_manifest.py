"""A backup file hashed while it is copied: the digest is the file's, and a file changed after
it was hashed is read again."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from appliance.backup.manifest import _COPY_CHUNK, copy_hashing, describe_files


@pytest.mark.parametrize("size", [0, 1, _COPY_CHUNK, 2 * _COPY_CHUNK + 12345])
def test_copy_hashing_copies_every_byte_and_returns_their_sha256(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    source, target = tmp_path / "source.db", tmp_path / "target.db"
    source.write_bytes(data)

    hashed = copy_hashing(source, target)

    assert target.read_bytes() == data
    assert hashed.sha256 == hashlib.sha256(data).hexdigest()
    assert hashed.size == size
    assert describe_files(tmp_path, {"target.db": hashed})[1].sha256 == hashed.sha256


def test_copy_hashing_never_overwrites_an_existing_file(tmp_path: Path) -> None:
    (tmp_path / "source.db").write_bytes(b"new")
    (tmp_path / "target.db").write_bytes(b"old")
    with pytest.raises(FileExistsError):
        copy_hashing(tmp_path / "source.db", tmp_path / "target.db")
    assert (tmp_path / "target.db").read_bytes() == b"old"


def test_a_file_written_after_it_was_hashed_is_read_again(tmp_path: Path) -> None:
    (tmp_path / "source.db").write_bytes(os.urandom(4096))
    backup = tmp_path / "backup"
    backup.mkdir()
    hashed = copy_hashing(tmp_path / "source.db", backup / "appliance.db")
    with (backup / "appliance.db").open("r+b") as handle:  # same size, one byte changed
        handle.seek(100)
        handle.write(bytes([handle.read(1)[0] ^ 0xFF]))
    os.utime(backup / "appliance.db", ns=(0, 0))  # even with the old times put back (the change time moves)

    [entry] = describe_files(backup, {"appliance.db": hashed})

    assert entry.sha256 == hashlib.sha256((backup / "appliance.db").read_bytes()).hexdigest() != hashed.sha256


def test_a_digest_is_only_used_for_its_own_file(tmp_path: Path) -> None:
    (tmp_path / "source.db").write_bytes(b"snapshot")
    hashed = copy_hashing(tmp_path / "source.db", tmp_path / "a.db")
    (tmp_path / "b.db").write_bytes(b"other")

    entries = {e.name: e.sha256 for e in describe_files(tmp_path, {"a.db": hashed, "b.db": hashed})}

    assert entries["b.db"] == hashlib.sha256(b"other").hexdigest()
