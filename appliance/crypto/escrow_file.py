"""The offline escrow key file: a tenant's escrow private key under a passphrase.

Printable text (a header a person can read, then base64 lines between BEGIN/END markers),
so the compliance lead can keep it on paper or an offline medium. The payload is
``AEK1 | tenant id (16) | argon2id t, m, p (3 × 4) | salt (16) | nonce (12) | AES-256-GCM``
of the 32-byte private key, with everything before the nonce as AAD.
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
from appliance.errors import EscrowError, InvalidInput

MAGIC = b"AEK1"
MIN_PASSPHRASE = 16
_HEAD = struct.Struct(">4s16sIII16s")
_BEGIN, _END = "-----BEGIN APPLIANCE ESCROW KEY-----", "-----END APPLIANCE ESCROW KEY-----"
_BLOCK = re.compile(re.escape(_BEGIN) + r"\s+([A-Za-z0-9+/=\s]+?)\s+" + re.escape(_END))


@dataclass(frozen=True)
class EscrowKeyFile:
    tenant_id: uuid.UUID
    private_key: bytes

    @property
    def fingerprint(self) -> bytes:
        return fingerprint(public_key_of(self.private_key))


def check_passphrase(passphrase: str) -> None:
    if len(passphrase) < MIN_PASSPHRASE or len(set(passphrase)) < 6:
        raise InvalidInput("passphrase", f"must be at least {MIN_PASSPHRASE} characters and not repetitive; "
                                         "use several unrelated words")


def show_fingerprint(fp: bytes) -> str:
    text = fp[:16].hex().upper()
    return " ".join(text[i:i + 4] for i in range(0, len(text), 4))


def write_escrow_file(tenant_id: uuid.UUID, tenant_slug: str, private_key: bytes, passphrase: str,
                      params: Argon2Params, created: dt.datetime) -> str:
    check_passphrase(passphrase)
    salt, nonce = os.urandom(16), os.urandom(12)
    head = _HEAD.pack(MAGIC, tenant_id.bytes, params.time_cost, params.memory_kib, params.parallelism, salt)
    key = argon2id(passphrase, salt, params)
    payload = head + nonce + AESGCM(key).encrypt(nonce, private_key, head)
    encoded = base64.b64encode(payload).decode()
    lines = [encoded[i:i + 64] for i in range(0, len(encoded), 64)]
    return "\n".join([
        "APPLIANCE ESCROW KEY (keep offline)",
        f"Organisation: {tenant_slug}",
        f"Fingerprint:  {show_fingerprint(fingerprint(public_key_of(private_key)))}",
        f"Created:      {created.strftime('%Y-%m-%d %H:%M UTC')}",
        "",
        "With this file AND its passphrase, anyone can open every report of this organisation.",
        "Print it, or keep it on an offline medium in a safe; never on the server, never by e-mail.",
        "Keep the passphrase apart from the file. Used by: appliance keys recover | keys grant.",
        "",
        _BEGIN, *lines, _END, "",
    ])


def read_escrow_file(text: str, passphrase: str) -> EscrowKeyFile:
    """The private key in an escrow file; one clear EscrowError for anything wrong."""
    block = _BLOCK.search(text)
    if block is None:
        raise EscrowError("the file holds no escrow key block")
    try:
        payload = base64.b64decode("".join(block.group(1).split()), validate=True)
    except ValueError:
        raise EscrowError("the escrow key block is damaged") from None
    if len(payload) != _HEAD.size + 12 + 48 or not payload.startswith(MAGIC):
        raise EscrowError("the escrow key block is damaged")
    _magic, tenant, time_cost, memory, lanes, salt = _HEAD.unpack_from(payload)
    if not (1 <= time_cost <= 64 and 8 <= memory <= 4 * 1024 * 1024 and 1 <= lanes <= 64):
        raise EscrowError("the escrow key block is damaged")
    head, nonce, body = payload[:_HEAD.size], payload[_HEAD.size:_HEAD.size + 12], payload[_HEAD.size + 12:]
    key = argon2id(passphrase, salt, Argon2Params(time_cost, memory, lanes))
    try:
        private_key = AESGCM(key).decrypt(nonce, body, head)
    except InvalidTag:
        raise EscrowError("wrong passphrase, or the file was altered") from None
    return EscrowKeyFile(uuid.UUID(bytes=tenant), private_key)
