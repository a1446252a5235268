"""Sealing and opening the encrypted parts of a case with its data key."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Session

from appliance.actors import REPORTER, Actor, StaffPrincipal
from appliance.cases.access import CaseAccess, OpenedCase
from appliance.cases.attachments import SAFE_TYPES, AttachmentInfo, AttachmentStore, Upload, remaining_budget
from appliance.cases.models import Attachment, Case, Message
from appliance.cases.read_models import AnsweredQuestion, ReportText, ThreadMessage
from appliance.clock import Clock
from appliance.crypto.case_cipher import CaseCipher
from appliance.crypto.fields import Place, Sealed
from appliance.errors import InvalidInput, NotFound
from appliance.keys.keyring import TenantKeyring
from appliance.tenants.models import QuestionnaireVersion
from appliance.tenants.questionnaire import load_answers, load_questions

MAX_TEXT = 20_000
MAX_SHORT = 2_000
REPORT_FIELDS = ("what", "when", "where", "people", "contact")


def check_text(field: str, value: str, maximum: int, required: bool = False) -> str:
    value = value.replace("\r\n", "\n").strip()
    if required and not value:
        raise InvalidInput(field, "is required")
    if len(value) > maximum:
        raise InvalidInput(field, f"must be at most {maximum} characters")
    if "\x00" in value:
        raise InvalidInput(field, "contains a NUL character")
    return value


def seal_optional(cipher: CaseCipher, table: str, column: str, row_id: uuid.UUID, value: str) -> Sealed | None:
    return cipher.seal(value, Place(table, column, row_id)) if value else None


class CaseContent:
    """Shared by the reporter and handler services: unwrap, read and write case content."""

    def __init__(self, session: Session, keyring: TenantKeyring, access: CaseAccess, clock: Clock) -> None:
        self._session = session
        self._keyring = keyring
        self.access = access
        self._clock = clock
        self.attachments = AttachmentStore(session, clock)

    def staff_keys(self, case: Case, principal: StaffPrincipal) -> OpenedCase:
        """A handler's keys: their own sealed copy, opened with the key from their session."""
        if case.public_key is None:
            return self._legacy_keys(case, principal.actor)
        return self.access.open_for_user(case, principal.user_id, principal.private_key, principal.actor)

    def reporter_keys(self, case: Case, case_private_key: bytes | None) -> OpenedCase:
        """The reporter's keys; without their private key (pending copy) they can only add content."""
        if case.public_key is None:
            return self._legacy_keys(case, REPORTER)
        if case_private_key is None:
            return self.access.writer(case)
        return self.access.keys_from_private(case, case_private_key)

    def _legacy_keys(self, case: Case, actor: Actor) -> OpenedCase:
        """A case from before sealed keys, until `appliance keys seal-existing` converts it."""
        assert case.wrapped_key is not None
        data_key = self._keyring.legacy_content_key(case.tenant_id, case.id, case.wrapped_key, actor)
        return OpenedCase(CaseCipher(data_key))

    def report(self, case: Case, keys: OpenedCase) -> ReportText:
        cipher = keys.cipher

        def read(column: str) -> str:
            value = getattr(case, f"{column}_sealed")
            return cipher.open(value, Place("cases", column, case.id)) if value is not None else ""

        return ReportText(*(read(c) for c in REPORT_FIELDS))

    def answers(self, case: Case, keys: OpenedCase) -> tuple[AnsweredQuestion, ...]:
        """The questionnaire's answers with the questions of the version the report was asked
        (never the channel's newest), in that version's order; questions left out are skipped."""
        if case.answers_sealed is None or case.questionnaire_version_id is None:
            return ()
        version = self._session.execute(sa.select(QuestionnaireVersion).where(
            QuestionnaireVersion.id == case.questionnaire_version_id,
            QuestionnaireVersion.tenant_id == case.tenant_id)).scalar_one_or_none()
        if version is None:
            raise NotFound("questionnaire version", case.questionnaire_version_id)
        answers = load_answers(keys.cipher.open(case.answers_sealed, Place("cases", "answers", case.id)))
        return tuple(AnsweredQuestion(q.label, q.kind, answers[q.key]) for q in load_questions(version.questions)
                     if q.key in answers)

    def conclusions(self, case: Case, keys: OpenedCase) -> str:
        if case.conclusions_sealed is None:
            return ""
        return keys.cipher.open(case.conclusions_sealed, Place("cases", "conclusions", case.id))

    def thread(self, case: Case, keys: OpenedCase, *, with_authors: bool = False) -> tuple[ThreadMessage, ...]:
        """The messages in order; ``with_authors`` names the staff user of each handler message (for
        handlers: the reporter's view says only "case handler")."""
        cipher = keys.cipher
        messages = self._session.execute(
            sa.select(Message).where(Message.case_id == case.id).order_by(Message.created_at, Message.id)
        ).scalars().all()
        files: dict[uuid.UUID, list[AttachmentInfo]] = {}
        for info in self.attachments.list_for_case(case.id, cipher, ("reporter", "handler")):
            if info.message_id is not None:
                files.setdefault(info.message_id, []).append(info)
        return tuple(
            ThreadMessage(m.id, m.author, m.created_at,
                          cipher.open(m.body_sealed, Place("case_messages", "body", m.id)),
                          m.is_feedback, tuple(files.get(m.id, ())),
                          m.author_user_id if with_authors else None)
            for m in messages
        )

    def report_attachments(self, case: Case, keys: OpenedCase) -> tuple[AttachmentInfo, ...]:
        return tuple(a for a in self.attachments.list_for_case(case.id, keys.cipher, ("reporter",))
                     if a.message_id is None)

    def add_message(self, case: Case, keys: OpenedCase, author: str, body: str, uploads: list[Upload],
                    per_file: int, per_message: int, *, author_user_id: uuid.UUID | None = None,
                    is_feedback: bool = False) -> Message:
        body = check_text("message", body, MAX_TEXT, required=not uploads)
        message = Message(id=uuid.uuid4(), case_id=case.id, tenant_id=case.tenant_id, author=author,
                          author_user_id=author_user_id, created_at=self._clock(), is_feedback=is_feedback)
        message.body_sealed = keys.cipher.seal(body, Place("case_messages", "body", message.id))
        self._session.add(message)
        self._session.flush()
        self.store_uploads(case, keys, uploads, source="reporter" if author == "reporter" else "handler",
                           message_id=message.id, per_file=per_file, per_batch=per_message)
        return message

    def store_uploads(self, case: Case, keys: OpenedCase, uploads: list[Upload], *, source: str,
                      message_id: uuid.UUID | None, per_file: int, per_batch: int,
                      allowed_types: frozenset[str] | set[str] = SAFE_TYPES) -> list[Attachment]:
        used = 0
        stored = []
        for upload in uploads:
            limit = remaining_budget(used, per_batch, per_file)
            attachment = self.attachments.add(case_id=case.id, tenant_id=case.tenant_id, cipher=keys.cipher,
                                              upload=upload, source=source,
                                              message_id=message_id, limit_bytes=limit,
                                              allowed_types=allowed_types)
            used += attachment.size_bytes
            stored.append(attachment)
        return stored
