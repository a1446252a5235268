"""Encrypted columns: envelopes bound to their place, and a column type that refuses plaintext."""

from __future__ import annotations

import secrets
import uuid

import pytest
from sqlalchemy.dialects import postgresql

from appliance.crypto.fields import (
    FORMAT,
    HEADER_BYTES,
    EncryptedBytes,
    FieldCipher,
    Place,
    Sealed,
)
from appliance.errors import DecryptionFailed

ROW = uuid.UUID("6f1c3f0e-2d7a-4c55-9b1e-3a1f5d2c7b90")
PLACE = Place("cases", "what_sealed", ROW)
SECRET = "The CFO moved €2m to an account in his brother's name."


@pytest.fixture
def key() -> bytes:
    return secrets.token_bytes(32)


@pytest.fixture
def cipher(key: bytes) -> FieldCipher:
    return FieldCipher(key, version=1)


def flip_bit(data: bytes, position: int) -> Sealed:
    changed = bytearray(data)
    changed[position] ^= 0x01
    return Sealed(bytes(changed))


def test_round_trip_text(cipher: FieldCipher) -> None:
    sealed = cipher.seal(SECRET, PLACE)
    assert isinstance(sealed, Sealed)
    assert cipher.open(sealed, PLACE) == SECRET


def test_round_trip_bytes_including_empty(cipher: FieldCipher) -> None:
    for value in (b"", b"\x00\xff" * 100):
        assert cipher.open_bytes(cipher.seal(value, PLACE), PLACE) == value


def test_envelope_carries_format_version_and_no_plaintext(cipher: FieldCipher) -> None:
    sealed = cipher.seal(SECRET, PLACE)
    assert sealed[0] == FORMAT
    assert sealed.key_version == 1
    assert SECRET.encode() not in sealed
    assert len(sealed) == HEADER_BYTES + len(SECRET.encode()) + 16


def test_same_value_seals_differently_each_time(cipher: FieldCipher) -> None:
    assert cipher.seal(SECRET, PLACE) != cipher.seal(SECRET, PLACE)


@pytest.mark.parametrize(
    "elsewhere",
    [
        Place("cases", "what_sealed", uuid.UUID("00000000-0000-4000-8000-000000000001")),
        Place("cases", "people_sealed", ROW),
        Place("case_notes", "what_sealed", ROW),
        Place("cases", "what_sealed", str(ROW).upper()),
    ],
    ids=["other-row", "other-column", "other-table", "row-id-spelt-differently"],
)
def test_attack_ciphertext_moved_to_another_place_fails(cipher: FieldCipher, elsewhere: Place) -> None:
    sealed = cipher.seal(SECRET, PLACE)
    with pytest.raises(DecryptionFailed):
        cipher.open(sealed, elsewhere)


def test_attack_every_flipped_bit_position_is_detected(cipher: FieldCipher) -> None:
    sealed = cipher.seal(SECRET, PLACE)
    for position in range(len(sealed)):
        with pytest.raises(DecryptionFailed):
            cipher.open(flip_bit(sealed, position), PLACE)


def test_attack_truncated_envelope_fails(cipher: FieldCipher) -> None:
    sealed = cipher.seal(SECRET, PLACE)
    for length in (0, 1, HEADER_BYTES, HEADER_BYTES + 15, len(sealed) - 1):
        with pytest.raises(DecryptionFailed):
            cipher.open(Sealed(sealed[:length]), PLACE)


def test_attack_wrong_key_fails(cipher: FieldCipher) -> None:
    sealed = cipher.seal(SECRET, PLACE)
    with pytest.raises(DecryptionFailed):
        FieldCipher(secrets.token_bytes(32), version=1).open(sealed, PLACE)


def test_wrong_version_fails_even_with_the_same_key(key: bytes, cipher: FieldCipher) -> None:
    sealed = cipher.seal(SECRET, PLACE)
    with pytest.raises(DecryptionFailed):
        FieldCipher(key, version=2).open(sealed, PLACE)


def test_attack_relabelled_version_fails(key: bytes) -> None:
    """Rewriting the version in the header does not help: the version is in the AAD."""
    sealed = FieldCipher(key, version=1).seal(SECRET, PLACE)
    relabelled = Sealed(bytes([FORMAT]) + (2).to_bytes(4, "big") + sealed[5:])
    assert relabelled.key_version == 2
    with pytest.raises(DecryptionFailed):
        FieldCipher(key, version=2).open(relabelled, PLACE)


def test_unknown_format_byte_fails(cipher: FieldCipher) -> None:
    sealed = cipher.seal(SECRET, PLACE)
    with pytest.raises(DecryptionFailed):
        cipher.open(Sealed(bytes([FORMAT + 1]) + sealed[1:]), PLACE)


def test_error_names_the_place_but_never_the_value(cipher: FieldCipher) -> None:
    sealed = cipher.seal(SECRET, PLACE)
    with pytest.raises(DecryptionFailed) as caught:
        cipher.open(flip_bit(sealed, len(sealed) - 1), PLACE)
    assert "cases.what_sealed" in str(caught.value)
    assert "CFO" not in str(caught.value)


@pytest.mark.parametrize("size", [0, 16, 31, 33, 64])
def test_cipher_needs_a_256_bit_key(size: int) -> None:
    with pytest.raises(ValueError):
        FieldCipher(bytes(size), version=1)


# The column type -------------------------------------------------------------------------

DIALECT = postgresql.dialect()


@pytest.mark.parametrize("plaintext", ["a report", b"a report", bytearray(b"a report")])
def test_attack_column_refuses_plaintext(plaintext: object) -> None:
    with pytest.raises(TypeError):
        EncryptedBytes().process_bind_param(plaintext, DIALECT)


@pytest.mark.parametrize(
    "envelope",
    [Sealed(b""), Sealed(b"\x01\x00\x00"), Sealed(b"\x03" + bytes(40)), Sealed(b"\x00" + bytes(40))],
    ids=["empty", "short", "format-3", "format-0"],
)
def test_column_refuses_malformed_envelopes(envelope: Sealed) -> None:
    with pytest.raises(ValueError):
        EncryptedBytes().process_bind_param(envelope, DIALECT)


def test_column_stores_sealed_values_and_null(cipher: FieldCipher) -> None:
    column = EncryptedBytes()
    sealed = cipher.seal(SECRET, PLACE)
    stored = column.process_bind_param(sealed, DIALECT)
    assert stored == bytes(sealed)
    assert type(stored) is bytes
    assert column.process_bind_param(None, DIALECT) is None


def test_column_returns_sealed_values_that_open(cipher: FieldCipher) -> None:
    column = EncryptedBytes()
    loaded = column.process_result_value(memoryview(cipher.seal(SECRET, PLACE)), DIALECT)
    assert isinstance(loaded, Sealed)
    assert cipher.open(loaded, PLACE) == SECRET
    assert column.process_result_value(None, DIALECT) is None
