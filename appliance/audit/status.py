"""The chain's standing as an auditor's page and /metrics show it, without walking a million
events per view: the newest signed checkpoint, and the newest verification.

Every verification is made and recorded here, whoever asks for it: an auditor from a tenant's room
(recorded under that tenant), `appliance audit verify` and the scheduler's ``logbook-verify`` job
(recorded for the whole installation, without a tenant). Each is one ``audit.verified`` event in
the logbook itself, counts and seq numbers only. A tenant's room shows the newest of its own and
the installation's; /metrics shows the newest of all.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from appliance.actors import Actor
from appliance.audit.checkpoints import checkpoint_fields
from appliance.audit.models import AuditCheckpoint, AuditEvent
from appliance.audit.service import Logbook
from appliance.audit.verify import ChainReport, ChainVerifier, Progress

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
    actor_type: str = "user"  # user (a room), cli (`appliance audit verify`), system (the scheduler)


class ChainStatus:
    """Verifies the whole chain and records each outcome: the one place the room, the CLI and the
    scheduler verify through."""

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
        """The newest verification a tenant's room shows: one asked for from that room, or one of
        the whole installation (the CLI's, the scheduler's); never another tenant's."""
        return _newest(_newest_of(self._session, tenant_id), _newest_of(self._session, None))

    def verify(self, actor: Actor, tenant_id: uuid.UUID | None = None,
               progress: Progress | None = None) -> ChainReport:
        """Walk the chain (from the newest checkpoint) and record the outcome: for the tenant
        whose room asked, or (None) for the whole installation. The caller commits, also when
        the chain is broken: a failed check is the one most worth keeping."""
        report = ChainVerifier(self._session, self._key).verify(progress=progress)
        detail = f"ok=1 events={report.events}" if report.ok else \
            f"ok=0 events={report.events} broken_seq={report.broken_seq}"
        self._logbook.record(VERIFIED, actor, tenant_id=tenant_id, object_type="logbook", detail=detail)
        return report


def newest_verification(session: Session, tenant_ids: Iterable[uuid.UUID]) -> Verification | None:
    """The newest verification of any kind (the installation's and every tenant's room's), what
    /metrics reports. One index seek per tenant, however long the logbook."""
    return _newest(_newest_of(session, None), *(_newest_of(session, t) for t in tenant_ids))


def _newest_of(session: Session, tenant_id: uuid.UUID | None) -> Verification | None:
    owner = AuditEvent.tenant_id.is_(None) if tenant_id is None else AuditEvent.tenant_id == tenant_id
    row = session.execute(sa.select(AuditEvent).where(owner, AuditEvent.action == VERIFIED)
                          .order_by(AuditEvent.seq.desc()).limit(1)).scalar()
    return _parse(row) if row else None


def _newest(*found: Verification | None) -> Verification | None:
    return max((v for v in found if v is not None), key=lambda v: v.seq, default=None)


def _parse(row: AuditEvent) -> Verification:
    values = dict(part.partition("=")[::2] for part in (row.detail or "").split())
    broken = values.get("broken_seq", "")
    return Verification(row.seq, row.occurred_at, row.actor_id, values.get("ok") == "1",
                        int(values.get("events", "0") or 0), int(broken) if broken.isdecimal() else None,
                        row.actor_type)
