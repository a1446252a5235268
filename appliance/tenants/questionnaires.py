"""The questionnaires of a tenant's reporting channels: every change is a new version
(``QuestionnaireVersion``), and a report keeps the version it was asked."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session

from appliance.actors import Actor
from appliance.audit.service import Logbook
from appliance.clock import Clock
from appliance.errors import Conflict, NotFound
from appliance.tenants.models import QuestionnaireVersion, ReportingChannel
from appliance.tenants.questionnaire import Condition, Question, check_questions, dump_questions, load_questions


class Questionnaires:
    """Publishes and reads the versions of a channel's questionnaire. Never commits."""

    def __init__(self, session: Session, logbook: Logbook, clock: Clock) -> None:
        self._session = session
        self._logbook = logbook
        self._clock = clock

    def current(self, channel: ReportingChannel) -> QuestionnaireVersion | None:
        """The newest version of a channel's questionnaire (None: the channel asks no questions)."""
        return self._session.execute(sa.select(QuestionnaireVersion).where(
            QuestionnaireVersion.channel_id == channel.id, QuestionnaireVersion.tenant_id == channel.tenant_id)
            .order_by(QuestionnaireVersion.number.desc()).limit(1)).scalar_one_or_none()

    def version(self, tenant_id: uuid.UUID, version_id: uuid.UUID) -> QuestionnaireVersion:
        row = self._session.execute(sa.select(QuestionnaireVersion).where(
            QuestionnaireVersion.id == version_id, QuestionnaireVersion.tenant_id == tenant_id)).scalar_one_or_none()
        if row is None:
            raise NotFound("questionnaire version", version_id)
        return row

    def questions(self, version: QuestionnaireVersion | None) -> tuple[Question, ...]:
        return load_questions(version.questions) if version is not None else ()

    def add_question(self, channel: ReportingChannel, kind: str, label: str, required: bool,
                     options: Sequence[str], show_if: Condition | None, actor: Actor) -> QuestionnaireVersion:
        """A new version with one more question at the end (its key: the next free ``qN``)."""
        questions = self.questions(self.current(channel))
        taken = {q.key for q in questions}
        key = next(f"q{n}" for n in range(1, len(taken) + 2) if f"q{n}" not in taken)
        question = Question(key, kind, label.strip(), required, tuple(o.strip() for o in options if o.strip()),
                            show_if)
        return self.publish(channel, (*questions, question), actor)

    def remove_question(self, channel: ReportingChannel, key: str, actor: Actor) -> QuestionnaireVersion:
        """A new version without that question (InvalidInput while another question's condition names it)."""
        questions = self.questions(self.current(channel))
        if key not in {q.key for q in questions}:
            raise NotFound("question", key)
        return self.publish(channel, tuple(q for q in questions if q.key != key), actor)

    def publish(self, channel: ReportingChannel, questions: Sequence[Question], actor: Actor) -> QuestionnaireVersion:
        """A new version with these questions (Conflict when they are the current ones)."""
        checked = check_questions(questions)
        current = self.current(channel)
        if checked == self.questions(current):
            raise Conflict("the questionnaire has not changed")
        row = QuestionnaireVersion(id=uuid.uuid4(), tenant_id=channel.tenant_id, channel_id=channel.id,
                                   number=(current.number + 1) if current is not None else 1,
                                   questions=dump_questions(checked), created_at=self._clock())
        self._session.add(row)
        self._session.flush()
        self._logbook.record("questionnaire.published", actor, tenant_id=channel.tenant_id,
                             object_type="channel", object_id=channel.id, detail=f"version={row.number}")
        return row
