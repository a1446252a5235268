"""The escrow key files: the private half under a passphrase (kept offline), and the public
half that the server installs.

Both are made by `appliance keys escrow init` on an offline machine (only the package, no
configuration, no database): the private key never exists on the server. Both files are
printable text (a header a person can read, then base64 lines between BEGIN/END markers),
so the compliance lead can keep the private one on paper and compare the fingerprint that
the public one carries with what the web app shows before confirming it.

Private payload ``AEK2 | slug length (1) | slug | argon2id t, m, p (3 × 4) | salt (16) |
nonce (12) | AES-256-GCM`` of the 32-byte X25519 private key, with everything before the
nonce as AAD. Files of the first format (``AEK1``, a tenant id instead of the slug, made on
the server before 0.3) are still read, so the copies sealed to them can be opened.

Public payload ``AEP1 | slug length (1) | slug | X25519 public (32) | Ed25519 public (32) |
signature (64)``: the signing key (derived from the private key) signs the organisation and
both public keys, so the server can check the file was made by the private key's holder.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import re
import struct
import uuid
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from appliance.crypto.passwords import Argon2Params, argon2id
from appliance.crypto.sealing import fingerprint, public_key_of
from appliance.crypto.signing import key_fingerprint, show_fingerprint, sign, signing_public, signing_seed, verify
from appliance.errors import EscrowError, InvalidInput

LEGACY_MAGIC, MAGIC, PUBLIC_MAGIC = b"AEK1", b"AEK2", b"AEP1"
MIN_PASSPHRASE = 16
ESCROW_KEY_CONTEXT = b"appliance/escrow-key/v1"
_LEGACY_HEAD = struct.Struct(">4s16sIII16s")
_PARAMS = struct.Struct(">III16s")
_PRIVATE = ("-----BEGIN APPLIANCE ESCROW KEY-----", "-----END APPLIANCE ESCROW KEY-----")
_PUBLIC = ("-----BEGIN APPLIANCE ESCROW PUBLIC KEY-----", "-----END APPLIANCE ESCROW PUBLIC KEY-----")
SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


def _block(markers: tuple[str, str]) -> re.Pattern[str]:
    return re.compile(re.escape(markers[0]) + r"\s+([A-Za-z0-9+/=\s]+?)\s+" + re.escape(markers[1]))


@dataclass(frozen=True)
class EscrowKeyFile:
    """An opened private escrow file. ``organisation`` is the slug (or, in a first-format file,
    the tenant id)."""

    organisation: str | uuid.UUID
    private_key: bytes

    @property
    def box_public(self) -> bytes:
        return public_key_of(self.private_key)

    @property
    def signing_seed(self) -> bytes:
        return signing_seed(self.private_key)

    @property
    def sign_public(self) -> bytes:
        return signing_public(self.signing_seed)

    @property
    def fingerprint(self) -> bytes:
        """What sealed copies record about their recipient (SHA-256 of the X25519 key)."""
        return fingerprint(self.box_public)


@dataclass(frozen=True)
class EscrowPublicKey:
    """The installable half: checked to be signed by the private half's holder."""

    organisation: str
    box_public: bytes
    sign_public: bytes
    signature: bytes

    @property
    def key_fingerprint(self) -> bytes:
        return key_fingerprint(self.box_public, self.sign_public)


def escrow_statement(organisation: str, box_public: bytes, sign_public: bytes) -> bytes:
    return organisation.encode() + b"\x1f" + box_public + sign_public


def escrow_signature_valid(organisation: str, box_public: bytes, sign_public: bytes, signature: bytes) -> bool:
    return verify(sign_public, ESCROW_KEY_CONTEXT, escrow_statement(organisation, box_public, sign_public), signature)


def check_passphrase(passphrase: str) -> None:
    if len(passphrase) < MIN_PASSPHRASE or len(set(passphrase)) < 6:
        raise InvalidInput("passphrase", f"must be at least {MIN_PASSPHRASE} characters and not repetitive; "
                                         "use several unrelated words")


def check_organisation(slug: str) -> str:
    if not SLUG.match(slug):
        raise InvalidInput("organisation", "must be the organisation's slug (lower-case letters, digits, dashes)")
    return slug


def _armour(title: list[str], markers: tuple[str, str], payload: bytes) -> str:
    encoded = base64.b64encode(payload).decode()
    lines = [encoded[i:i + 64] for i in range(0, len(encoded), 64)]
    return "\n".join([*title, markers[0], *lines, markers[1], ""])


def _unarmour(text: str, markers: tuple[str, str], what: str) -> bytes:
    block = _block(markers).search(text)
    if block is None:
        raise EscrowError(f"the file holds no {what} block")
    try:
        return base64.b64decode("".join(block.group(1).split()), validate=True)
    except ValueError:
        raise EscrowError(f"the {what} block is damaged") from None


