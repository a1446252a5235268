"""What a handler asks the work queue for: filters and a sort, read from and written to the
query string (a queue search is a link a handler can keep, and what a saved filter stores).

Every filter here becomes a SQL condition (appliance/cases/queue.py); nothing is filtered
after the rows are read.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from appliance.cases.workflow import parse_status
from appliance.errors import InvalidInput

REFERENCE_CHARS = frozenset("0123456789ABCDEFGHJKMNPQRSTVWXYZ-")  # Crockford base32 and the dash
REFERENCE_LENGTH = 9  # XXXX-XXXX
ARG_NAMES = ("tenant", "status", "category", "overdue", "ref", "sort", "dir")
MAX_ARG = 64


class QueueSort(enum.StrEnum):
    DEADLINE = "deadline"
    RECEIVED = "received"
    STATUS = "status"


# Each sort's natural direction: the nearest deadline, the newest report, the flow's order.
DESCENDING_BY_DEFAULT = {QueueSort.DEADLINE: False, QueueSort.RECEIVED: True, QueueSort.STATUS: False}


@dataclass(frozen=True)
class QueueFilter:
    """A queue search. ``status`` is one status; ``open_only`` every status but closed (the
    page's default); ``reference`` a whole case reference or its beginning, as the handler sees it."""

    tenant_id: uuid.UUID | None = None
    status: str | None = None
    category_id: uuid.UUID | None = None
    overdue_only: bool = False
    open_only: bool = False
    reference: str | None = None
    sort: QueueSort = QueueSort.RECEIVED
    descending: bool | None = None  # None: the sort's natural direction

    def __post_init__(self) -> None:
        if self.status is not None:
            parse_status(self.status)
        if self.reference is not None:
            object.__setattr__(self, "reference", normalise_reference(self.reference))

    @property
    def is_descending(self) -> bool:
        return DESCENDING_BY_DEFAULT[self.sort] if self.descending is None else self.descending

    def to_args(self) -> dict[str, str]:
        """The query string that asks for this search again (only what differs from the defaults
        of an empty query string, which shows every open case newest first)."""
        args: dict[str, str] = {}
        if self.tenant_id is not None:
            args["tenant"] = str(self.tenant_id)
        args["status"] = self.status or ("open" if self.open_only else "all")
        if args["status"] == "open":
            del args["status"]
        if self.category_id is not None:
            args["category"] = str(self.category_id)
        if self.overdue_only:
            args["overdue"] = "1"
        if self.reference:
            args["ref"] = self.reference
        if self.sort != QueueSort.RECEIVED:
            args["sort"] = self.sort.value
        if self.descending is not None and self.descending != DESCENDING_BY_DEFAULT[self.sort]:
            args["dir"] = "desc" if self.descending else "asc"
        return args

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> QueueFilter:
        """A search from a query string; InvalidInput naming the argument for anything malformed.
        Unknown arguments (the cursor, the page size) are the caller's."""
        given = {name: args.get(name, "").strip() for name in ARG_NAMES if args.get(name, "").strip()}
        for name, value in given.items():
            if len(value) > MAX_ARG or not value.isprintable():
                raise InvalidInput(name, f"at most {MAX_ARG} printable characters")
        status = given.get("status", "open")
        if status not in ("open", "all"):
            parse_status(status)
        if given.get("overdue", "0") not in ("0", "1"):
            raise InvalidInput("overdue", "must be 0 or 1")
        try:
            sort = QueueSort(given.get("sort", QueueSort.RECEIVED.value))
        except ValueError:
            raise InvalidInput("sort", "one of deadline, received, status") from None
        if given.get("dir", "") not in ("", "asc", "desc"):
            raise InvalidInput("dir", "asc or desc")
        return cls(
            tenant_id=_uuid("tenant", given.get("tenant")),
            status=None if status in ("open", "all") else status,
            category_id=_uuid("category", given.get("category")),
            overdue_only=given.get("overdue") == "1",
            open_only=status == "open",
            reference=given.get("ref"),
            sort=sort,
            descending=None if "dir" not in given else given["dir"] == "desc",
        )


def normalise_reference(value: str) -> str | None:
    """A reference as stored (upper case, ``XXXX-XXXX``) or its beginning; None for nothing.
    InvalidInput for characters no reference has (so nothing odd reaches a LIKE)."""
    term = "".join(value.split()).upper()
    if not term:
        return None
    if len(term) > REFERENCE_LENGTH or not set(term) <= REFERENCE_CHARS:
        raise InvalidInput("ref", "a case reference is XXXX-XXXX (letters and digits)")
    if "-" not in term and len(term) > 4:
        term = f"{term[:4]}-{term[4:]}"  # typed without the dash
    if ("-" in term and term.index("-") != 4) or term.count("-") > 1:
        raise InvalidInput("ref", "a case reference is XXXX-XXXX (letters and digits)")
    return term


def _uuid(name: str, value: str | None) -> uuid.UUID | None:
    if value is None:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidInput(name, "not an id") from None
