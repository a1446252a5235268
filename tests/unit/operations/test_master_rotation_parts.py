"""The pieces of a master key rotation: rewrapping KEKs, installing the key file, rekeying SQLCipher."""

from __future__ import annotations

import datetime as dt
import os
import secrets
import stat
import uuid
from pathlib import Path

import pytest

from appliance.crypto.keys import MasterKey, install_key_file
from appliance.db import rekey_sqlcipher
from appliance.keys.keyring import rewrap_tenant_key, tenant_key_opens, tenant_wrapper
from appliance.keys.models import TenantKey


def tenant_key(master: MasterKey, kek: bytes) -> TenantKey:
    from appliance.keys.keyring import _tenant_aad

    tenant_id, nonce = uuid.uuid4(), os.urandom(12)
    wrapped = nonce + tenant_wrapper(master).encrypt(nonce, kek, _tenant_aad(tenant_id, 1))
    return TenantKey(tenant_id=tenant_id, version=1, wrapped_key=wrapped, created_at=dt.datetime.now(dt.UTC))


def test_rewrapping_a_tenant_key_keeps_its_value_under_the_new_master_only() -> None:
    from appliance.keys.keyring import _tenant_aad

    old, new, kek = MasterKey(secrets.token_bytes(32)), MasterKey(secrets.token_bytes(32)), secrets.token_bytes(32)
    row = tenant_key(old, kek)
    rewrap_tenant_key(row, old, new)
    assert tenant_key_opens(new, row.tenant_id, 1, row.wrapped_key)
    assert not tenant_key_opens(old, row.tenant_id, 1, row.wrapped_key)
    aad = _tenant_aad(row.tenant_id, row.version)
    assert tenant_wrapper(new).decrypt(row.wrapped_key[:12], row.wrapped_key[12:], aad) == kek


def test_the_key_file_is_replaced_in_one_step_and_the_old_kept_only_when_asked(tmp_path: Path) -> None:
    target = tmp_path / "master.key"
    old = MasterKey.create(target)
    new = MasterKey(secrets.token_bytes(32))
    install_key_file(target, new)
    assert MasterKey.load(target).key_id == new.key_id
    assert stat.S_IMODE(target.stat().st_mode) == 0o400
    assert sorted(p.name for p in tmp_path.iterdir()) == ["master.key"]  # no temporary file left

    newer = MasterKey(secrets.token_bytes(32))
    retired = tmp_path / f"master.key.retired-{new.key_id}"
    install_key_file(target, newer, keep_old_as=retired)
    assert MasterKey.load(target).key_id == newer.key_id and MasterKey.load(retired).key_id == new.key_id
    assert old.key_id not in {MasterKey.load(p).key_id for p in tmp_path.iterdir()}


def test_a_failed_install_leaves_the_old_key_file_in_place(tmp_path: Path) -> None:
    target = tmp_path / "master.key"
    old = MasterKey.create(target)
    (tmp_path / "sub").mkdir()
    with pytest.raises(IsADirectoryError):  # renaming onto a directory fails after the temporary is written
        install_key_file(tmp_path / "sub", MasterKey(secrets.token_bytes(32)))
    assert MasterKey.load(target).key_id == old.key_id
    assert sorted(p.name for p in tmp_path.iterdir()) == ["master.key", "sub"]


def test_rekey_moves_the_sqlcipher_file_to_the_new_key(tmp_path: Path) -> None:
    import sqlcipher3.dbapi2 as sqlcipher

    path, old, new = str(tmp_path / "db"), secrets.token_bytes(32), secrets.token_bytes(32)

    def connect(key: bytes) -> sqlcipher.Connection:
        connection = sqlcipher.connect(path, isolation_level=None)
        connection.execute(f"PRAGMA key = \"x'{key.hex()}'\"")
        return connection

    first = connect(old)
    first.execute("PRAGMA journal_mode = WAL").fetchall()
    first.execute("CREATE TABLE t (x)")
    first.executemany("INSERT INTO t VALUES (?)", [(os.urandom(64),) for _ in range(500)])
    first.close()

    rekey_sqlcipher(path, old, new)
    assert connect(new).execute("SELECT count(*) FROM t").fetchone() == (500,)
    with pytest.raises(sqlcipher.DatabaseError):
        connect(old).execute("SELECT count(*) FROM t").fetchone()
