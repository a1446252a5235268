"""Case status flow after ISO 37002: receive, assess, investigate, conclude."""

from __future__ import annotations

import enum

from appliance.errors import InvalidInput


class Status(enum.StrEnum):
    RECEIVED = "received"
    ACKNOWLEDGED = "acknowledged"
    ASSESSING = "assessing"
    INVESTIGATING = "investigating"
    CLOSED = "closed"


# The order a queue sorted by status follows: the flow's order, not the words' (stored as
# ``Case.status_rank`` so that the sort is an index scan).
STATUS_RANK: dict[str, int] = {status.value: rank for rank, status in enumerate(Status)}


class Outcome(enum.StrEnum):
    SUBSTANTIATED = "substantiated"
    PARTLY_SUBSTANTIATED = "partly-substantiated"
    NOT_SUBSTANTIATED = "not-substantiated"
    OUT_OF_SCOPE = "out-of-scope"
    REFERRED = "referred"
    WITHDRAWN = "withdrawn"


TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.RECEIVED: frozenset({Status.ACKNOWLEDGED}),
    Status.ACKNOWLEDGED: frozenset({Status.ASSESSING, Status.CLOSED}),
    Status.ASSESSING: frozenset({Status.INVESTIGATING, Status.CLOSED}),
    Status.INVESTIGATING: frozenset({Status.CLOSED}),
    Status.CLOSED: frozenset({Status.ASSESSING}),  # reopen on new information
}


def parse_status(value: str) -> Status:
    try:
        return Status(value)
    except ValueError:
        raise InvalidInput("status", "unknown status") from None


def parse_outcome(value: str) -> Outcome:
    try:
        return Outcome(value)
    except ValueError:
        raise InvalidInput("outcome", "unknown outcome") from None


def check_transition(current: Status, target: Status) -> None:
    if target not in TRANSITIONS[current]:
        raise InvalidInput("status", f"cannot go from {current.value} to {target.value}")
