"""A channel's questionnaire as data (pure: no database here): typed questions, required or
optional, shown on a simple condition ("show B when A is yes"), and the server's check of a
reporter's answers.

The server is the judge: a question whose condition does not hold is never required and its
answer is dropped, whatever the page (with or without JavaScript) sent.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from appliance.errors import InvalidInput

TEXT, LONG_TEXT, DATE, SINGLE, MULTIPLE, YES_NO, FILE = (
    "text", "long_text", "date", "single", "multiple", "yes_no", "file")
KINDS = (TEXT, LONG_TEXT, DATE, SINGLE, MULTIPLE, YES_NO, FILE)
YES, NO = "yes", "no"
KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
MAX_QUESTIONS = 50
MAX_LABEL = 500
MAX_OPTIONS = 50
MAX_OPTION = 200
MAX_SHORT_ANSWER = 2_000
MAX_LONG_ANSWER = 20_000
MAX_FILES_PER_QUESTION = 10


@dataclass(frozen=True)
class Condition:
    """Show a question only when the answer to ``key`` (an earlier yes/no or single-choice
    question) is ``value``."""

    key: str
    value: str


@dataclass(frozen=True)
class Question:
    key: str
    kind: str
    label: str
    required: bool = False
    options: tuple[str, ...] = ()
    show_if: Condition | None = None


Answer = str | tuple[str, ...]


def check_questions(questions: Sequence[Question]) -> tuple[Question, ...]:
    """The questions, checked: unique keys, known kinds, choices with options, and conditions
    on an earlier yes/no or single-choice question naming one of its answers."""
    if len(questions) > MAX_QUESTIONS:
        raise InvalidInput("questions", f"at most {MAX_QUESTIONS}")
    seen: dict[str, Question] = {}
    for question in questions:
        if not KEY.match(question.key) or question.key in seen:
            raise InvalidInput("key", "must be unique: a lowercase letter, then letters, digits or _ (at most 40)")
        if question.kind not in KINDS:
            raise InvalidInput("kind", f"must be one of {', '.join(KINDS)}")
        label = question.label.strip()
        if not label or len(label) > MAX_LABEL or "\x00" in label:
            raise InvalidInput("label", f"must be 1 to {MAX_LABEL} characters")
        if question.kind in (SINGLE, MULTIPLE):
            if not question.options or len(question.options) > MAX_OPTIONS or len(set(question.options)) != len(
                    question.options) or any(not o.strip() or len(o) > MAX_OPTION or "\x00" in o
                                             for o in question.options):
                raise InvalidInput("options", f"a choice needs 1 to {MAX_OPTIONS} different options")
        elif question.options:
            raise InvalidInput("options", "only a choice has options")
        if question.show_if is not None:
            source = seen.get(question.show_if.key)
            if source is None or source.kind not in (YES_NO, SINGLE):
                raise InvalidInput("show_if", "must name an earlier yes/no or single-choice question")
            allowed = (YES, NO) if source.kind == YES_NO else source.options
            if question.show_if.value not in allowed:
                raise InvalidInput("show_if", "must name one of that question's answers")
        seen[question.key] = question
    return tuple(questions)


def shown(question: Question, answers: Mapping[str, Answer]) -> bool:
    """Whether a question applies, given the (already checked) answers before it."""
    return question.show_if is None or answers.get(question.show_if.key) == question.show_if.value


def check_answers(questions: Sequence[Question], raw: Mapping[str, Sequence[str]]) -> dict[str, Answer]:
    """The answers to keep: each checked against its question's kind; a required question that
    is shown must be answered (InvalidInput names the first that is not); answers to questions
    that are not shown, or that do not exist, are dropped. ``raw``: the posted values per key
    (for a file question: the names of the files uploaded for it)."""
    answers: dict[str, Answer] = {}
    for question in questions:
        if not shown(question, answers):
            continue
        values = [v.replace("\r\n", "\n").strip() for v in raw.get(question.key, ()) if v and v.strip()]
        if not values:
            if question.required:
                raise InvalidInput(f"q_{question.key}", "is required")
            continue
        answers[question.key] = _checked(question, values)
    return answers


def _checked(question: Question, values: list[str]) -> Answer:
    field = f"q_{question.key}"
    if any("\x00" in v for v in values):
        raise InvalidInput(field, "contains a character that is not allowed")
    if question.kind in (MULTIPLE, FILE):
        limit = MAX_OPTIONS if question.kind == MULTIPLE else MAX_FILES_PER_QUESTION
        if len(values) > limit or len(set(values)) != len(values):
            raise InvalidInput(field, "has too many or repeated answers")
        if question.kind == MULTIPLE and not set(values) <= set(question.options):
            raise InvalidInput(field, "is not one of the options")
        if question.kind == FILE and any(len(v) > 255 for v in values):
            raise InvalidInput(field, "has a file name that is too long")
        return tuple(values)
    if len(values) != 1:
        raise InvalidInput(field, "takes one answer")
    value = values[0]
    if question.kind == TEXT and len(value) > MAX_SHORT_ANSWER:
        raise InvalidInput(field, f"must be at most {MAX_SHORT_ANSWER} characters")
    if question.kind == LONG_TEXT and len(value) > MAX_LONG_ANSWER:
        raise InvalidInput(field, f"must be at most {MAX_LONG_ANSWER} characters")
    if question.kind == DATE:
        try:
            dt.date.fromisoformat(value)
        except ValueError:
            raise InvalidInput(field, "is not a date (YYYY-MM-DD)") from None
        if len(value) != 10:
            raise InvalidInput(field, "is not a date (YYYY-MM-DD)")
    if question.kind == YES_NO and value not in (YES, NO):
        raise InvalidInput(field, "must be yes or no")
    if question.kind == SINGLE and value not in question.options:
        raise InvalidInput(field, "is not one of the options")
    return value


def dump_questions(questions: Sequence[Question]) -> str:
    return json.dumps([_question_json(q) for q in questions], sort_keys=True, separators=(",", ":"))


def load_questions(document: str) -> tuple[Question, ...]:
    """Questions as stored (checked again: a row edited in SQL is refused, not trusted)."""
    try:
        items = json.loads(document)
        if not isinstance(items, list):
            raise ValueError("not a list")
        questions = [_question_from(item) for item in items]
    except (ValueError, KeyError, TypeError, AttributeError):
        raise InvalidInput("questions", "cannot be read") from None
    return check_questions(questions)


def dump_answers(answers: Mapping[str, Answer]) -> str:
    return json.dumps({k: list(v) if isinstance(v, tuple) else v for k, v in answers.items()}, sort_keys=True)


def load_answers(document: str) -> dict[str, Answer]:
    loaded = json.loads(document)
    return {str(k): tuple(str(x) for x in v) if isinstance(v, list) else str(v) for k, v in loaded.items()}


def _question_json(question: Question) -> dict[str, object]:
    document: dict[str, object] = {"key": question.key, "kind": question.kind, "label": question.label,
                                   "required": question.required}
    if question.options:
        document["options"] = list(question.options)
    if question.show_if is not None:
        document["show_if"] = {"key": question.show_if.key, "value": question.show_if.value}
    return document


def _question_from(item: dict[str, Any]) -> Question:
    condition = item.get("show_if")
    return Question(str(item["key"]), str(item["kind"]), str(item["label"]), bool(item.get("required", False)),
                    tuple(str(o) for o in item.get("options", [])),
                    Condition(str(condition["key"]), str(condition["value"])) if condition else None)
