"""The handler's work queue: keyset pages over any number of cases, every filter in SQL.

A page is cut on the sort's columns plus the case id (``(next_due_at, id)``,
``(received_at, id)`` or ``(status_rank, received_at, id)``), never with OFFSET: each sort has
its index (migration 0018) and the thousandth page costs what the first does. A report that
arrives while a handler pages lands before or after the page they are on, never in it twice,
and no case is skipped. "Overdue" is ``next_due_at < now``, the same answer as
appliance.cases.deadlines for every case (next_due_at is the earliest pending deadline).

The cursor is signed and bound to the handler and the search it was made for: a cursor that
was edited, or carried over to another user or another search, is refused, not followed.
The queue reads metadata only: it never decrypts anything.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import hashlib
import hmac
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import InstrumentedAttribute, Session

from appliance.actors import Role, StaffPrincipal
from appliance.cases.deadlines import Deadlines, deadlines_for
from appliance.cases.models import Case, CasePrivateKeySeal
from appliance.cases.queue_filter import QueueFilter, QueueSort
from appliance.cases.read_models import QueueRow
from appliance.cases.workflow import Status
from appliance.clock import Clock
from appliance.crypto.sealing import fingerprint, public_key_of
from appliance.errors import InvalidInput
from appliance.tenants.models import ReportingChannel

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
MAX_CURSOR = 512
_CURSOR_PURPOSE = "appliance queue cursor v1"
# What a queue row shows and its deadlines need. The sealed report and the wrapped key are
# not fetched at all: on PostgreSQL their bytea alone made the queue ~1.3x slower.
QUEUE_COLUMNS = (Case.tenant_id, Case.public_key, Case.reference, Case.category_id, Case.status, Case.received_at,
                 Case.acknowledged_at, Case.feedback_at, Case.assignee_id, Case.last_reporter_message_at,
                 Case.handler_read_at, Case.next_due_at, Case.status_rank)
SORT_KEYS: dict[QueueSort, tuple[InstrumentedAttribute[Any], ...]] = {
    QueueSort.DEADLINE: (Case.next_due_at, Case.id),
    QueueSort.RECEIVED: (Case.received_at, Case.id),
    QueueSort.STATUS: (Case.status_rank, Case.received_at, Case.id),
}


def case_deadlines(case: Case, now: dt.datetime) -> Deadlines:
    return deadlines_for(case.received_at, case.acknowledged_at, case.feedback_at, case.status == Status.CLOSED, now)


def queue_row(case: Case, now: dt.datetime, accessible: bool = True) -> QueueRow:
    """A work-queue line from a case's metadata (never its sealed content)."""
    unread = case.last_reporter_message_at is not None and (
        case.handler_read_at is None or case.last_reporter_message_at > case.handler_read_at)
    return QueueRow(case.id, case.tenant_id, case.reference, case.category_id, case.status,
                    case.received_at, case.assignee_id, case_deadlines(case, now), unread, accessible)


@dataclass(frozen=True)
class QueuePage:
    rows: list[QueueRow]
    next_cursor: str | None  # None: nothing after this page
    previous_cursor: str | None  # None: this is the first page


