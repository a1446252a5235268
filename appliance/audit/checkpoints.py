"""Signing logbook checkpoints: what the signature covers. The key is passed in as a value
(``appliance.keys.secrets.checkpoint_key`` reads it from the preserved secrets)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from typing import Any

from appliance.audit.chain import canonical
from appliance.audit.models import AuditCheckpoint

# Part of the signed message, so a MAC made for anything else with the same key never
# passes as a checkpoint's.
_PURPOSE = "appliance logbook checkpoint v1"


def checkpoint_fields(cp: AuditCheckpoint) -> dict[str, Any]:
    """Everything a checkpoint asserts, as plain JSON values (also shown in exports)."""
    return {
        "anchor_seq": cp.seq,
        "anchor_hash": cp.hash.hex(),
        "head_seq": cp.head_seq,
        "head_hash": cp.head_hash.hex(),
        "pruned_before": _utc(cp.pruned_before),
        "events_pruned": cp.events_pruned,
        "created_at": _utc(cp.created_at),
    }


def _utc(moment: dt.datetime) -> str:
    # The same text before the row is stored and after it is read back (aware UTC then).
    return moment.astimezone(dt.UTC).isoformat()


def sign_checkpoint(key: bytes, cp: AuditCheckpoint) -> bytes:
    # The canonical JSON of the chain, over every column but the signature: editing any of
    # them (or moving the anchor) invalidates it.
    message = canonical({"purpose": _PURPOSE, **checkpoint_fields(cp)})
    return hmac.new(key, message, hashlib.sha256).digest()


def checkpoint_is_genuine(key: bytes, cp: AuditCheckpoint) -> bool:
    return hmac.compare_digest(sign_checkpoint(key, cp), cp.signature)
