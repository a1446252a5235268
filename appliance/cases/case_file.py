"""A case file: everything a handler may read of one case, gathered for an export (the PDF case
file), with each attachment's SHA-256 and the case's status history.

The digests are of the plaintext, computed by streaming the decrypted chunks (nothing is
stored, nothing written to disk). The status history comes from the logbook's
``case.status_changed`` events, so it reaches back as far as the logbook is kept.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from appliance.audit.models import AuditEvent
from appliance.cases.attachments import AttachmentInfo, AttachmentStore
from appliance.cases.models import Case
from appliance.cases.read_models import HandlerCaseView
from appliance.crypto.case_cipher import CaseCipher

ATTACHMENT_SOURCES = ("reporter", "handler", "recording")


@dataclass(frozen=True)
class AttachmentDigest:
    info: AttachmentInfo
    sha256: str  # hex, of the plaintext


@dataclass(frozen=True)
class StatusChange:
    at: dt.datetime
    user_id: uuid.UUID | None  # None: not a staff user (the system, the CLI)
    before: str
    after: str


@dataclass(frozen=True)
class CaseFile:
    """What the export shows; ``case.notes`` is empty unless notes were asked for."""

    case: HandlerCaseView
    status_history: tuple[StatusChange, ...]
    attachments: tuple[AttachmentDigest, ...]
    with_notes: bool
    exported_at: dt.datetime


def attachment_digests(store: AttachmentStore, session: Session, case: Case,
                       cipher: CaseCipher) -> tuple[AttachmentDigest, ...]:
    """Every file of the case, oldest first, with the SHA-256 of its plaintext."""
    digests = []
    for info in store.list_for_case(case.id, cipher, ATTACHMENT_SOURCES):
        attachment = store.get(case.id, info.id)
        assert attachment is not None  # listed a moment ago in this transaction
        digest = hashlib.sha256()
        for chunk in store.stream(attachment, cipher):
            digest.update(chunk)
        digests.append(AttachmentDigest(info, digest.hexdigest()))
    return tuple(digests)


def status_history(session: Session, case: Case) -> tuple[StatusChange, ...]:
    """The case's status changes the logbook still holds, oldest first."""
    rows = session.execute(
        sa.select(AuditEvent.occurred_at, AuditEvent.actor_type, AuditEvent.actor_id, AuditEvent.detail)
        .where(AuditEvent.tenant_id == case.tenant_id, AuditEvent.object_type == "case",
               AuditEvent.object_id == str(case.id), AuditEvent.action == "case.status_changed")
        .order_by(AuditEvent.seq)
    ).all()
    changes = []
    for at, actor_type, actor_id, detail in rows:
        before, _, after = (detail or "").partition("->")
        changes.append(StatusChange(at, _user_id(actor_type, actor_id), before, after))
    return tuple(changes)


def _user_id(actor_type: str, actor_id: str | None) -> uuid.UUID | None:
    if actor_type != "user" or not actor_id:
        return None
    try:
        return uuid.UUID(actor_id)
    except ValueError:
        return None
