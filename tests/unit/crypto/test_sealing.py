"""X25519 sealed boxes, the public envelope, the case cipher and the escrow key file."""

from __future__ import annotations

import base64
import datetime as dt
import os
import struct
import uuid

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from appliance.crypto.case_cipher import CaseCipher
from appliance.crypto.escrow_file import read_escrow_file, read_public_file, write_escrow_files
from appliance.crypto.fields import Place
from appliance.crypto.passwords import argon2id
from appliance.crypto.sealing import fingerprint, new_private_key, open_sealed, public_key_of, seal_to
from appliance.crypto.signing import show_fingerprint
from appliance.errors import DecryptionFailed, EscrowError, InvalidInput
from tests.light import LIGHT_ARGON2 as LIGHT


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
    private = new_private_key()
    text, public_text = write_escrow_files("acme", private, "orchid tundra lantern basalt", LIGHT,
                                           dt.datetime(2026, 11, 28))
    assert "Organisation: acme" in text and private.hex() not in text
    opened = read_escrow_file(text, "orchid tundra lantern basalt")
    assert (opened.organisation, opened.private_key) == ("acme", private)
    public = read_public_file(public_text)
    assert (public.organisation, public.box_public, public.sign_public) == ("acme", opened.box_public,
                                                                              opened.sign_public)
    assert show_fingerprint(public.key_fingerprint) in text and show_fingerprint(public.key_fingerprint) in public_text
    assert "PRIVATE" not in public_text and private.hex() not in public_text
    with pytest.raises(EscrowError, match="wrong passphrase"):
        read_escrow_file(text, "orchid tundra lantern basalT")
    with pytest.raises(EscrowError, match="no escrow key block"):
        read_escrow_file("just some text", "orchid tundra lantern basalt")
    with pytest.raises(EscrowError, match="damaged"):
        read_escrow_file(text.replace("-----END", "AAAA\n-----END"), "orchid tundra lantern basalt")
    with pytest.raises(InvalidInput):
        write_escrow_files("acme", private, "too short", LIGHT, dt.datetime(2026, 11, 28))
    with pytest.raises(InvalidInput):
        write_escrow_files("Not A Slug", private, "orchid tundra lantern basalt", LIGHT, dt.datetime(2026, 11, 28))


def test_an_altered_public_escrow_file_is_refused() -> None:
    _text, public_text = write_escrow_files("acme", new_private_key(), "orchid tundra lantern basalt", LIGHT,
                                            dt.datetime(2026, 11, 28))
    block = public_text.split("-----BEGIN APPLIANCE ESCROW PUBLIC KEY-----\n")[1].split("\n-----END")[0]
    payload = bytearray(base64.b64decode("".join(block.split())))
    for position in (6, 5 + 4 + 3, len(payload) - 1):  # the organisation, the X25519 key, the signature
        forged = bytearray(payload)
        forged[position] ^= 1
        armoured = public_text.replace(block, base64.b64encode(bytes(forged)).decode())
        with pytest.raises(EscrowError):
            read_public_file(armoured)
    other = write_escrow_files("other", new_private_key(), "orchid tundra lantern basalt", LIGHT,
                               dt.datetime(2026, 11, 28))[1]
    assert read_public_file(other).organisation == "other"


def test_a_first_format_escrow_file_made_on_the_server_still_opens() -> None:
    """Files from before 0.3 (tenant id inside) keep opening the copies sealed to them."""
    tenant, private = uuid.uuid4(), new_private_key()
    salt, nonce = os.urandom(16), os.urandom(12)
    head = struct.pack(">4s16sIII16s", b"AEK1", tenant.bytes, LIGHT.time_cost, LIGHT.memory_kib, LIGHT.parallelism,
                       salt)
    payload = head + nonce + AESGCM(argon2id("orchid tundra lantern basalt", salt, LIGHT)).encrypt(nonce, private,
                                                                                                    head)
    text = ("-----BEGIN APPLIANCE ESCROW KEY-----\n" + base64.b64encode(payload).decode()
            + "\n-----END APPLIANCE ESCROW KEY-----\n")
    opened = read_escrow_file(text, "orchid tundra lantern basalt")
    assert (opened.organisation, opened.private_key) == (tenant, private)
