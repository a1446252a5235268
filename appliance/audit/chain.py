"""The hash chain's encoding: what each event's hash covers, byte for byte.

Everything that recomputes a hash (the verifier, an export's reader, a central log
collector) must use exactly this encoding, so it lives in one place.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from appliance.audit.models import AuditEvent

GENESIS = bytes(32)
HEAD_ROW = 1


def canonical(event_fields: dict[str, Any]) -> bytes:
    """Stable encoding hashed into the chain: sorted keys, no whitespace, ISO times."""
    return json.dumps(event_fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def event_fields(e: AuditEvent) -> dict[str, Any]:
    return {
        "seq": e.seq,
        "at": e.occurred_at.isoformat(),
        "tenant": str(e.tenant_id) if e.tenant_id else None,
        "actor_type": e.actor_type,
        "actor_id": e.actor_id,
        "action": e.action,
        "object_type": e.object_type,
        "object_id": e.object_id,
        "detail": e.detail,
    }


def chain_hash(prev_hash: bytes, fields: dict[str, Any]) -> bytes:
    return hashlib.sha256(prev_hash + canonical(fields)).digest()
