"""Ed25519 signatures: proof that a statement about keys comes from the holder of a key.

Every staff user and every escrow key has an Ed25519 pair beside its X25519 pair. The
signing key is derived from the X25519 private key, so whoever can open what is sealed to
a key can also sign for it, and there is nothing new to protect: it lives exactly where the
X25519 private key lives (under the user's password, in the offline escrow file).

A *key fingerprint* names both public halves at once; it is what people compare when they
confirm a colleague's or the escrow key (128 bits, shown as eight groups of four hex digits).
"""

from __future__ import annotations

import hashlib
import hmac
import string
import uuid

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

SIGNATURE_BYTES = 64
PUBLIC_BYTES = 32
FINGERPRINT_CHARS = 32
USER_KEYS_CONTEXT = b"appliance/user-keys/v1"


def signing_seed(box_private: bytes) -> bytes:
    """The Ed25519 seed that goes with an X25519 private key (independent of it by HKDF)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=b"appliance/signing-key/v1").derive(box_private)


def signing_public(seed: bytes) -> bytes:
    return Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()


def sign(seed: bytes, context: bytes, message: bytes) -> bytes:
    """A signature over ``message`` for one purpose (``context``), so that a signature made
    for one kind of statement never verifies as another."""
    return Ed25519PrivateKey.from_private_bytes(seed).sign(context + b"\x1f" + message)


def verify(public_key: bytes, context: bytes, message: bytes, signature: bytes) -> bool:
    if len(public_key) != PUBLIC_BYTES or len(signature) != SIGNATURE_BYTES:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, context + b"\x1f" + message)
    except (InvalidSignature, ValueError):
        return False
    return True


def key_fingerprint(box_public: bytes, sign_public: bytes) -> bytes:
    """SHA-256 over both public halves of one key holder."""
    return hashlib.sha256(b"appliance-key-pair\x1f" + box_public + sign_public).digest()


def show_fingerprint(fp: bytes) -> str:
    """The first 128 bits as eight groups of four upper-case hex digits, for people to compare."""
    text = fp[:FINGERPRINT_CHARS // 2].hex().upper()
    return " ".join(text[i:i + 4] for i in range(0, len(text), 4))


def normalise_fingerprint(typed: str) -> str:
    """What someone typed or pasted, without spaces or dashes, upper case ('' when it cannot be one)."""
    cleaned = "".join(ch for ch in typed.upper() if ch not in " -:\t")
    if len(cleaned) != FINGERPRINT_CHARS or any(ch not in string.hexdigits.upper() for ch in cleaned):
        return ""
    return cleaned


def fingerprint_matches(fp: bytes, typed: str) -> bool:
    given = normalise_fingerprint(typed)
    return bool(given) and hmac.compare_digest(given, show_fingerprint(fp).replace(" ", ""))


def user_keys_statement(user_id: uuid.UUID, box_public: bytes, sign_public: bytes) -> bytes:
    """What a staff user signs about their own keys (and the server MACs, kind ``user-keys``)."""
    return user_id.bytes + box_public + sign_public


def user_keys_signed(user_id: uuid.UUID, box_public: bytes, sign_public: bytes, signature: bytes) -> bool:
    return verify(sign_public, USER_KEYS_CONTEXT, user_keys_statement(user_id, box_public, sign_public), signature)
