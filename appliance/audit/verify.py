"""Proving the logbook untouched: from genesis, or from the newest signed checkpoint once
old events have been pruned."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from appliance.audit.chain import GENESIS, HEAD_ROW, chain_hash, event_fields
from appliance.audit.checkpoints import checkpoint_is_genuine
from appliance.audit.models import AuditCheckpoint, AuditEvent, AuditHead
from appliance.errors import ApplianceError

Progress = Callable[[int], None]


@dataclass(frozen=True)
class ChainReport:
    """The outcome of a walk. ``events`` were verified (before ``broken_seq`` when broken);
    the walk began at ``from_seq``, after the checkpoint anchored at ``checkpoint_seq`` (None:
    from genesis); ``checkpoints`` signed checkpoints were found genuine."""

    ok: bool
    events: int
    broken_seq: int | None = None
    reason: str | None = None
    from_seq: int = 1
    checkpoint_seq: int | None = None
    checkpoints: int = 0


class LogbookBroken(ApplianceError):
    """The logbook's hash chain is broken."""

    def __init__(self, report: ChainReport) -> None:
        super().__init__(report)
        self.report = report

    def message(self) -> str:
        return (f"logbook broken at event {self.report.broken_seq}: {self.report.reason}; "
                "run `appliance audit verify`")


@dataclass(frozen=True)
class ChainStart:
    """Where a walk begins: the anchor (0 and GENESIS before any prune), and the signed head
    the walk must pass exactly (None before any prune)."""

    anchor_seq: int
    anchor_hash: bytes
    must_pass: tuple[int, bytes] | None = None
    checkpoint_seq: int | None = None
    checkpoints: int = 0


@dataclass(frozen=True)
class Walk:
    report: ChainReport
    last_seq: int
    last_hash: bytes


class ChainVerifier:
    """Walks the chain from its start; ``checkpoint_key`` checks the checkpoints' signatures
    (without it, a pruned logbook cannot be proved and is reported as not OK)."""

    def __init__(self, session: Session, checkpoint_key: bytes | None) -> None:
        self._session = session
        self._key = checkpoint_key

    def verify(self, batch: int = 5000, progress: Progress | None = None) -> ChainReport:
        """Check every checkpoint's signature, then walk the chain from the newest one (or
        from genesis) to ``audit_head``; report the first thing that is wrong."""
        try:
            start = self.start()
        except LogbookBroken as exc:
            return exc.report
        walk = self.walk(start, batch=batch, progress=progress)
        if not walk.report.ok:
            return walk.report
        head = self._session.get(AuditHead, HEAD_ROW)
        if head is None or head.seq != walk.last_seq or head.hash != walk.last_hash:
            return self._report(start, False, walk.report.events, walk.last_seq + 1,
                                "chain head does not match the last event")
        return walk.report

    def start(self) -> ChainStart:
        """The newest checkpoint's anchor, after checking every checkpoint's signature (a
        forged or edited one is tampering even when it is not the newest)."""
        checkpoints = self._session.execute(
            sa.select(AuditCheckpoint).order_by(AuditCheckpoint.seq.desc())).scalars().all()
        if not checkpoints:
            return ChainStart(0, GENESIS)
        newest = checkpoints[0]
        if self._key is None:
            raise LogbookBroken(ChainReport(False, 0, newest.seq + 1, "the logbook was pruned: proving it needs "
                                            "the checkpoint key", newest.seq + 1, newest.seq))
        for cp in checkpoints:
            if not checkpoint_is_genuine(self._key, cp):
                raise LogbookBroken(ChainReport(False, 0, cp.seq, "checkpoint forged or edited (its signature "
                                                "does not match)", newest.seq + 1, cp.seq))
        return ChainStart(newest.seq, newest.hash, (newest.head_seq, newest.head_hash), newest.seq, len(checkpoints))

    def walk(self, start: ChainStart, *, through: int | None = None, batch: int = 5000,
             progress: Progress | None = None) -> Walk:
        """Recompute each event's hash and link from ``start`` up to ``through`` (default:
        the last event). The walk must pass the start's signed head exactly."""
        prev, expected_seq, count = start.anchor_hash, start.anchor_seq + 1, 0
        session = self._session
        while through is None or expected_seq <= through:
            query = sa.select(AuditEvent).where(AuditEvent.seq >= expected_seq).order_by(AuditEvent.seq).limit(batch)
            if through is not None:
                query = query.where(AuditEvent.seq <= through)
            rows = session.execute(query).scalars().all()
            if not rows:
                break
            for entry in rows:
                problem = None
                if entry.seq != expected_seq:
                    problem = (expected_seq, "event missing")
                elif entry.prev_hash != prev:
                    problem = (entry.seq, "link to previous event broken")
                elif chain_hash(prev, event_fields(entry)) != entry.hash:
                    problem = (entry.seq, "event content changed")
                elif start.must_pass and entry.seq == start.must_pass[0] and entry.hash != start.must_pass[1]:
                    # Every link and hash checked out, yet the signed head differs: the events
                    # since the checkpoint's anchor were rewritten and re-hashed.
                    problem = (entry.seq, "chain differs from the signed checkpoint (events before it were "
                               "rewritten)")
                if problem:
                    return Walk(self._report(start, False, count, *problem), expected_seq - 1, prev)
                prev, expected_seq, count = entry.hash, expected_seq + 1, count + 1
            for entry in rows:  # free memory, but never detach objects the caller holds
                session.expunge(entry)
            if progress:
                progress(len(rows))
        signed_head = start.must_pass[0] if start.must_pass else 0
        if expected_seq <= signed_head and (through is None or through >= signed_head):
            # The tail up to the signed head is gone (and audit_head moved back with it).
            return Walk(self._report(start, False, count, expected_seq, "event missing"), expected_seq - 1, prev)
        return Walk(self._report(start, True, count), expected_seq - 1, prev)

    @staticmethod
    def _report(start: ChainStart, ok: bool, events: int, broken_seq: int | None = None,
                reason: str | None = None) -> ChainReport:
        return ChainReport(ok, events, broken_seq, reason, start.anchor_seq + 1, start.checkpoint_seq,
                           start.checkpoints)
