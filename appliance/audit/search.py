"""Searching one tenant's part of the logbook: filters, and keyset pages newest first.

A page is cut on the event's sequence number (``seq < cursor``), never with OFFSET, so the
thousandth page costs what the first does (migration 0014's indexes lead with the tenant).
A time range is cut in chain order, for a page and an export alike: it becomes the seq range from the
tenant's first event at or after ``since`` to the last before its first event at or after
``until``, each end found by one seek on the (tenant, time, seq) index (migration 0017), so a
day in the middle of a large logbook costs what the newest page does. Appends take the chain
lock and stamp the time under it, so time and seq rise together; were a host's clock to step
back, the cut is still one contiguous run of the chain. (`appliance audit export` cuts the whole
chain by time; the room's export is one tenant's, cut by that tenant's own events.)
The cursor is signed and bound to the tenant and the filters it was made for: a cursor that
was edited, or carried over to another tenant or another search, is refused, not followed.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from appliance.audit.chain import HEAD_ROW, canonical, event_fields
from appliance.audit.export import LogbookExport
from appliance.audit.models import AuditEvent, AuditHead
from appliance.errors import InvalidInput

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)  # "since the beginning" for an export without a start
PAGE_SIZE = 50
MAX_TERM = 64  # the widest of actor_id, action and object_id
_CURSOR_PURPOSE = "appliance logbook cursor v1"


@dataclass(frozen=True)
class LogbookQuery:
    """What an auditor asks for: always one tenant; every other filter is optional. ``until``
    is exclusive (events before it), as in `appliance audit export`."""

    tenant_id: uuid.UUID
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    actor_id: str | None = None
    action: str | None = None
    object_id: str | None = None

    def __post_init__(self) -> None:
        for name in ("actor_id", "action", "object_id"):
            value = getattr(self, name)
            if value is not None and (len(value) > MAX_TERM or not value.isprintable()):
                raise InvalidInput(name, f"at most {MAX_TERM} printable characters")
        if self.since and self.until and self.until <= self.since:
            raise InvalidInput("until", "must be later than since")

    def filters(self) -> dict[str, Any]:
        """The filters as plain JSON values (an export's header names them)."""
        return {
            "tenant": str(self.tenant_id),
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "actor_id": self.actor_id,
            "action": self.action,
            "object_id": self.object_id,
        }

    def where(self, *, times: bool = True) -> list[sa.ColumnElement[bool]]:
        """The SQL conditions; ``times=False`` leaves the time range to the caller (an export
        cuts it in chain order, as the CLI does)."""
        clauses = [AuditEvent.tenant_id == self.tenant_id]
        if times and self.since is not None:
            clauses.append(AuditEvent.occurred_at >= self.since)
        if times and self.until is not None:
            clauses.append(AuditEvent.occurred_at < self.until)
        if self.actor_id is not None:
            clauses.append(AuditEvent.actor_id == self.actor_id)
        if self.action is not None:
            clauses.append(AuditEvent.action == self.action)
        if self.object_id is not None:
            clauses.append(AuditEvent.object_id == self.object_id)
        return clauses


def parse_moment(field: str, value: str) -> dt.datetime:
    """An ISO 8601 date or date-time (a form's ``datetime-local`` too); UTC without an offset."""
    try:
        moment = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput(field, "not an ISO date or time, e.g. 2026-03-01 or 2026-03-01T08:00") from None
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


@dataclass(frozen=True)
class LoggedEvent:
    """One event as an auditor reads it: ids and fixed words, never content."""

    seq: int
    occurred_at: dt.datetime
    actor_type: str
    actor_id: str | None
    action: str
    object_type: str | None
    object_id: str | None
    detail: str | None


@dataclass(frozen=True)
class LogbookPage:
    events: list[LoggedEvent]
    next_cursor: str | None  # None: this is the last page


class LogbookSearch:
    """One tenant's logbook events, filtered, newest first; and the same as an export."""

    def __init__(self, session: Session, cursor_key: bytes, page_size: int = PAGE_SIZE) -> None:
        self._session = session
        self._key = cursor_key
        self._page_size = page_size

    def page(self, query: LogbookQuery, cursor: str | None = None) -> LogbookPage:
        """The events before ``cursor`` (from the newest when None); InvalidInput for a cursor
        this search did not hand out."""
        before = self._open_cursor(query, cursor) if cursor else None
        statement = sa.select(AuditEvent).where(*query.where(times=False), *self._seq_range(query))
        if before is not None:
            statement = statement.where(AuditEvent.seq < before)
        rows = self._session.execute(
            statement.order_by(AuditEvent.seq.desc()).limit(self._page_size + 1)).scalars().all()
        events = [_logged(row) for row in rows[:self._page_size]]
        for row in rows:
            self._session.expunge(row)
        more = len(rows) > self._page_size
        return LogbookPage(events, self._cursor(query, events[-1].seq) if more else None)

    def export_lines(self, query: LogbookQuery, batch: int = 1000) -> Iterator[list[str]]:
        """The export as JSON lines, oldest first, in the format of `appliance audit export`: its
        header, then each event of the tenant that passes the filters as the canonical JSON its
        chain hash covers, byte for byte the CLI's line for that event. The time range is cut as
        a search cuts it (one seek at each end on the (tenant, time, seq) index, never a scan of
        the chain), so the export holds exactly the events the search's pages show. The header
        names the run of the chain from the tenant's first to its last event in the range
        (``first_seq``, ``anchor_hash``: the hash that first event links to; ``last_seq``,
        ``last_hash``), the filters, and ``events``: how many lines follow. Events appended while
        the export runs are left for the next one. Yields the lines in batches (the header alone
        first), so a caller can end its transaction between them."""
        head = self._session.execute(sa.select(AuditHead.seq).where(AuditHead.id == HEAD_ROW)).scalar_one()
        cut = [*self._seq_range(query), AuditEvent.seq <= head]
        conditions = [*query.where(times=False), *cut]
        run = self._session.execute(sa.select(sa.func.min(AuditEvent.seq), sa.func.max(AuditEvent.seq)).where(
            AuditEvent.tenant_id == query.tenant_id, *cut)).one()
        count = self._session.execute(sa.select(sa.func.count()).where(*conditions)).scalar_one()
        exporter = LogbookExport(self._session)
        plan = exporter.run(query.since or EPOCH, query.until, run[0], run[1], int(count), exporter.newest_checkpoint())
        yield [canonical({**plan.header(), "filter": query.filters()}).decode()]
        if plan.first_seq is None:
            return
        after = plan.first_seq - 1
        while True:
            rows = self._session.execute(sa.select(AuditEvent).where(*conditions, AuditEvent.seq > after)
                                         .order_by(AuditEvent.seq).limit(batch)).scalars().all()
            if not rows:
                return
            lines = [canonical(event_fields(row)).decode() for row in rows]
            after = rows[-1].seq
            for row in rows:
                self._session.expunge(row)
            yield lines

    def _seq_range(self, query: LogbookQuery) -> list[sa.ColumnElement[bool]]:
        """The query's time range as conditions on seq (nothing for no range; false for an empty one)."""
        clauses: list[sa.ColumnElement[bool]] = []
        if query.since is not None:
            first = self._first_seq_at_or_after(query.tenant_id, query.since)
            if first is None:
                return [sa.false()]
            clauses.append(AuditEvent.seq >= first)
        if query.until is not None:
            stop = self._first_seq_at_or_after(query.tenant_id, query.until)
            if stop is not None:
                clauses.append(AuditEvent.seq < stop)
        return clauses

    def _first_seq_at_or_after(self, tenant_id: uuid.UUID, moment: dt.datetime) -> int | None:
        seq = self._session.execute(
            sa.select(AuditEvent.seq).where(AuditEvent.tenant_id == tenant_id, AuditEvent.occurred_at >= moment)
            .order_by(AuditEvent.occurred_at, AuditEvent.seq).limit(1)).scalar()
        return None if seq is None else int(seq)

    def _cursor(self, query: LogbookQuery, seq: int) -> str:
        return f"{seq}.{self._mac(query, seq)}"

    def _open_cursor(self, query: LogbookQuery, cursor: str) -> int:
        seq_text, _, mac = cursor.partition(".")
        if not (seq_text.isdecimal() and len(seq_text) <= 19 and mac):
            raise InvalidInput("cursor", "not a page of this search")
        seq = int(seq_text)
        if not hmac.compare_digest(mac, self._mac(query, seq)):
            raise InvalidInput("cursor", "not a page of this search")
        return seq

    def _mac(self, query: LogbookQuery, seq: int) -> str:
        message = canonical({"purpose": _CURSOR_PURPOSE, "seq": seq, **query.filters()})
        digest = hmac.new(self._key, message, hashlib.sha256).digest()[:16]
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _logged(row: AuditEvent) -> LoggedEvent:
    return LoggedEvent(row.seq, row.occurred_at, row.actor_type, row.actor_id, row.action, row.object_type,
                       row.object_id, row.detail)