def readable_ids(session: Session, principal: StaffPrincipal, case_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """Which of these cases hold a copy sealed to the principal's current key."""
    if not case_ids or principal.private_key is None:
        return set()
    mine = fingerprint(public_key_of(principal.private_key))
    found: set[uuid.UUID] = set()
    for start in range(0, len(case_ids), 500):  # SQL Server allows ~2100 parameters
        found.update(session.execute(sa.select(CasePrivateKeySeal.case_id).where(
            CasePrivateKeySeal.case_id.in_(case_ids[start:start + 500]), CasePrivateKeySeal.user_id == principal.user_id,
            CasePrivateKeySeal.recipient_fingerprint == mine)).scalars())
    return found


def _ordered(keys: Sequence[Any], descending: bool) -> list[sa.ColumnElement[Any]]:
    return [key.desc() if descending else key.asc() for key in keys]


@dataclass(frozen=True)
class _Shape:
    """What a page's statement looks like, without its values: the statement is built once
    per shape and run with the values as bound parameters (SQLAlchemy then reuses its
    compiled form too)."""

    sort: QueueSort
    descending: bool
    after: bool  # from a cursor's position
    my_copy: bool  # the principal holds a key: ask for their sealed copy
    status: bool
    open_only: bool
    category: bool
    overdue: bool
    reference: str  # "", "exact" or "prefix"
    limit: int


@functools.lru_cache(maxsize=256)
def _statement(shape: _Shape) -> sa.Select[Any]:
    tenants: sa.BindParameter[Any] = sa.bindparam("tenants", expanding=True)
    clauses: list[sa.ColumnElement[bool]] = [Case.tenant_id.in_(tenants)]
    # A report of a channel with readers of its own is in the queue only of those it was sealed to.
    defaults = sa.select(ReportingChannel.id).where(ReportingChannel.is_default.is_(True),
                                                    ReportingChannel.tenant_id.in_(tenants))
    sealed_to_me = sa.select(CasePrivateKeySeal.case_id).where(CasePrivateKeySeal.user_id == sa.bindparam("user"))
    clauses.append(sa.or_(Case.reporting_channel_id.is_(None), Case.reporting_channel_id.in_(defaults),
                          Case.id.in_(sealed_to_me)))
    if shape.status:
        clauses.append(Case.status == sa.bindparam("status"))
    elif shape.open_only:
        clauses.append(Case.status != Status.CLOSED.value)
    if shape.category:
        clauses.append(Case.category_id == sa.bindparam("category"))
    if shape.overdue:
        clauses.append(Case.next_due_at < sa.bindparam("now"))  # deadlines_for: overdue when now > due
    if shape.reference == "exact":
        clauses.append(Case.reference == sa.bindparam("reference"))
    elif shape.reference == "prefix":
        clauses.append(Case.reference.like(sa.bindparam("reference")))  # REFERENCE_CHARS: no % or _
    keys = SORT_KEYS[shape.sort]
    if shape.after:
        clauses.append(_beyond(keys, [sa.bindparam(f"after_{i}") for i in range(len(keys))], shape.descending))
    # The page first (the sort's index, LIMIT), then for its rows only whether the handler
    # holds a copy sealed to their current key: at most page_size seeks on the unique
    # (case_id, recipient_fingerprint), in the same statement. Asked of every case matched
    # instead, PostgreSQL hashes all of the handler's copies, or without statistics (just
    # after a restore) joins them row by row against every open case.
    page = (sa.select(Case.id, *QUEUE_COLUMNS).where(*clauses)
            .order_by(*_ordered(keys, shape.descending)).limit(shape.limit).subquery("page"))
    if shape.my_copy:
        # 1 where the copy exists: no id to convert per row
        my_copy: sa.ColumnElement[Any] = sa.select(sa.literal_column("1")).where(
            CasePrivateKeySeal.case_id == page.c.id, CasePrivateKeySeal.user_id == sa.bindparam("user"),
            CasePrivateKeySeal.recipient_fingerprint == sa.bindparam("fingerprint"),
        ).scalar_subquery()
    else:
        my_copy = sa.null()
    in_page = [page.c[key.key] for key in keys]
    return sa.select(page, my_copy.label("my_copy")).order_by(*_ordered(in_page, shape.descending))


class CaseQueue:
    """The cases a handler may work on, a page at a time."""

    def __init__(self, session: Session, clock: Clock, cursor_key: bytes) -> None:
        self._session = session
        self._clock = clock
        self._key = cursor_key

    def page(self, principal: StaffPrincipal, filters: QueueFilter, cursor: str | None = None,
             page_size: int = PAGE_SIZE) -> QueuePage:
        """One page of the search; ``cursor`` (from a page before) says where it starts.
        InvalidInput for a cursor this handler's search did not hand out, or a page size out of range."""
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise InvalidInput("page_size", f"between 1 and {MAX_PAGE_SIZE}")
        position = self._open_cursor(principal, filters, page_size, cursor) if cursor else None
        tenants = self._tenants(principal, filters)
        if not tenants:
            return QueuePage([], None, None)
        keys = SORT_KEYS[filters.sort]
        backwards = position is not None and position[0]
        descending = filters.is_descending != backwards  # a previous page is read in reverse
        reference = "" if not filters.reference else (
            "exact" if len(filters.reference) == len("XXXX-XXXX") else "prefix")
        shape = _Shape(filters.sort, descending, position is not None, principal.private_key is not None,
                       filters.status is not None, filters.open_only, filters.category_id is not None,
                       filters.overdue_only, reference, page_size + 1)
        now = self._clock()
        values: dict[str, Any] = {"tenants": tenants, "user": principal.user_id}
        if principal.private_key is not None:
            values["fingerprint"] = fingerprint(public_key_of(principal.private_key))
        if filters.status is not None:
            values["status"] = filters.status
        if filters.category_id is not None:
            values["category"] = filters.category_id
        if filters.overdue_only:
            values["now"] = now
        if filters.reference:
            values["reference"] = filters.reference + ("" if reference == "exact" else "%")
        if position is not None:
            values |= {f"after_{i}": value for i, value in enumerate(position[1])}
        cases: list[Any] = list(self._session.execute(_statement(shape), values).all())
        more = len(cases) > page_size
        cases = cases[:page_size]
        if backwards:
            cases.reverse()
        rows = [queue_row(case, now, case.public_key is None or case.my_copy is not None) for case in cases]
        if not cases:
            if position is None:
                return QueuePage([], None, None)
            # Nothing beyond the cursor (the cases there were closed meanwhile): the way back.
            return QueuePage([], self._cursor(principal, filters, page_size, False, position[1]) if backwards else None,
                             None if backwards else self._cursor(principal, filters, page_size, True, position[1]))
        first, last = _values(cases[0], keys), _values(cases[-1], keys)
        has_next = more if not backwards else True
        has_previous = (position is not None) if not backwards else more
        return QueuePage(rows,
                         self._cursor(principal, filters, page_size, False, last) if has_next else None,
                         self._cursor(principal, filters, page_size, True, first) if has_previous else None)

    @staticmethod
    def _tenants(principal: StaffPrincipal, filters: QueueFilter) -> list[uuid.UUID]:
        tenants = principal.tenants_with(Role.HANDLER)
        if filters.tenant_id is not None:
            tenants = tenants & {filters.tenant_id}
        return sorted(tenants)

    # --- cursors ------------------------------------------------------------------------
    def _cursor(self, principal: StaffPrincipal, filters: QueueFilter, page_size: int, before: bool,
                values: list[Any]) -> str:
        body = json.dumps({"b": int(before), "k": values}, separators=(",", ":")).encode()
        encoded = base64.urlsafe_b64encode(body).decode().rstrip("=")
        return f"{encoded}.{self._mac(principal, filters, page_size, encoded)}"

    def _open_cursor(self, principal: StaffPrincipal, filters: QueueFilter, page_size: int,
                     cursor: str) -> tuple[bool, list[Any]]:
        """(backwards, the sort keys' values) from a cursor this search handed out."""
        encoded, _, mac = cursor.partition(".")
        if len(cursor) > MAX_CURSOR or not encoded or not mac or not hmac.compare_digest(
                mac.encode(), self._mac(principal, filters, page_size, encoded).encode()):
            raise InvalidInput("cursor", "not a page of this search")
        try:
            body = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
            raw = body["k"]
            keys = SORT_KEYS[filters.sort]
            if not isinstance(raw, list) or len(raw) != len(keys) or body["b"] not in (0, 1):
                raise ValueError("shape")
            return bool(body["b"]), [_parse(key, value) for key, value in zip(keys, raw, strict=True)]
        except (ValueError, KeyError, TypeError, binascii.Error):
            # signed by us yet unreadable: only a change of format makes this
            raise InvalidInput("cursor", "not a page of this search") from None

    def _mac(self, principal: StaffPrincipal, filters: QueueFilter, page_size: int, encoded: str) -> str:
        message = json.dumps({"purpose": _CURSOR_PURPOSE, "user": str(principal.user_id), "size": page_size,
                              "search": filters.to_args(), "position": encoded},
                             sort_keys=True, separators=(",", ":")).encode()
        digest = hmac.new(self._key, message, hashlib.sha256).digest()[:16]
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _beyond(keys: Sequence[InstrumentedAttribute[Any]], values: Sequence[Any],
            descending: bool) -> sa.ColumnElement[bool]:
    """Rows after ``values`` in this order: (a, b) > (x, y) spelled out, as SQL Server has no
    row-value comparison; the leading ``a >= x`` lets the planner seek on the index."""
    alternatives = []
    for index, key in enumerate(keys):
        equal = [keys[j] == values[j] for j in range(index)]
        alternatives.append(sa.and_(*equal, key < values[index] if descending else key > values[index]))
    lead = keys[0] <= values[0] if descending else keys[0] >= values[0]
    return sa.and_(lead, sa.or_(*alternatives))


def _values(case: Case, keys: Sequence[InstrumentedAttribute[Any]]) -> list[Any]:
    values: list[Any] = []
    for key in keys:
        value = getattr(case, key.key)
        values.append(value.isoformat() if isinstance(value, dt.datetime)
                      else str(value) if isinstance(value, uuid.UUID) else value)
    return values


def _parse(key: InstrumentedAttribute[Any], value: Any) -> Any:
    if key is Case.id:
        return uuid.UUID(str(value))
    if key is Case.status_rank:
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError("rank")
        return value
    moment = dt.datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        raise ValueError("naive")
    return moment
