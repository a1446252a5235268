"""argon2id passwords: verification, the unknown-user path, rehashing and strength rules."""

from __future__ import annotations

import base64
import dataclasses

import pytest
from argon2 import PasswordHasher

from appliance.crypto.passwords import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    Argon2Params,
    PasswordPolicy,
    check_password_strength,
)
from appliance.errors import InvalidInput
from appliance.settings import Settings
from tests.light import LIGHT_ARGON2 as LIGHT

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def policy() -> PasswordPolicy:
    return PasswordPolicy(LIGHT)


@pytest.fixture(scope="module")
def stored(policy: PasswordPolicy) -> str:
    return policy.hash(PASSWORD)


def test_hash_is_argon2id_and_verifies(policy: PasswordPolicy, stored: str) -> None:
    assert stored.startswith("$appliance-argon2id$v=19$m=256,t=1,p=1$")
    assert PASSWORD not in stored
    assert policy.verify(stored, PASSWORD) is not None


def test_one_argon2_run_gives_a_stable_wrapping_key_that_is_not_stored(policy: PasswordPolicy) -> None:
    secret = policy.derive(PASSWORD)
    verified = policy.verify(secret.stored, PASSWORD)
    assert verified is not None and verified.key == secret.key and len(secret.key) == 32
    assert secret.key.hex() not in secret.stored and base64.b64encode(secret.key).decode()[:20] not in secret.stored
    assert policy.derive(PASSWORD).key != secret.key  # a new salt, a new key


def test_pre_upgrade_argon2_cffi_hash_verifies_without_a_key(policy: PasswordPolicy) -> None:
    legacy = PasswordHasher(time_cost=1, memory_cost=256, parallelism=1).hash(PASSWORD)
    verified = policy.verify(legacy, PASSWORD)
    assert verified is not None and verified.key is None and verified.needs_rehash
    assert policy.verify(legacy, "wrong password here") is None


def test_same_password_hashes_differently(policy: PasswordPolicy, stored: str) -> None:
    assert policy.hash(PASSWORD) != stored


@pytest.mark.parametrize(
    "attempt", ["", "correct horse battery stapl", "Correct horse battery staple", PASSWORD + " "]
)
def test_wrong_password_is_false(policy: PasswordPolicy, stored: str, attempt: str) -> None:
    assert policy.verify(stored, attempt) is None


def test_unknown_user_is_false(policy: PasswordPolicy) -> None:
    assert policy.verify(None, PASSWORD) is None


def test_attack_unknown_user_with_the_dummy_password_is_false(policy: PasswordPolicy) -> None:
    """The timing equaliser hashes a fixed string; knowing it must not log anyone in."""
    assert policy.verify(None, "appliance-timing-equaliser") is None
    assert policy.verify("", "appliance-timing-equaliser") is None


@pytest.mark.parametrize("garbage", ["not-a-hash", "$argon2id$v=19$m=256,t=1,p=1$AAAA$BBBB", "$2b$12$abc",
                                     "$appliance-argon2id$v=19$m=1,t=1,p=1$" + "A" * 22 + "$" + "B" * 43])
def test_corrupt_stored_hash_is_none_not_an_error(policy: PasswordPolicy, garbage: str) -> None:
    assert policy.verify(garbage, PASSWORD) is None


def test_attack_overlong_password_is_refused_without_hashing(policy: PasswordPolicy, stored: str) -> None:
    assert policy.verify(stored, "x" * (MAX_PASSWORD_LENGTH + 1)) is None


def test_hash_from_other_params_verifies_and_needs_rehash(policy: PasswordPolicy) -> None:
    for changed in (
        dataclasses.replace(LIGHT, time_cost=2),
        dataclasses.replace(LIGHT, memory_kib=512),
        dataclasses.replace(LIGHT, parallelism=2),
    ):
        old_hash = PasswordPolicy(changed).hash(PASSWORD)
        verified = policy.verify(old_hash, PASSWORD)
        assert verified is not None and verified.needs_rehash
        assert policy.needs_rehash(old_hash) is True


def test_current_hash_needs_no_rehash(policy: PasswordPolicy, stored: str) -> None:
    assert policy.needs_rehash(stored) is False


def test_production_defaults_are_rfc_9106_second_option() -> None:
    """RFC 9106 section 4, second recommended option: t=3, 64 MiB, p=4 (argon2id)."""
    defaults = Settings(database_url="sqlite+pysqlcipher:///x.db", master_key_file=None,  # type: ignore[arg-type]
                        data_dir=None)  # type: ignore[arg-type]
    params = Argon2Params(defaults.argon2_time_cost, defaults.argon2_memory_kib, defaults.argon2_parallelism)
    assert params == Argon2Params(time_cost=3, memory_kib=65536, parallelism=4)
    production = PasswordPolicy(params)
    stored = production.hash(PASSWORD)
    assert stored.startswith("$appliance-argon2id$v=19$m=65536,t=3,p=4$")
    assert production.needs_rehash(stored) is False


# strength --------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "password",
    ["a" * (MIN_PASSWORD_LENGTH - 3) + "bcd", "abcd" * 3, "pässwörd spaß", "x" * 8 + "🔑🔒🗝️!",
     "z" * (MAX_PASSWORD_LENGTH - 3) + "abc"],
)
def test_acceptable_passwords(password: str) -> None:
    check_password_strength(password)


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("", "at least 12"),
        ("abcdefghijk", "at least 12"),
        ("a" * 12, "repetitive"),
        ("ab" * 10, "repetitive"),
        ("abc" * 10, "repetitive"),
        ("x" * (MAX_PASSWORD_LENGTH + 1), "at most"),
    ],
)
def test_refused_passwords(password: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_password_strength(password)
    assert caught.value.field == "password"
    assert reason in caught.value.reason


def test_hash_applies_the_strength_rules(policy: PasswordPolicy) -> None:
    with pytest.raises(InvalidInput):
        policy.hash("short")
    with pytest.raises(InvalidInput):
        policy.hash("aaaaaaaaaaaaaaaa")
