"""Exporting a run of the logbook that a reader can check on its own.

An export is a contiguous run of the chain: from the first event at or after ``since`` up
to the event before the first one at or after ``until`` (default: the head when the export
began). Its header names the anchor (the hash the first exported event links to) and the
last event's stored hash, so a reader recomputes every hash with :func:`chain_hash` (for
the JSON lines format: sha256(previous hash + the line's bytes)) and compares the result;
the newest checkpoint is included for reference. Events hold ids, never personal data.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from appliance.audit.chain import HEAD_ROW, event_fields
from appliance.audit.checkpoints import checkpoint_fields
from appliance.audit.models import AuditCheckpoint, AuditEvent, AuditHead

EXPORT_FORMAT = "appliance-logbook-export/1"


@dataclass(frozen=True)
class ExportPlan:
    """What an export will hold, fixed before the first event is read."""

    since: dt.datetime
    until: dt.datetime | None
    first_seq: int | None  # None: no event in the range
    last_seq: int | None
    events: int
    anchor_hash: bytes | None  # the first exported event's prev_hash
    last_hash: bytes | None
    checkpoint: dict[str, Any] | None

    def header(self) -> dict[str, Any]:
        """The export's first line (JSON lines) or its "export" member (JSON)."""
        return {
            "format": EXPORT_FORMAT,
            "since": self.since.isoformat(),
            "until": self.until.isoformat() if self.until else None,
            "anchor_seq": self.first_seq - 1 if self.first_seq is not None else None,
            "anchor_hash": self.anchor_hash.hex() if self.anchor_hash is not None else None,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "last_hash": self.last_hash.hex() if self.last_hash is not None else None,
            "events": self.events,
            "checkpoint": self.checkpoint,
        }


class LogbookExport:
    """Reads a time range of the logbook in batches, in chain order."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def plan(self, since: dt.datetime, until: dt.datetime | None = None) -> ExportPlan:
        """Fix the range; events appended while the export runs are left for the next one."""
        session = self._session
        head = session.execute(sa.select(AuditHead.seq).where(AuditHead.id == HEAD_ROW)).scalar_one()
        checkpoint = self.newest_checkpoint()
        first = self._first_at_or_after(since, 0, head)
        if first is not None and until is not None:
            stop = self._first_at_or_after(until, first - 1, head)
            last = head if stop is None else stop - 1
        else:
            last = head
        if first is None or last < first:
            return ExportPlan(since, until, None, None, 0, None, None, checkpoint)
        count = session.execute(sa.select(sa.func.count()).where(AuditEvent.seq.between(first, last))).scalar_one()
        return self.run(since, until, first, last, int(count), checkpoint)

    def run(self, since: dt.datetime, until: dt.datetime | None, first: int | None, last: int | None, events: int,
            checkpoint: dict[str, Any] | None = None) -> ExportPlan:
        """The plan of a run of the chain whose ends the caller found (None: nothing to export):
        its anchor and last hash read by primary key, two look-ups whatever the run's length."""
        if first is None or last is None or last < first:
            return ExportPlan(since, until, None, None, 0, None, None, checkpoint)
        first_event, last_event = self._session.get_one(AuditEvent, first), self._session.get_one(AuditEvent, last)
        return ExportPlan(since, until, first, last, events, first_event.prev_hash, last_event.hash, checkpoint)

    def newest_checkpoint(self) -> dict[str, Any] | None:
        newest = self._session.execute(
            sa.select(AuditCheckpoint).order_by(AuditCheckpoint.seq.desc()).limit(1)).scalar()
        return checkpoint_fields(newest) if newest else None

    def events(self, plan: ExportPlan, batch: int = 1000) -> Iterator[dict[str, Any]]:
        """The planned events' chain fields (exactly what each hash covers), in order."""
        if plan.first_seq is None or plan.last_seq is None:
            return
        after = plan.first_seq - 1
        while after < plan.last_seq:
            rows = self._session.execute(
                sa.select(AuditEvent).where(AuditEvent.seq > after, AuditEvent.seq <= plan.last_seq)
                .order_by(AuditEvent.seq).limit(batch)).scalars().all()
            if not rows:
                return
            for entry in rows:
                yield event_fields(entry)
                self._session.expunge(entry)
            after = rows[-1].seq

    def _first_at_or_after(self, moment: dt.datetime, after_seq: int, head: int) -> int | None:
        first = self._session.execute(
            sa.select(sa.func.min(AuditEvent.seq)).where(AuditEvent.seq > after_seq, AuditEvent.seq <= head,
                                                         AuditEvent.occurred_at >= moment)).scalar_one()
        return None if first is None else int(first)
