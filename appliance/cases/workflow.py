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
    # Closed at triage, without an acknowledgement (close_at_triage): spam, or a second report of
    # a matter already reported. Never an outcome of the normal path.
    DUPLICATE = "duplicate"
    NOT_A_REPORT = "not-a-report"


# Directive 2019/1937 Art. 9(1)(b) asks for an acknowledgement within 7 days of a *report*. What is
# not one (spam, a test, an advertisement) or repeats one already acknowledged may be closed
# straight from RECEIVED with one of these outcomes; every other close goes the normal path.
TRIAGE_OUTCOMES = frozenset({Outcome.DUPLICATE, Outcome.NOT_A_REPORT})
CLOSING_OUTCOMES = tuple(o for o in Outcome if o not in TRIAGE_OUTCOMES)


TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.RECEIVED: frozenset({Status.ACKNOWLEDGED}),
    Status.ACKNOWLEDGED: frozenset({Status.ASSESSING, Status.CLOSED}),
    Status.ASSESSING: frozenset({Status.INVESTIGATING, Status.CLOSED}),
    Status.INVESTIGATING: frozenset({Status.CLOSED}),
    Status.CLOSED: frozenset({Status.ASSESSING}),  # reopen on new information
}


def next_statuses(current: Status, *, acknowledged: bool = True) -> frozenset[Status]:
    """Where a case can go from ``current``. A closed case that was never acknowledged (closed at
    triage) reopens to RECEIVED: its acknowledgement is the next step, as for any new report."""
    if current == Status.CLOSED and not acknowledged:
        return frozenset({Status.RECEIVED})
    return TRANSITIONS[current]


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


def parse_triage_outcome(value: str) -> Outcome:
    """One of the two outcomes a case may be closed with at triage."""
    try:
        outcome = Outcome(value)
    except ValueError:
        outcome = None
    if outcome not in TRIAGE_OUTCOMES:
        raise InvalidInput("outcome", "closing at triage is for a duplicate or what is not a report")
    assert outcome is not None
    return outcome


def check_transition(current: Status, target: Status, *, acknowledged: bool = True) -> None:
    if target not in next_statuses(current, acknowledged=acknowledged):
        raise InvalidInput("status", f"cannot go from {current.value} to {target.value}")
