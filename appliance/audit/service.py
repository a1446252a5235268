"""Appending to the hash-chained logbook, and the chain lock every writer takes."""

from __future__ import annotations

import logging
import uuid

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from appliance.actors import Actor
from appliance.audit.chain import GENESIS, HEAD_ROW, canonical, chain_hash, event_fields
from appliance.audit.models import AuditEvent, AuditHead
from appliance.audit.verify import ChainReport, ChainVerifier, Progress
from appliance.clock import Clock

# Re-exported: callers and tests import the chain's encoding and the report from here.
__all__ = ["GENESIS", "HEAD_ROW", "ChainReport", "Logbook", "canonical", "chain_hash", "event_fields", "lock_chain"]

journal = logging.getLogger("appliance.audit")
_PENDING = "appliance.audit.pending"
_HEAD = "appliance.audit.head"


def lock_chain(session: Session) -> tuple[int, bytes]:
    """The chain head (seq, hash), locked until the session's transaction (or savepoint) ends.
    Everything that appends to or cuts the chain takes it first."""
    head: tuple[int, bytes] | None = session.info.get(_HEAD)
    if head is None:
        # UPDATE first: it takes the write lock on SQLite, a row lock on PostgreSQL and
        # SQL Server, so concurrent appends queue up instead of forking the chain.
        session.execute(sa.update(AuditHead).where(AuditHead.id == HEAD_ROW).values(seq=AuditHead.seq))
        row = session.execute(sa.select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == HEAD_ROW)).one()
        head = (row.seq, row.hash)
        # While this transaction holds the lock, nobody else can move the head.
        session.info[_HEAD] = head
    return head


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
        head = lock_chain(session)
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
        session.info[_HEAD] = (entry.seq, entry.hash)
        savepoint = session.get_nested_transaction()
        session.info.setdefault(_PENDING, []).append((id(savepoint) if savepoint else None, fields))
        return entry.seq

    def verify(self, batch: int = 5000, *, checkpoint_key: bytes | None = None,
               progress: Progress | None = None) -> ChainReport:
        """Walk the chain from genesis, or from the newest signed checkpoint once old events
        were pruned (``checkpoint_key`` checks the signatures); report the first event whose
        hash or link is wrong."""
        return ChainVerifier(self._session, checkpoint_key).verify(batch, progress)


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
