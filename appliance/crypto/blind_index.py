"""Keyed HMAC blind indexes: equality look-ups without storing the value."""

from __future__ import annotations

import hashlib
import hmac
import uuid

from appliance.crypto.keys import MasterKey


class BlindIndex:
    """HMAC-SHA256 under a key derived from the master key, separated per purpose."""

    def __init__(self, master: MasterKey) -> None:
        self._key = master.derive("blind-index/v1")

    def compute(self, purpose: str, value: str, tenant_id: uuid.UUID | None = None) -> bytes:
        scope = tenant_id.hex if tenant_id else "-"
        message = f"{purpose}\x1f{scope}\x1f{value}".encode()
        return hmac.new(self._key, message, hashlib.sha256).digest()


def normalise_email(email: str) -> str:
    return email.strip().lower()