def write_escrow_files(organisation: str, private_key: bytes, passphrase: str, params: Argon2Params,
                       created: dt.datetime) -> tuple[str, str]:
    """The private file (under the passphrase) and the public file for a new escrow key."""
    check_passphrase(passphrase)
    slug = check_organisation(organisation).encode()
    salt, nonce = os.urandom(16), os.urandom(12)
    head = MAGIC + bytes([len(slug)]) + slug + _PARAMS.pack(params.time_cost, params.memory_kib, params.parallelism,
                                                             salt)
    payload = head + nonce + AESGCM(argon2id(passphrase, salt, params)).encrypt(nonce, private_key, head)
    seed = signing_seed(private_key)
    box, signer = public_key_of(private_key), signing_public(seed)
    shown = show_fingerprint(key_fingerprint(box, signer))
    when = created.strftime("%Y-%m-%d %H:%M UTC")
    private_text = _armour([
        "APPLIANCE ESCROW KEY (keep offline)",
        f"Organisation: {organisation}",
        f"Fingerprint:  {shown}",
        f"Created:      {when}",
        "",
        "With this file AND its passphrase, anyone can open every report of this organisation.",
        "Print it, or keep it on an offline medium in a safe; never on the server, never by e-mail.",
        "Keep the passphrase apart from the file. Used by: appliance keys recover | keys grant.",
        "",
    ], _PRIVATE, payload)
    signature = sign(seed, ESCROW_KEY_CONTEXT, escrow_statement(organisation, box, signer))
    public_text = _armour([
        "APPLIANCE ESCROW PUBLIC KEY",
        f"Organisation: {organisation}",
        f"Fingerprint:  {shown}",
        f"Created:      {when}",
        "",
        "Install on the server with: appliance keys escrow install --tenant "
        f"{organisation} --public-key THIS_FILE",
        "A reader of the organisation confirms it in the web app after comparing the fingerprint above.",
        "",
    ], _PUBLIC, PUBLIC_MAGIC + bytes([len(slug)]) + slug + box + signer + signature)
    return private_text, public_text


def read_escrow_file(text: str, passphrase: str) -> EscrowKeyFile:
    """The private key in an escrow file; one clear EscrowError for anything wrong."""
    payload = _unarmour(text, _PRIVATE, "escrow key")
    organisation: str | uuid.UUID
    if payload.startswith(LEGACY_MAGIC) and len(payload) == _LEGACY_HEAD.size + 12 + 48:
        _magic, tenant, time_cost, memory, lanes, salt = _LEGACY_HEAD.unpack_from(payload)
        head_size, organisation = _LEGACY_HEAD.size, uuid.UUID(bytes=tenant)
    elif payload.startswith(MAGIC) and len(payload) > 5:
        size = payload[4]
        head_size = 5 + size + _PARAMS.size
        if len(payload) != head_size + 12 + 48:
            raise EscrowError("the escrow key block is damaged")
        organisation = payload[5:5 + size].decode("ascii", "replace")
        time_cost, memory, lanes, salt = _PARAMS.unpack_from(payload, 5 + size)
    else:
        raise EscrowError("the escrow key block is damaged")
    if not (1 <= time_cost <= 64 and 8 <= memory <= 4 * 1024 * 1024 and 1 <= lanes <= 64):
        raise EscrowError("the escrow key block is damaged")
    head, nonce, body = payload[:head_size], payload[head_size:head_size + 12], payload[head_size + 12:]
    key = argon2id(passphrase, salt, Argon2Params(time_cost, memory, lanes))
    try:
        private_key = AESGCM(key).decrypt(nonce, body, head)
    except InvalidTag:
        raise EscrowError("wrong passphrase, or the file was altered") from None
    return EscrowKeyFile(organisation, private_key)


def read_public_file(text: str) -> EscrowPublicKey:
    """The public half, refused unless its signature shows it was made by the private key."""
    payload = _unarmour(text, _PUBLIC, "escrow public key")
    if not payload.startswith(PUBLIC_MAGIC) or len(payload) < 5:
        raise EscrowError("the escrow public key block is damaged")
    size = payload[4]
    if len(payload) != 5 + size + 32 + 32 + 64:
        raise EscrowError("the escrow public key block is damaged")
    organisation = payload[5:5 + size].decode("ascii", "replace")
    rest = payload[5 + size:]
    key = EscrowPublicKey(organisation, rest[:32], rest[32:64], rest[64:])
    if not escrow_signature_valid(key.organisation, key.box_public, key.sign_public, key.signature):
        raise EscrowError("the escrow public key's signature does not verify: the file was altered")
    return key
