"""Appending to and verifying the hash-chained logbook."""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from appliance.actors import Actor
from appliance.audit.models import AuditEvent, AuditHead
from appliance.clock import Clock

GENESIS = bytes(32)
HEAD_ROW = 1
journal = logging.getLogger("appliance.audit")
_PENDING = "appliance.audit.pending"
_HEAD = "appliance.audit.head"


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


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    events: int
    broken_seq: int | None = None
    reason: str | None = None


class Logbook:
    """Records who did what to which object id, and proves the record untouched."""

    def __init__(self, session: Session, clock: Clock) -> None:
        self._session = session
        self._clock = clock
        if not session.info.get(_PENDING + ".hooked"):
            session.info[_PENDING + ".hooked"] = True
            event.listen(session, "after_commit", _emit_pending)
            event.listen(session, "after_transaction_end", _drop_pending_at_end)
            event.listen(session, "after_soft_rollback", _drop_rolled_back_savepoint)

    def record(
        self,
        action: str,
        actor: Actor,
        *,
        tenant_id: uuid.UUID | None = None,
        object_type: str | None = None,
        object_id: uuid.UUID | str | None = None,
        detail: str | None = None,
    ) -> int:
        """Append one event and return its sequence number. Takes the chain lock until the
        caller's transaction ends."""
        session = self._session
        head = session.info.get(_HEAD)
        if head is None:
            # UPDATE first: it takes the write lock on SQLite, a row lock on PostgreSQL and
            # SQL Server, so concurrent appends queue up instead of forking the chain.
            session.execute(sa.update(AuditHead).where(AuditHead.id == HEAD_ROW).values(seq=AuditHead.seq))
            row = session.execute(sa.select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == HEAD_ROW)).one()
            head = (row.seq, row.hash)
        entry = AuditEvent(
            seq=head[0] + 1,
            occurred_at=self._clock(),
            tenant_id=tenant_id,
            actor_type=actor.kind,
            actor_id=actor.audit_id,
            action=action,
            object_type=object_type,
            object_id=str(object_id) if object_id is not None else None,
            detail=detail,
            prev_hash=head[1],
        )
        fields = event_fields(entry)
        entry.hash = chain_hash(head[1], fields)
        # Core statements: the event is written now (queries in this transaction see it)
        # without an ORM flush per event.
        session.execute(sa.insert(AuditEvent).values(
            {c.key: getattr(entry, c.key) for c in AuditEvent.__table__.columns}))
        session.execute(sa.update(AuditHead).where(AuditHead.id == HEAD_ROW).values(seq=entry.seq, hash=entry.hash))
        # While this transaction holds the lock, nobody else can move the head.
        session.info[_HEAD] = (entry.seq, entry.hash)
        savepoint = session.get_nested_transaction()
        session.info.setdefault(_PENDING, []).append((id(savepoint) if savepoint else None, fields))
        return entry.seq

    def verify(self, batch: int = 5000) -> ChainReport:
        """Walk the whole chain; report the first event whose hash or link is wrong."""
        prev = GENESIS
        expected_seq = 1
        count = 0
        last_seq = 0
        while True:
            rows = self._session.execute(
                sa.select(AuditEvent).where(AuditEvent.seq > last_seq).order_by(AuditEvent.seq).limit(batch)
            ).scalars().all()
            if not rows:
                break
            for entry in rows:
                if entry.seq != expected_seq:
                    return ChainReport(False, count, expected_seq, "event missing")
                if entry.prev_hash != prev:
                    return ChainReport(False, count, entry.seq, "link to previous event broken")
                if chain_hash(prev, event_fields(entry)) != entry.hash:
                    return ChainReport(False, count, entry.seq, "event content changed")
                prev = entry.hash
                expected_seq += 1
                count += 1
                last_seq = entry.seq
            for entry in rows:  # free memory, but never detach objects the caller holds
                self._session.expunge(entry)
        head = self._session.get(AuditHead, HEAD_ROW)
        if head is None or head.seq != count or head.hash != prev:
            return ChainReport(False, count, count + 1, "chain head does not match the last event")
        return ChainReport(True, count)


def _emit_pending(session: Session) -> None:
    # Emitted only after commit, so the journal never shows events that rolled back.
    for _savepoint, fields in session.info.pop(_PENDING, []):
        journal.info(canonical(fields).decode())


def _drop_rolled_back_savepoint(session: Session, previous: SessionTransaction) -> None:
    # Events written inside a savepoint that rolled back never happened: keep them out of
    # the journal too.
    if previous.nested and session.info.get(_PENDING):
        session.info[_PENDING] = [(sp, f) for sp, f in session.info[_PENDING] if sp != id(previous)]


def _drop_pending_at_end(session: Session, transaction: SessionTransaction) -> None:
    # The remembered head is only valid while the lock is held: forget it when the
    # transaction or a savepoint ends (not a flush's inner transaction); the next append
    # reads the head again.
    if transaction.parent is None or transaction.nested:
        session.info.pop(_HEAD, None)
    # When the outermost transaction ends without a commit (rollback, or close), its events
    # never happened: the journal must not show them. (After a commit the list is empty.)
    if transaction.parent is None:
        session.info.pop(_PENDING, None)
