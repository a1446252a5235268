"""Case status flow: only the documented transitions are possible."""

from __future__ import annotations

import itertools

import pytest

from appliance.cases.workflow import (
    CLOSING_OUTCOMES,
    TRANSITIONS,
    TRIAGE_OUTCOMES,
    Outcome,
    Status,
    check_transition,
    next_statuses,
    parse_outcome,
    parse_status,
    parse_triage_outcome,
)
from appliance.errors import InvalidInput

ALLOWED = {
    (Status.RECEIVED, Status.ACKNOWLEDGED),
    (Status.ACKNOWLEDGED, Status.ASSESSING),
    (Status.ACKNOWLEDGED, Status.CLOSED),
    (Status.ASSESSING, Status.INVESTIGATING),
    (Status.ASSESSING, Status.CLOSED),
    (Status.INVESTIGATING, Status.CLOSED),
    (Status.CLOSED, Status.ASSESSING),
}
REFUSED = sorted(set(itertools.product(Status, Status)) - ALLOWED)


def test_every_status_has_an_entry() -> None:
    assert set(TRANSITIONS) == set(Status)


@pytest.mark.parametrize(("current", "target"), sorted(ALLOWED))
def test_allowed_transitions(current: Status, target: Status) -> None:
    check_transition(current, target)


@pytest.mark.parametrize(("current", "target"), REFUSED)
def test_refused_transitions(current: Status, target: Status) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_transition(current, target)
    assert caught.value.field == "status"
    assert current.value in caught.value.reason
    assert target.value in caught.value.reason


def test_a_received_case_cannot_skip_acknowledgement() -> None:
    for target in (Status.ASSESSING, Status.INVESTIGATING, Status.CLOSED):
        with pytest.raises(InvalidInput):
            check_transition(Status.RECEIVED, target)


def test_no_status_goes_back_to_received() -> None:
    assert all(Status.RECEIVED not in targets for targets in TRANSITIONS.values())


def test_parse_status() -> None:
    for status in Status:
        assert parse_status(status.value) is status
    for bad in ("", "RECEIVED", "deleted", "closed "):
        with pytest.raises(InvalidInput) as caught:
            parse_status(bad)
        assert caught.value.field == "status"


def test_parse_outcome() -> None:
    for outcome in Outcome:
        assert parse_outcome(outcome.value) is outcome
    for bad in ("", "guilty", "SUBSTANTIATED"):
        with pytest.raises(InvalidInput) as caught:
            parse_outcome(bad)
        assert caught.value.field == "outcome"


def test_a_case_closed_at_triage_reopens_to_received_and_nowhere_else() -> None:
    assert next_statuses(Status.CLOSED, acknowledged=False) == {Status.RECEIVED}
    check_transition(Status.CLOSED, Status.RECEIVED, acknowledged=False)
    with pytest.raises(InvalidInput):
        check_transition(Status.CLOSED, Status.ASSESSING, acknowledged=False)
    with pytest.raises(InvalidInput):
        check_transition(Status.CLOSED, Status.RECEIVED)  # an acknowledged case never goes back
    for status in set(Status) - {Status.CLOSED}:
        assert next_statuses(status, acknowledged=False) == TRANSITIONS[status]


def test_triage_has_two_outcomes_and_the_normal_close_the_others() -> None:
    assert TRIAGE_OUTCOMES == {Outcome.DUPLICATE, Outcome.NOT_A_REPORT}
    assert set(CLOSING_OUTCOMES) == set(Outcome) - TRIAGE_OUTCOMES
    assert parse_triage_outcome("duplicate") is Outcome.DUPLICATE
    assert parse_triage_outcome("not-a-report") is Outcome.NOT_A_REPORT
    for bad in ("", "substantiated", "withdrawn", "Duplicate", "spam"):
        with pytest.raises(InvalidInput) as caught:
            parse_triage_outcome(bad)
        assert caught.value.field == "outcome"
