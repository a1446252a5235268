"""Decrypted, read-only shapes of a case for the two audiences."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from appliance.cases.attachments import AttachmentInfo
from appliance.cases.deadlines import Deadlines


@dataclass(frozen=True)
class ReportText:
    what: str
    when: str
    where: str
    people: str
    contact: str


@dataclass(frozen=True)
class ThreadMessage:
    id: uuid.UUID
    author: str
    created_at: dt.datetime
    body: str
    is_feedback: bool
    attachments: tuple[AttachmentInfo, ...]
    author_user_id: uuid.UUID | None = None  # the staff user who wrote it; only in the handlers' view


@dataclass(frozen=True)
class NoteView:
    id: uuid.UUID
    author_user_id: uuid.UUID
    created_at: dt.datetime
    body: str


@dataclass(frozen=True)
class ReporterCaseView:
    id: uuid.UUID
    status: str
    received_at: dt.datetime
    report: ReportText
    report_attachments: tuple[AttachmentInfo, ...]
    thread: tuple[ThreadMessage, ...]
    readable: bool = True  # False while the reporter's key copy is pending (migrated case)
    answers: tuple[AnsweredQuestion, ...] = ()  # the questionnaire, with the questions this report was asked
    closed_at_triage: str | None = None  # duplicate | not-a-report: closed without an acknowledgement


@dataclass(frozen=True)
class ReporterAccess:
    """What a correct case key opens: the case, and its private key unless the copy is pending."""

    case_id: uuid.UUID
    private_key: bytes | None


@dataclass(frozen=True)
class HandlerCaseView:
    id: uuid.UUID
    tenant_id: uuid.UUID
    reference: str
    category_id: uuid.UUID | None
    status: str
    outcome: str | None
    received_at: dt.datetime
    acknowledged_at: dt.datetime | None
    feedback_at: dt.datetime | None
    closed_at: dt.datetime | None
    assignee_id: uuid.UUID | None
    deadlines: Deadlines
    report: ReportText
    conclusions: str
    report_attachments: tuple[AttachmentInfo, ...]
    thread: tuple[ThreadMessage, ...]
    notes: tuple[NoteView, ...]
    channel: str | None = None  # None: the web portal; else how an API client says it was received
    reporting_channel: str | None = None  # the name of the reporting channel, unless it is the default one
    answers: tuple[AnsweredQuestion, ...] = ()  # the channel's questionnaire, as this report was asked it
    duplicate_of: DuplicateOf | None = None  # closed at triage as a duplicate of this case


@dataclass(frozen=True)
class DuplicateOf:
    """The case a duplicate repeats (metadata: its id and reference)."""

    id: uuid.UUID
    reference: str | None  # None: the earlier case is no longer kept (retention deleted it)


@dataclass(frozen=True)
class AnsweredQuestion:
    """A question as the reporter was asked it (the version their report kept) and their answer."""

    label: str
    kind: str
    answer: str | tuple[str, ...]


@dataclass(frozen=True)
class QueueRow:
    id: uuid.UUID
    tenant_id: uuid.UUID
    reference: str
    category_id: uuid.UUID | None
    status: str
    received_at: dt.datetime
    assignee_id: uuid.UUID | None
    deadlines: Deadlines
    unread_reporter_message: bool
    accessible: bool = True  # whether the signed-in handler holds a current key copy
