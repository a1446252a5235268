"""The master key file: created safely, refused when unsafe, never shown."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from appliance.crypto.keys import MASTER_KEY_BYTES, MasterKey
from appliance.errors import MasterKeyError


@pytest.fixture
def key_path(tmp_path: Path) -> Path:
    return tmp_path / "keys" / "master.key"


def write_key(path: Path, data: bytes, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.chmod(mode)


def test_create_writes_32_bytes_with_mode_0400(key_path: Path) -> None:
    created = MasterKey.create(key_path)
    info = key_path.stat()
    assert stat.S_IMODE(info.st_mode) == 0o400
    assert info.st_size == MASTER_KEY_BYTES
    assert MasterKey.load(key_path).key_id == created.key_id


def test_create_ignores_a_permissive_umask(key_path: Path) -> None:
    previous = os.umask(0)
    try:
        MasterKey.create(key_path)
    finally:
        os.umask(previous)
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o400


def test_create_refuses_to_overwrite(key_path: Path) -> None:
    first = MasterKey.create(key_path)
    before = key_path.read_bytes()
    with pytest.raises(MasterKeyError) as caught:
        MasterKey.create(key_path)
    assert "refusing to overwrite" in str(caught.value)
    assert str(key_path) in str(caught.value)
    assert key_path.read_bytes() == before
    assert MasterKey.load(key_path).key_id == first.key_id


def test_two_created_keys_differ(tmp_path: Path) -> None:
    assert MasterKey.create(tmp_path / "a.key").key_id != MasterKey.create(tmp_path / "b.key").key_id


@pytest.mark.parametrize("mode", [0o440, 0o404, 0o600 | 0o040, 0o644, 0o410, 0o401, 0o402, 0o420])
def test_load_refuses_a_file_others_could_use(key_path: Path, mode: int) -> None:
    write_key(key_path, os.urandom(MASTER_KEY_BYTES), mode)
    with pytest.raises(MasterKeyError) as caught:
        MasterKey.load(key_path)
    assert caught.value.path == str(key_path)
    assert f"{mode:04o}" in caught.value.reason
    assert "chmod 0400" in str(caught.value)


@pytest.mark.parametrize("mode", [0o400, 0o600])
def test_load_accepts_an_owner_only_file(key_path: Path, mode: int) -> None:
    data = os.urandom(MASTER_KEY_BYTES)
    write_key(key_path, data, mode)
    assert MasterKey.load(key_path).key_id == MasterKey(data).key_id


@pytest.mark.parametrize("size", [0, 16, 31, 33, 64])
def test_load_refuses_the_wrong_size(key_path: Path, size: int) -> None:
    write_key(key_path, os.urandom(size), 0o400)
    with pytest.raises(MasterKeyError) as caught:
        MasterKey.load(key_path)
    assert "exactly 32 bytes" in str(caught.value)


def test_load_refuses_a_missing_file(key_path: Path) -> None:
    with pytest.raises(MasterKeyError) as caught:
        MasterKey.load(key_path)
    assert str(caught.value) == f"master key {key_path}: file not found; run `appliance init`"
    assert caught.value.exit_code == 78


@pytest.mark.parametrize("size", [0, 31, 33])
def test_in_memory_key_must_be_32_bytes(size: int) -> None:
    with pytest.raises(MasterKeyError):
        MasterKey(bytes(size))


def test_derive_is_deterministic_and_separated_by_purpose() -> None:
    master = MasterKey(bytes(range(32)))
    same = MasterKey(bytes(range(32)))
    purposes = ["sqlcipher/v1", "tenant-key-wrap/v1", "blind-index/v1", "cookie/v1", "installation-data/v1"]
    derived = [master.derive(p) for p in purposes]
    assert derived == [same.derive(p) for p in purposes]
    assert len(set(derived)) == len(purposes)
    assert all(len(k) == 32 for k in derived)
    assert bytes(range(32)) not in derived


def test_derive_depends_on_the_master_key() -> None:
    assert MasterKey(bytes(32)).derive("x") != MasterKey(bytes(31) + b"\x01").derive("x")


def test_derive_length() -> None:
    master = MasterKey(bytes(range(32)))
    assert len(master.derive("long", length=64)) == 64
    assert master.derive("long", length=64)[:32] == master.derive("long")  # HKDF prefix property


def test_repr_and_str_never_show_the_key() -> None:
    raw = bytes(range(100, 132))
    master = MasterKey(raw)
    for shown in (repr(master), str(master), f"{master}", repr([master])):
        assert raw.hex() not in shown
        assert raw.hex().upper() not in shown
        assert repr(raw)[2:-1] not in shown
        assert master.key_id in shown


def test_key_id_is_a_short_fingerprint_not_the_key() -> None:
    raw = bytes(range(32))
    key_id = MasterKey(raw).key_id
    assert len(key_id) == 16
    assert key_id not in raw.hex()
    assert key_id == MasterKey(raw).key_id


def test_the_key_is_not_reachable_through_instance_attributes() -> None:
    master = MasterKey(bytes(range(32)))
    assert not hasattr(master, "__dict__")
