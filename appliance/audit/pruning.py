"""Pruning old logbook events without losing the proof of what is left.

A prune cuts the chain at one place: it deletes the oldest run of events, writes the
``audit.pruned`` event and stores a signed checkpoint naming both ends of what it leaves
(the anchor: the last event deleted; the head: that ``audit.pruned`` event).

The rule that keeps every prune verifiable: the cut never goes past the chain head as it
stands under the lock, and the prune always appends its own event after the cut. A cut
that left no event after the anchor would leave nothing to link to it, and a tail
deleted by an intruder could not be told from a pruned one. Here, whatever the cutoff
(even one in the future, even past the newest checkpoint's head: the new checkpoint takes
over from the old one), at least one event follows the anchor, and the newest
checkpoint's head is an event that stays until a later prune writes a newer checkpoint.
So the verifier can always link the first kept event to the anchor and must walk
through the signed head, which finds any kept event up to there that was edited,
deleted, or rewritten and re-hashed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from appliance.actors import SYSTEM, Actor
from appliance.audit.checkpoints import sign_checkpoint
from appliance.audit.models import AuditCheckpoint, AuditEvent
from appliance.audit.service import Logbook, lock_chain
from appliance.audit.verify import ChainVerifier, LogbookBroken
from appliance.clock import Clock


@dataclass(frozen=True)
class PruneResult:
    """How many events were deleted, and the new checkpoint's anchor (None: nothing was old
    enough, so nothing was deleted or written)."""

    events_pruned: int
    checkpoint_seq: int | None


class AuditPruner:
    """Deletes logbook events older than a cutoff and leaves a signed checkpoint, so
    `appliance audit verify` still proves the rest. Never commits: the caller does."""

    def __init__(self, session: Session, clock: Clock, checkpoint_key: bytes, batch: int = 5000) -> None:
        self._session = session
        self._clock = clock
        self._key = checkpoint_key
        self._batch = batch

    def preview(self, cutoff: dt.datetime) -> int:
        """How many events :meth:`prune` would delete now (for dry runs; takes no lock)."""
        session = self._session
        anchor = session.execute(sa.select(sa.func.max(AuditCheckpoint.seq))).scalar_one() or 0
        head = session.execute(sa.select(sa.func.max(AuditEvent.seq))).scalar_one() or 0
        cut = self._cut(cutoff, anchor, head)
        return int(session.execute(sa.select(sa.func.count()).where(AuditEvent.seq <= cut)).scalar_one())

    def prune(self, cutoff: dt.datetime, actor: Actor = SYSTEM) -> PruneResult:
        """Delete the events that occurred before ``cutoff``, in batches, within the caller's
        transaction; record ``audit.pruned`` (counts only) and a signed checkpoint.

        Refuses (``LogbookBroken``, nothing deleted) when the part to be deleted, or the kept
        part up to the current checkpoint's head, does not verify: signing a new checkpoint
        over it would launder the tampering."""
        session = self._session
        head_seq, _ = lock_chain(session)  # no append can slip in between the cut and the checkpoint
        verifier = ChainVerifier(session, self._key)
        start = verifier.start()
        cut = self._cut(cutoff, start.anchor_seq, head_seq)
        if cut <= start.anchor_seq:
            return PruneResult(0, None)
        through = max(cut, start.must_pass[0] if start.must_pass else 0)
        walk = verifier.walk(start, through=through, batch=self._batch)
        if not walk.report.ok:
            raise LogbookBroken(walk.report)
        anchor_hash = session.execute(sa.select(AuditEvent.hash).where(AuditEvent.seq == cut)).scalar_one()

        deleted = 0
        # Batches bound each statement's locks and log (SQL Server escalates big deletes to a
        # table lock); the first one also takes any stray older rows.
        for upper in range(start.anchor_seq + self._batch, cut + self._batch, self._batch):
            result = session.execute(sa.delete(AuditEvent).where(AuditEvent.seq <= min(upper, cut))
                                     .execution_options(synchronize_session=False))
            deleted += result.rowcount  # type: ignore[attr-defined]

        Logbook(session, self._clock).record("audit.pruned", actor, object_type="logbook",
                                             detail=f"events={deleted} through_seq={cut}")
        new_head_seq, new_head_hash = lock_chain(session)
        checkpoint = AuditCheckpoint(seq=cut, hash=anchor_hash, head_seq=new_head_seq, head_hash=new_head_hash,
                                     pruned_before=cutoff.astimezone(dt.UTC), events_pruned=deleted,
                                     created_at=self._clock())
        checkpoint.signature = sign_checkpoint(self._key, checkpoint)
        session.add(checkpoint)
        session.flush()
        return PruneResult(deleted, cut)

    def _cut(self, cutoff: dt.datetime, anchor_seq: int, head_seq: int) -> int:
        """The last event to delete: the one before the first event at or after ``cutoff``.
        A chain can only be cut at one place, so an old-stamped event behind a newer one (a
        host whose clock was behind) waits for the next prune."""
        first_kept = self._session.execute(
            sa.select(sa.func.min(AuditEvent.seq)).where(AuditEvent.seq > anchor_seq, AuditEvent.seq <= head_seq,
                                                          AuditEvent.occurred_at >= cutoff)).scalar_one()
        return head_seq if first_kept is None else int(first_kept) - 1
