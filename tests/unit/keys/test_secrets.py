"""Preserved secrets: wrapped under one master key, refused under another, derived when absent."""

from __future__ import annotations

import datetime as dt
import secrets

import pytest

from appliance.crypto.keys import MasterKey
from appliance.errors import DecryptionFailed, MasterKeyError
from appliance.keys.models import PreservedSecret
from appliance.keys.secrets import (
    AUDIT_CHECKPOINT,
    BLIND_INDEX,
    INSTALLATION_DATA,
    PreservedSecrets,
    is_preservable,
    restic_site_purpose,
    unwrap_secret,
    wrap_secret,
)

NOW = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)


def master() -> MasterKey:
    return MasterKey(secrets.token_bytes(32))


def stored(key: MasterKey, purpose: str, value: bytes) -> PreservedSecret:
    return PreservedSecret(purpose=purpose, wrapped=wrap_secret(key, purpose, value), master_key_id=key.key_id,
                           created_at=NOW)


def test_a_wrapped_secret_opens_only_under_its_master_key_and_purpose() -> None:
    key, value = master(), secrets.token_bytes(32)
    row = stored(key, BLIND_INDEX, value)
    assert unwrap_secret(key, row) == value
    assert value not in row.wrapped

    other = master()
    with pytest.raises(MasterKeyError) as raised:
        unwrap_secret(other, row)
    assert f"wrapped for master key {key.key_id}; this file is {other.key_id}" in str(raised.value)

    row.purpose = INSTALLATION_DATA  # moved to another purpose: the AAD no longer matches
    with pytest.raises(DecryptionFailed):
        unwrap_secret(key, row)


def test_without_a_database_every_secret_is_the_master_keys_derivation() -> None:
    key = master()
    source = PreservedSecrets(key, None)
    for purpose in (BLIND_INDEX, INSTALLATION_DATA, AUDIT_CHECKPOINT, restic_site_purpose("nas")):
        assert source.secret(purpose) == key.derive(purpose)


@pytest.mark.parametrize("purpose", ["sqlcipher-database/v1", "tenant-key-wrap/v1", "restic-site/x/v2", "blind-index"])
def test_only_preserved_purposes_may_be_asked_for(purpose: str) -> None:
    # A secret read through AppContext.secret but not carried over by a rotation would change silently.
    assert not is_preservable(purpose)
    with pytest.raises(ValueError, match="not a preserved purpose"):
        PreservedSecrets(master(), None).secret(purpose)
