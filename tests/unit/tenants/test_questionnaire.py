"""A questionnaire as data: questions checked, answers checked by the server (no database)."""

from __future__ import annotations

import pytest

from appliance.errors import InvalidInput
from appliance.tenants.questionnaire import (
    DATE,
    FILE,
    LONG_TEXT,
    MULTIPLE,
    SINGLE,
    TEXT,
    YES_NO,
    Condition,
    Question,
    check_answers,
    check_questions,
    dump_answers,
    dump_questions,
    load_answers,
    load_questions,
)

HARMED = Question("harmed", YES_NO, "Were you harmed?", required=True)
HOW = Question("how", LONG_TEXT, "How?", required=True, show_if=Condition("harmed", "yes"))
WHERE = Question("where", SINGLE, "Where?", options=("Office", "Warehouse"))
WHO = Question("who", MULTIPLE, "Who?", options=("Manager", "Colleague"), show_if=Condition("where", "Office"))
WHEN = Question("when", DATE, "When?")
FILES = Question("files", FILE, "Evidence")
ALL = (HARMED, HOW, WHERE, WHO, WHEN, FILES)


def test_questions_round_trip() -> None:
    assert load_questions(dump_questions(ALL)) == ALL


@pytest.mark.parametrize("bad", [
    (Question("Bad Key", TEXT, "x"),),
    (Question("a", TEXT, "x"), Question("a", TEXT, "y")),
    (Question("a", "slider", "x"),),
    (Question("a", TEXT, " "),),
    (Question("a", TEXT, "x" * 501),),
    (Question("a", SINGLE, "x"),),
    (Question("a", SINGLE, "x", options=("same", "same")),),
    (Question("a", TEXT, "x", options=("no",)),),
    (Question("b", TEXT, "x", show_if=Condition("a", "yes")), Question("a", YES_NO, "y")),  # a later question
    (Question("a", TEXT, "t"), Question("b", TEXT, "x", show_if=Condition("a", "yes"))),  # not yes/no or choice
    (Question("a", YES_NO, "t"), Question("b", TEXT, "x", show_if=Condition("a", "perhaps"))),
])
def test_bad_questions_are_refused(bad: tuple[Question, ...]) -> None:
    with pytest.raises(InvalidInput):
        check_questions(bad)


def test_a_shown_required_question_must_be_answered() -> None:
    with pytest.raises(InvalidInput, match="required") as caught:
        check_answers(ALL, {"harmed": ["yes"]})
    assert caught.value.field == "q_how"
    assert check_answers(ALL, {"harmed": ["yes"], "how": [" It hurt \r\n"]}) == {"harmed": "yes", "how": "It hurt"}


def test_answers_to_hidden_or_unknown_questions_are_dropped() -> None:
    answers = check_answers(ALL, {"harmed": ["no"], "how": ["hidden"], "who": ["Manager"], "where": ["Warehouse"],
                                  "nope": ["x"]})
    assert answers == {"harmed": "no", "where": "Warehouse"}
    assert check_answers(ALL, {"harmed": ["no"], "where": ["Office"], "who": ["Manager", "Colleague"]})["who"] == (
        "Manager", "Colleague")


@pytest.mark.parametrize("raw", [
    {"harmed": ["maybe"]},
    {"harmed": ["yes", "no"]},
    {"harmed": ["no"], "where": ["Garden"]},
    {"harmed": ["no"], "where": ["Office"], "who": ["Boss"]},
    {"harmed": ["no"], "where": ["Office"], "who": ["Manager", "Manager"]},
    {"harmed": ["no"], "when": ["31.12.2026"]},
    {"harmed": ["no"], "when": ["2026-02-30"]},
    {"harmed": ["yes"], "how": ["x" * 20_001]},
    {"harmed": ["yes"], "how": ["nul\x00"]},
    {"harmed": ["no"], "files": ["f"] * 11},
])
def test_malformed_answers_are_refused(raw: dict[str, list[str]]) -> None:
    with pytest.raises(InvalidInput):
        check_answers(ALL, raw)


def test_text_answers_are_limited() -> None:
    with pytest.raises(InvalidInput):
        check_answers((Question("t", TEXT, "t"),), {"t": ["x" * 2_001]})


def test_answers_round_trip() -> None:
    answers = check_answers(ALL, {"harmed": ["no"], "where": ["Office"], "who": ["Colleague"], "when": ["2026-12-01"],
                                  "files": ["scan.pdf"]})
    assert load_answers(dump_answers(answers)) == answers


def test_a_stored_questionnaire_that_was_edited_into_nonsense_is_refused() -> None:
    for document in ("{", "{}", '[{"key": "a"}]', '[{"key": "a", "kind": "text", "label": ""}]'):
        with pytest.raises(InvalidInput):
            load_questions(document)
