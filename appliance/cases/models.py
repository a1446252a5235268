"""Whistleblowing cases: the report, its message thread, notes and attachments.

Status, category, dates and assignment are readable metadata (the work queue, deadlines
and statistics need them); everything a person wrote is sealed under the case's data key.
"""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from appliance.cases.deadlines import next_due_at
from appliance.cases.workflow import STATUS_RANK, Status
from appliance.crypto.fields import EncryptedBytes, Sealed
from appliance.db import GUID, Base, Blob, Digest, UTCDateTime, new_id


class Case(Base):
    __tablename__ = "cases"
    # One index per queue sort, each ending in the id that breaks ties (appliance/cases/queue.py).
    __table_args__ = (sa.Index("ix_cases_tenant_status", "tenant_id", "status"),
                      sa.Index("ix_cases_tenant_due", "tenant_id", "next_due_at", "id"),
                      sa.Index("ix_cases_tenant_received", "tenant_id", "received_at", "id"),
                      sa.Index("ix_cases_tenant_rank", "tenant_id", "status_rank", "received_at", "id"))

    id: Mapped[uuid.UUID] = mapped_column(GUID, primary_key=True, default=new_id)
    tenant_id: Mapped[uuid.UUID] = mapped_column(GUID, sa.ForeignKey("tenants.id"))
    reference: Mapped[str] = mapped_column(sa.String(12), unique=True)
    category_id: Mapped[uuid.UUID | None] = mapped_column(GUID, sa.ForeignKey("categories.id"))
    status: Mapped[str] = mapped_column(sa.String(20))
    outcome: Mapped[str | None] = mapped_column(sa.String(30))
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    acknowledged_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    feedback_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_reporter_message_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    handler_read_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    assignee_id: Mapped[uuid.UUID | None] = mapped_column(GUID, sa.ForeignKey("users.id"))
    case_key_index: Mapped[bytes] = mapped_column(Digest, unique=True)
    # Before sealed case keys: the data key wrapped under the tenant key. NULL once sealed.
    key_version: Mapped[int | None] = mapped_column(sa.Integer)
    wrapped_key: Mapped[bytes | None] = mapped_column(Blob)
    # Sealed case keys: the case's X25519 public key (anyone may add content with it), its
    # content key sealed under a key derived from the private half, and the reporter's
    # public key (derived from the case key) for completing a reporter seal later.
    public_key: Mapped[bytes | None] = mapped_column(Blob)
    content_key_sealed: Mapped[Sealed | None] = mapped_column(EncryptedBytes)
    reporter_public_key: Mapped[bytes | None] = mapped_column(Blob)
    # MACs under the master key's key binding over (id, public key, sealed content key) and
    # over the reporter's public key: a key pair or reporter key swapped in SQL is refused.
    keys_mac: Mapped[bytes | None] = mapped_column(Digest)
    reporter_key_mac: Mapped[bytes | None] = mapped_column(Digest)
    what_sealed: Mapped[Sealed] = mapped_column(EncryptedBytes)
    when_sealed: Mapped[Sealed | None] = mapped_column(EncryptedBytes)
    where_sealed: Mapped[Sealed | None] = mapped_column(EncryptedBytes)
    people_sealed: Mapped[Sealed | None] = mapped_column(EncryptedBytes)
    contact_sealed: Mapped[Sealed | None] = mapped_column(EncryptedBytes)
    conclusions_sealed: Mapped[Sealed | None] = mapped_column(EncryptedBytes)
    # How the report came in: NULL for the web portal; phone, letter, meeting, email or other for
    # one an API client recorded (Directive Art. 9(2)). Not sensitive: it says nothing of the content.
    channel: Mapped[str | None] = mapped_column(sa.String(16))
    # The tenant's reporting channel the report was filed through (``ReportingChannel``; NULL:
    # filed before channels, backfilled to the default one). No foreign key, so adding it is a
    # plain ADD COLUMN on every backend; the reporting service only ever writes a channel of
    # the case's own tenant.
    reporting_channel_id: Mapped[uuid.UUID | None] = mapped_column(GUID)
    # The questionnaire version the reporter answered (``QuestionnaireVersion``; no foreign key,
    # as above) and the answers, sealed under the case's content key like the rest of the report.
    questionnaire_version_id: Mapped[uuid.UUID | None] = mapped_column(GUID)
    answers_sealed: Mapped[Sealed | None] = mapped_column(EncryptedBytes)
    # Closed at triage as a duplicate: the case of the same tenant it repeats (appliance/cases/triage.py).
    # No foreign key, as above: the earlier case may be deleted on its own schedule (retention),
    # and a plain ADD COLUMN works on every backend. NULL again once the case is reopened.
    duplicate_of_id: Mapped[uuid.UUID | None] = mapped_column(GUID)
    # Derived from the columns above on every ORM write (keep_queue_columns below); a bulk
    # ``UPDATE``/``INSERT`` must set them with queue_columns(). They say nothing the dates and
    # the status do not already say.
    # Nullable only while a server of the previous version may still insert (migration 0018).
    next_due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    status_rank: Mapped[int | None] = mapped_column(sa.SmallInteger)


