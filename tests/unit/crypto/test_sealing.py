"""X25519 sealed boxes, the public envelope, the case cipher and the escrow key file."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from appliance.crypto.case_cipher import CaseCipher
from appliance.crypto.escrow_file import read_escrow_file, write_escrow_file
from appliance.crypto.fields import Place
from appliance.crypto.passwords import Argon2Params
from appliance.crypto.sealing import fingerprint, new_private_key, open_sealed, public_key_of, seal_to
from appliance.errors import DecryptionFailed, EscrowError, InvalidInput

LIGHT = Argon2Params(time_cost=1, memory_kib=256, parallelism=1)


def test_only_the_recipient_opens_a_box_and_only_in_its_context() -> None:
    alice, mallory = new_private_key(), new_private_key()
    box = seal_to(public_key_of(alice), b"case private key", b"ctx-1")
    assert open_sealed(alice, box, b"ctx-1") == b"case private key"
    for key, context in ((mallory, b"ctx-1"), (alice, b"ctx-2")):
        with pytest.raises(DecryptionFailed):
            open_sealed(key, box, context)
    tampered = box[:-1] + bytes([box[-1] ^ 1])
    with pytest.raises(DecryptionFailed):
        open_sealed(alice, tampered, b"ctx-1")
    with pytest.raises(DecryptionFailed):
        open_sealed(alice, b"\x01short", b"ctx-1")
    assert seal_to(public_key_of(alice), b"x", b"c") != seal_to(public_key_of(alice), b"x", b"c")
    assert fingerprint(public_key_of(alice)) != fingerprint(public_key_of(mallory))


def test_writer_with_only_the_public_key_cannot_read_back() -> None:
    private = new_private_key()
    writer = CaseCipher(None, None, public_key_of(private))
    place = Place("case_messages", "body", uuid.uuid4())
    sealed = writer.seal("added later", place)
    assert not writer.readable
    with pytest.raises(DecryptionFailed):
        writer.open(sealed, place)
    reader = CaseCipher(b"k" * 32, private, public_key_of(private))
    assert reader.open(sealed, place) == "added later"
    assert reader.open(reader.seal("symmetric", place), place) == "symmetric"
    with pytest.raises(DecryptionFailed):
        reader.open(sealed, Place("case_messages", "body", uuid.uuid4()))


def test_escrow_file_round_trip_and_failures() -> None:
    tenant = uuid.uuid4()
    private = new_private_key()
    text = write_escrow_file(tenant, "acme", private, "orchid tundra lantern basalt", LIGHT, dt.datetime(2026, 11, 28))
    assert "Organisation: acme" in text and private.hex() not in text
    opened = read_escrow_file(text, "orchid tundra lantern basalt")
    assert (opened.tenant_id, opened.private_key) == (tenant, private)
    with pytest.raises(EscrowError, match="wrong passphrase"):
        read_escrow_file(text, "orchid tundra lantern basalT")
    with pytest.raises(EscrowError, match="no escrow key block"):
        read_escrow_file("just some text", "orchid tundra lantern basalt")
    with pytest.raises(EscrowError, match="damaged"):
        read_escrow_file(text.replace("-----END", "AAAA\n-----END"), "orchid tundra lantern basalt")
    with pytest.raises(InvalidInput):
        write_escrow_file(tenant, "acme", private, "too short", LIGHT, dt.datetime(2026, 11, 28))
