"""The channel's questionnaire on the report form: what the page shows for each question and
what a post answered. Plain HTML inputs named ``q_<key>``, so the form works without JavaScript;
a conditional question says when to answer it, and the server decides what counts."""

from __future__ import annotations

from dataclasses import dataclass

from flask import request
from flask_babel import gettext as _

from appliance.cases.attachments import Upload
from appliance.errors import InvalidInput
from appliance.tenants.questionnaire import FILE, MULTIPLE, SINGLE, YES_NO, Question
from webapp.uploads import uploads_from


@dataclass(frozen=True)
class QuestionView:
    question: Question
    field: str  # the inputs' name, and the id the error summary links to
    hint: str | None
    choices: tuple[tuple[str, str], ...]  # (value, label) for radios and checkboxes
    posted: tuple[str, ...]  # what the reporter sent (kept when the form comes back with an error)
    error: str | None
    dropped: int = 0  # files sent for a file question with a refused form: not kept, to be chosen again

    @property
    def grouped(self) -> bool:
        return self.question.kind in (SINGLE, MULTIPLE, YES_NO)


def field_name(question: Question) -> str:
    return f"q_{question.key}"


def question_views(questions: tuple[Question, ...], errors: dict[str, str] | None = None,
                   dropped: dict[str, int] | None = None) -> list[QuestionView]:
    by_key = {q.key: q for q in questions}
    views = []
    for question in questions:
        name = field_name(question)
        posted = () if question.kind == FILE else tuple(request.form.getlist(name))
        views.append(QuestionView(question, name, _condition_hint(question, by_key), _choices(question), posted,
                                  (errors or {}).get(name), (dropped or {}).get(name, 0)))
    return views


def posted_answers(questions: tuple[Question, ...]) -> tuple[dict[str, list[str]], list[Upload]]:
    """The answers a post carries, per question key; file questions answer with the names of the
    files sent for them, and those files go with the report's attachments."""
    answers: dict[str, list[str]] = {}
    uploads: list[Upload] = []
    for question in questions:
        if question.kind == FILE:
            sent = uploads_from(field_name(question))
            uploads += sent
            answers[question.key] = [u.filename for u in sent]
        else:
            answers[question.key] = request.form.getlist(field_name(question))
    return answers, uploads


def answer_error(exc: InvalidInput) -> str:
    if exc.reason == "is required":
        return _("Please answer this question.")
    return _("Please check this answer.")


def _choices(question: Question) -> tuple[tuple[str, str], ...]:
    if question.kind == YES_NO:
        return (("yes", _("Yes")), ("no", _("No")))
    return tuple((option, option) for option in question.options)


def _condition_hint(question: Question, by_key: dict[str, Question]) -> str | None:
    if question.show_if is None:
        return None
    source = by_key[question.show_if.key]
    value = question.show_if.value
    shown = {"yes": _("Yes"), "no": _("No")}.get(value, value) if source.kind == YES_NO else value
    return _("Answer only if your answer to “%(question)s” is “%(answer)s”.", question=source.label, answer=shown)
