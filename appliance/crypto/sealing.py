"""Public-key sealing with X25519: a secret readable only by the holder of a private key.

``seal_to`` makes an ephemeral X25519 key pair, agrees a shared secret with the
recipient's public key, stretches it with HKDF-SHA256 (salted with both public keys, the
context in the info) into an AES-256-GCM key, and encrypts with the context as AAD. The
sender keeps nothing: once sealed, only the recipient's private key opens it. The context
binds a sealed box to its purpose and row, so a box copied elsewhere does not open.

Box: format byte 0x01 | ephemeral public key (32) | nonce (12) | ciphertext + tag.
"""

from __future__ import annotations

import hashlib
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from appliance.errors import DecryptionFailed

BOX_FORMAT = 1
KEY_BYTES = 32
_NONCE = 12
BOX_OVERHEAD = 1 + KEY_BYTES + _NONCE + 16


def new_private_key() -> bytes:
    return X25519PrivateKey.generate().private_bytes_raw()


def public_key_of(private_key: bytes) -> bytes:
    return X25519PrivateKey.from_private_bytes(private_key).public_key().public_bytes_raw()


def fingerprint(public_key: bytes) -> bytes:
    """What a sealed copy records about its recipient: SHA-256 of the public key."""
    return hashlib.sha256(b"appliance-x25519\x1f" + public_key).digest()


def _box_key(shared: bytes, ephemeral_public: bytes, recipient_public: bytes, context: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=ephemeral_public + recipient_public,
                info=b"appliance-seal/v1\x1f" + context).derive(shared)


def seal_to(public_key: bytes, secret: bytes, context: bytes) -> bytes:
    """Encrypt ``secret`` so that only the private half of ``public_key`` opens it."""
    ephemeral = X25519PrivateKey.generate()
    ephemeral_public = ephemeral.public_key().public_bytes_raw()
    shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(public_key))
    nonce = os.urandom(_NONCE)
    key = _box_key(shared, ephemeral_public, public_key, context)
    return bytes([BOX_FORMAT]) + ephemeral_public + nonce + AESGCM(key).encrypt(nonce, secret, context)


def open_sealed(private_key: bytes, box: bytes, context: bytes) -> bytes:
    """The secret in a box sealed to this private key; DecryptionFailed for any other key."""
    if len(box) < BOX_OVERHEAD or box[0] != BOX_FORMAT:
        raise DecryptionFailed("sealed key")
    ephemeral_public = box[1:1 + KEY_BYTES]
    nonce = box[1 + KEY_BYTES:1 + KEY_BYTES + _NONCE]
    me = X25519PrivateKey.from_private_bytes(private_key)
    try:
        shared = me.exchange(X25519PublicKey.from_public_bytes(ephemeral_public))
        key = _box_key(shared, ephemeral_public, me.public_key().public_bytes_raw(), context)
        return AESGCM(key).decrypt(nonce, box[1 + KEY_BYTES + _NONCE:], context)
    except (InvalidTag, ValueError):
        raise DecryptionFailed("sealed key") from None