def queue_columns(received_at: dt.datetime, acknowledged_at: dt.datetime | None, feedback_at: dt.datetime | None,
                  status: str) -> dict[str, object]:
    """The queue's derived columns for a case with these dates and this status."""
    return {"next_due_at": next_due_at(received_at, acknowledged_at, feedback_at, status == Status.CLOSED),
            "status_rank": STATUS_RANK[status]}


_QUEUE_SOURCES = ("received_at", "acknowledged_at", "feedback_at", "status")


@sa.event.listens_for(Case, "before_insert")
def _queue_columns_on_insert(_mapper: object, _connection: object, case: Case) -> None:
    for name, value in queue_columns(case.received_at, case.acknowledged_at, case.feedback_at, case.status).items():
        setattr(case, name, value)


@sa.event.listens_for(Case, "before_update")
def _queue_columns_on_update(_mapper: object, _connection: object, case: Case) -> None:
    # Only when a source changed: a queue row is loaded with few columns, and marking it read
    # must not load the others inside the flush.
    state = sa.inspect(case)
    if any(state.attrs[name].history.has_changes() for name in _QUEUE_SOURCES):
        _queue_columns_on_insert(_mapper, _connection, case)


class Message(Base):
    """A message between reporter and handlers (``author``: reporter, handler, system)."""

    __tablename__ = "case_messages"

    id: Mapped[uuid.UUID] = mapped_column(GUID, primary_key=True, default=new_id)
    case_id: Mapped[uuid.UUID] = mapped_column(GUID, sa.ForeignKey("cases.id"), index=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(GUID, sa.ForeignKey("tenants.id"))
    author: Mapped[str] = mapped_column(sa.String(10))
    author_user_id: Mapped[uuid.UUID | None] = mapped_column(GUID, sa.ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    is_feedback: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    body_sealed: Mapped[Sealed] = mapped_column(EncryptedBytes)


class Note(Base):
    """An internal note: handlers only, never shown to the reporter."""

    __tablename__ = "case_notes"

    id: Mapped[uuid.UUID] = mapped_column(GUID, primary_key=True, default=new_id)
    case_id: Mapped[uuid.UUID] = mapped_column(GUID, sa.ForeignKey("cases.id"), index=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(GUID, sa.ForeignKey("tenants.id"))
    author_user_id: Mapped[uuid.UUID] = mapped_column(GUID, sa.ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    body_sealed: Mapped[Sealed] = mapped_column(EncryptedBytes)


class Attachment(Base):
    __tablename__ = "attachments"

    id: Mapped[uuid.UUID] = mapped_column(GUID, primary_key=True, default=new_id)
    case_id: Mapped[uuid.UUID] = mapped_column(GUID, sa.ForeignKey("cases.id"), index=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(GUID, sa.ForeignKey("tenants.id"))
    message_id: Mapped[uuid.UUID | None] = mapped_column(GUID, sa.ForeignKey("case_messages.id"))
    source: Mapped[str] = mapped_column(sa.String(10))  # reporter | handler
    filename_sealed: Mapped[Sealed] = mapped_column(EncryptedBytes)
    content_type_sealed: Mapped[Sealed] = mapped_column(EncryptedBytes)
    # The file's own key, sealed with the case cipher; NULL for files from before (the content key itself).
    file_key_sealed: Mapped[Sealed | None] = mapped_column(EncryptedBytes)
    size_bytes: Mapped[int] = mapped_column(sa.BigInteger)
    chunk_count: Mapped[int] = mapped_column(sa.Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class AttachmentChunk(Base):
    __tablename__ = "attachment_chunks"

    attachment_id: Mapped[uuid.UUID] = mapped_column(
        GUID, sa.ForeignKey("attachments.id"), primary_key=True
    )
    idx: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=False)
    data: Mapped[bytes] = mapped_column(Blob)


class CasePrivateKeySeal(Base):
    """The case's private key sealed to one recipient: a handler, the reporter or the escrow key.

    Access to a case's content is exactly the set of these rows whose recipient still holds
    the matching private key; ``recipient_fingerprint`` tells a current copy from a stale one
    (after an administrator's password reset gave the handler a new key pair)."""

    __tablename__ = "case_key_seals"
    # (user_id, case_id): which cases of a queue page the handler holds a copy of, one seek per
    # case (migration 0018); by user_id alone the planner scanned all of a handler's copies.
    __table_args__ = (sa.UniqueConstraint("case_id", "recipient_fingerprint"),
                      sa.Index("ix_case_key_seals_user_case", "user_id", "case_id"))

    id: Mapped[uuid.UUID] = mapped_column(GUID, primary_key=True, default=new_id)
    case_id: Mapped[uuid.UUID] = mapped_column(GUID, sa.ForeignKey("cases.id"), index=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(GUID, sa.ForeignKey("tenants.id"))
    kind: Mapped[str] = mapped_column(sa.String(10))  # handler | reporter | escrow
    user_id: Mapped[uuid.UUID | None] = mapped_column(GUID, sa.ForeignKey("users.id"), index=True)
    recipient_fingerprint: Mapped[bytes] = mapped_column(Digest)
    sealed: Mapped[bytes] = mapped_column(Blob)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class OralRecord(Base):
    """A report a handler recorded from a phone call or a meeting (Directive 2019/1937 Art. 18).

    The minutes are the case's report text (``cases.what_sealed``), sealed like any report; this
    row keeps what is not sensitive (channel, times, who recorded it, the reporter's consent and
    review state) and the reporter's correction, sealed under the case's content key."""

    __tablename__ = "oral_records"

    case_id: Mapped[uuid.UUID] = mapped_column(GUID, sa.ForeignKey("cases.id"), primary_key=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(GUID, sa.ForeignKey("tenants.id"), index=True)
    channel: Mapped[str] = mapped_column(sa.String(10))  # phone | meeting | other
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    recorded_by: Mapped[uuid.UUID] = mapped_column(GUID, sa.ForeignKey("users.id"))
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    consent_given: Mapped[bool] = mapped_column(sa.Boolean)
    consent_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    recording_id: Mapped[uuid.UUID | None] = mapped_column(GUID, sa.ForeignKey("attachments.id"))
    review_state: Mapped[str] = mapped_column(sa.String(10))  # pending | approved | corrected
    approved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    corrected_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    correction_sealed: Mapped[Sealed | None] = mapped_column(EncryptedBytes)


class ApiIntakeRecord(Base):
    """A report an API token recorded from another channel (Directive 2019/1937 Art. 9(2)): which
    token filed it and when, so that token alone may add files to it for a short while after
    (appliance/cases/api_intake.py). Nothing here is content."""

    __tablename__ = "api_intake_records"

    case_id: Mapped[uuid.UUID] = mapped_column(GUID, sa.ForeignKey("cases.id"), primary_key=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(GUID, sa.ForeignKey("tenants.id"), index=True)
    token_id: Mapped[uuid.UUID] = mapped_column(GUID, sa.ForeignKey("api_tokens.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class ReporterNotifyAddress(Base):
    """The e-mail address a reporter left to be told "there is a new message" (never what it says).

    Sealed under its own data key, wrapped under the tenant's KEK, not under the case key: the
    mail job must read it without the reporter's key. So the server (with the master key) can
    read it; a DBA without the master key cannot, and no page shows it to staff
    (appliance/cases/reporter_notices.py; README, "Reporter notifications")."""

    __tablename__ = "reporter_notify_addresses"

    id: Mapped[uuid.UUID] = mapped_column(GUID, primary_key=True)
    case_id: Mapped[uuid.UUID] = mapped_column(GUID, sa.ForeignKey("cases.id"), unique=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(GUID, sa.ForeignKey("tenants.id"), index=True)
    key_version: Mapped[int] = mapped_column(sa.Integer)
    wrapped_key: Mapped[bytes] = mapped_column(Blob)
    address_sealed: Mapped[Sealed] = mapped_column(EncryptedBytes)
    set_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # The newest handler message already announced (or, when set, the newest there was then).
    announced_up_to: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    notified_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class IdentityConsentRequest(Base):
    """A handler's request for the reporter's explicit consent to disclose their identity
    (Directive 2019/1937 Art. 16(1)): to whom and why, sealed under the case's content key (the
    recipients are personal data); the reporter's answer and its time are readable metadata."""

    __tablename__ = "identity_consent_requests"

    id: Mapped[uuid.UUID] = mapped_column(GUID, primary_key=True, default=new_id)
    case_id: Mapped[uuid.UUID] = mapped_column(GUID, sa.ForeignKey("cases.id"), index=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(GUID, sa.ForeignKey("tenants.id"))
    requested_by: Mapped[uuid.UUID] = mapped_column(GUID, sa.ForeignKey("users.id"))
    requested_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    recipients_sealed: Mapped[Sealed] = mapped_column(EncryptedBytes)
    purpose_sealed: Mapped[Sealed] = mapped_column(EncryptedBytes)
    state: Mapped[str] = mapped_column(sa.String(10))  # pending | given | refused
    answered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class IdentityDisclosure(Base):
    """A disclosure of the reporter's identity a handler recorded: on a given consent, or on a
    legal ground (Art. 16(2)) whose kind is readable and whose explanation is sealed."""

    __tablename__ = "identity_disclosures"

    id: Mapped[uuid.UUID] = mapped_column(GUID, primary_key=True, default=new_id)
    case_id: Mapped[uuid.UUID] = mapped_column(GUID, sa.ForeignKey("cases.id"), index=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(GUID, sa.ForeignKey("tenants.id"))
    consent_id: Mapped[uuid.UUID | None] = mapped_column(GUID, sa.ForeignKey("identity_consent_requests.id"))
    legal_ground: Mapped[str | None] = mapped_column(sa.String(20))
    ground_sealed: Mapped[Sealed | None] = mapped_column(EncryptedBytes)
    recipients_sealed: Mapped[Sealed] = mapped_column(EncryptedBytes)
    # On a legal ground (Art. 16(3)): "informed" (the explanation went to the reporter as a message)
    # or "withheld" (informing them would jeopardise the investigation; the reason is sealed).
    reporter_notice: Mapped[str | None] = mapped_column(sa.String(10))
    withheld_reason_sealed: Mapped[Sealed | None] = mapped_column(EncryptedBytes)
    disclosed_by: Mapped[uuid.UUID] = mapped_column(GUID, sa.ForeignKey("users.id"))
    disclosed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class Redaction(Base):
    """A passage of the report, a message or a note, or a whole attachment, taken out of what
    everyone reads (Art. 16-17). The passages taken out are kept sealed under the case's content
    key (``retained``: a legal hold) or destroyed (``purged``: ``removed_sealed`` is NULL, the
    attachment's chunks are gone). ``target``: report (``field`` says which), message, note or
    attachment; ``target_id`` the row."""

    __tablename__ = "case_redactions"

    id: Mapped[uuid.UUID] = mapped_column(GUID, primary_key=True, default=new_id)
    case_id: Mapped[uuid.UUID] = mapped_column(GUID, sa.ForeignKey("cases.id"), index=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(GUID, sa.ForeignKey("tenants.id"))
    target: Mapped[str] = mapped_column(sa.String(10))
    target_id: Mapped[uuid.UUID] = mapped_column(GUID)
    field: Mapped[str | None] = mapped_column(sa.String(10))
    created_by: Mapped[uuid.UUID] = mapped_column(GUID, sa.ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    reason_sealed: Mapped[Sealed] = mapped_column(EncryptedBytes)
    removed_sealed: Mapped[Sealed | None] = mapped_column(EncryptedBytes)
    disposition: Mapped[str] = mapped_column(sa.String(10))  # retained | purged
    purged_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class SavedQueueFilter(Base):
    """A handler's saved queue search: its name and query string sealed to the handler's own key
    (appliance/cases/saved_filters.py), so no one else, not even with the master key, reads them."""

    __tablename__ = "queue_filters"
    __table_args__ = (sa.Index("ix_queue_filters_user_tenant", "user_id", "tenant_id"),)

    id: Mapped[uuid.UUID] = mapped_column(GUID, primary_key=True, default=new_id)
    tenant_id: Mapped[uuid.UUID] = mapped_column(GUID, sa.ForeignKey("tenants.id"))
    user_id: Mapped[uuid.UUID] = mapped_column(GUID, sa.ForeignKey("users.id"))
    sealed: Mapped[bytes] = mapped_column(Blob)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
