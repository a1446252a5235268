"""The chain's standing as an auditor's page shows it, without walking a million events per view:
the newest signed checkpoint, and the last verification asked for from the tenant's room
(recorded in the logbook itself as ``audit.verified``, counts and seq numbers only)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from appliance.actors import Actor
from appliance.audit.checkpoints import checkpoint_fields
from appliance.audit.models import AuditCheckpoint, AuditEvent
from appliance.audit.service import Logbook
from appliance.audit.verify import ChainReport, ChainVerifier

VERIFIED = "audit.verified"


@dataclass(frozen=True)
class Verification:
    """A recorded verification: when, by whom, and what it found."""

    seq: int
    at: dt.datetime
    actor_id: str | None
    ok: bool
    events: int
    broken_seq: int | None


class ChainStatus:
    """Verifies the whole chain on request and remembers the outcome per tenant's room."""

    def __init__(self, session: Session, logbook: Logbook, checkpoint_key: bytes) -> None:
        self._session = session
        self._logbook = logbook
        self._key = checkpoint_key

    def newest_checkpoint(self) -> dict[str, Any] | None:
        """The newest signed checkpoint's fields (hashes, seq numbers, counts, times)."""
        newest = self._session.execute(
            sa.select(AuditCheckpoint).order_by(AuditCheckpoint.seq.desc()).limit(1)).scalar()
        return checkpoint_fields(newest) if newest else None

    def last_verification(self, tenant_id: uuid.UUID) -> Verification | None:
        row = self._session.execute(
            sa.select(AuditEvent).where(AuditEvent.tenant_id == tenant_id, AuditEvent.action == VERIFIED)
            .order_by(AuditEvent.seq.desc()).limit(1)).scalar()
        return _parse(row) if row else None

    def verify(self, actor: Actor, tenant_id: uuid.UUID) -> ChainReport:
        """Walk the chain (from the newest checkpoint) and record the outcome for the tenant."""
        report = ChainVerifier(self._session, self._key).verify()
        detail = f"ok=1 events={report.events}" if report.ok else \
            f"ok=0 events={report.events} broken_seq={report.broken_seq}"
        self._logbook.record(VERIFIED, actor, tenant_id=tenant_id, object_type="logbook", detail=detail)
        return report


def _parse(row: AuditEvent) -> Verification:
    values = dict(part.partition("=")[::2] for part in (row.detail or "").split())
    broken = values.get("broken_seq", "")
    return Verification(row.seq, row.occurred_at, row.actor_id, values.get("ok") == "1",
                        int(values.get("events", "0") or 0), int(broken) if broken.isdecimal() else None)
