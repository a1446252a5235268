"""Redaction (Directive 2019/1937 Art. 16-17: personal data not relevant to the case is deleted).

A handler takes a passage out of the report, a message or a note (every occurrence of the exact
text, in that one field), or takes a whole attachment out of the case. The field is sealed again
with ``[redacted]`` where the passage was, so every view reads the redacted version: the case
page, the reporter's follow-up page, the PDF case file. A redacted attachment is listed nowhere
and downloads for nobody.

What was taken out is either kept sealed under the case's content key (``retained``: a legal
hold; only the case's readers could open it) or destroyed (``purged``): the passages' ciphertext
is overwritten with NULL, an attachment's chunks are deleted and its name overwritten. On SQLite
every redaction makes sure ``secure_delete`` is on for its connection (SQLCipher's default for an
encrypted file; the field's old ciphertext holds the passage), so freed cells and pages are
zeroed rather than left in the file; their old frames leave the ``-wal`` file at the next
checkpoint. On PostgreSQL the old row versions stay in the table's files until (auto)vacuum
reuses their space. Backups keep the original until they age out (README).

The logbook records the redaction's id, the kind of target and the disposition, never the text
or the reason.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from appliance.actors import StaffPrincipal
from appliance.audit.service import Logbook
from appliance.cases.attachments import REDACTED_SOURCE
from appliance.cases.content import MAX_SHORT, MAX_TEXT, REPORT_FIELDS
from appliance.cases.models import Attachment, AttachmentChunk, Case, Message, Note, Redaction
from appliance.cases.service import CaseService
from appliance.clock import Clock
from appliance.crypto.case_cipher import CaseCipher
from appliance.crypto.fields import Place, Sealed
from appliance.errors import Conflict, InvalidInput, NotFound

REDACTED = "[redacted]"
TABLE = "case_redactions"


class Target(enum.StrEnum):
    REPORT = "report"
    MESSAGE = "message"
    NOTE = "note"
    ATTACHMENT = "attachment"


class Disposition(enum.StrEnum):
    RETAINED = "retained"  # the passages stay sealed to the case (a legal hold)
    PURGED = "purged"  # destroyed


@dataclass(frozen=True)
class RedactionView:
    id: uuid.UUID
    target: str
    target_id: uuid.UUID
    field: str | None
    created_by: uuid.UUID
    created_at: dt.datetime
    reason: str
    disposition: str
    purged_at: dt.datetime | None

    @property
    def retained(self) -> bool:
        return self.disposition == Disposition.RETAINED


@dataclass
class _Text:
    """One sealed text of the case: where it is and how to write it back."""

    row: Case | Message | Note
    row_id: uuid.UUID
    column: str
    place: Place


class Redactions:
    """Redacts passages and attachments of a case, lists the redactions, purges what was kept."""

    def __init__(self, session: Session, cases: CaseService, logbook: Logbook, clock: Clock) -> None:
        self._session = session
        self._cases = cases
        self._logbook = logbook
        self._clock = clock

    def redact_text(self, principal: StaffPrincipal, case_id: uuid.UUID, target: str, ref: str, passage: str,
                    reason: str, *, purge: bool) -> uuid.UUID:
        """Replace every occurrence of ``passage`` in one text of the case with ``[redacted]``.
        ``target``: report (``ref`` names the field), message or note (``ref`` is its id)."""
        case, cipher = self._cases.opened(principal, case_id)
        passage = passage.replace("\r\n", "\n").strip()
        if not passage or len(passage) > MAX_TEXT or passage == REDACTED:
            raise InvalidInput("passage", "give the exact text to redact")
        reason = _reason(reason)
        text = self._text(case, target, ref)
        sealed: Sealed | None = getattr(text.row, text.column)
        current = cipher.open(sealed, text.place) if sealed is not None else ""
        count = current.count(passage)
        if not count:
            raise InvalidInput("passage", "does not occur in that text")
        self._secure_delete()  # the old ciphertext of the field holds the passage, retained or not
        setattr(text.row, text.column, cipher.seal(current.replace(passage, REDACTED), text.place))
        row = self._row(case, principal, Target(target), text.row_id,
                        ref if target == Target.REPORT else None, purge)
        row.reason_sealed = cipher.seal(reason, Place(TABLE, "reason", row.id))
        if not purge:
            removed = json.dumps({"passage": passage, "count": count}, ensure_ascii=False)
            row.removed_sealed = cipher.seal(removed, Place(TABLE, "removed", row.id))
        return self._done(case, principal, row)

    def redact_attachment(self, principal: StaffPrincipal, case_id: uuid.UUID, attachment_id: uuid.UUID,
                          reason: str, *, purge: bool) -> uuid.UUID:
        """Take a whole file out of the case: listed nowhere, downloaded by nobody; its chunks stay
        sealed (retained) or are deleted (purged)."""
        case, cipher = self._cases.opened(principal, case_id)
        reason = _reason(reason)
        attachment = self._session.execute(sa.select(Attachment).where(
            Attachment.id == attachment_id, Attachment.case_id == case.id,
            Attachment.source != REDACTED_SOURCE)).scalar_one_or_none()
        if attachment is None:
            raise NotFound("attachment", attachment_id)
        self._secure_delete()
        row = self._row(case, principal, Target.ATTACHMENT, attachment.id, attachment.source, purge)
        row.reason_sealed = cipher.seal(reason, Place(TABLE, "reason", row.id))
        attachment.source = REDACTED_SOURCE
        if purge:
            self._destroy_file(attachment, cipher)
        return self._done(case, principal, row)

    def purge(self, principal: StaffPrincipal, case_id: uuid.UUID, redaction_id: uuid.UUID) -> None:
        """Destroy what a retained redaction kept; a second purge is a Conflict."""
        case, cipher = self._cases.opened(principal, case_id)
        row = self._session.execute(sa.select(Redaction).where(
            Redaction.id == redaction_id, Redaction.case_id == case.id,
            Redaction.tenant_id == case.tenant_id)).scalar_one_or_none()
        if row is None:
            raise NotFound("redaction", redaction_id)
        if row.disposition != Disposition.RETAINED:
            raise Conflict("the redaction was already purged")
        self._secure_delete()
        row.removed_sealed = None
        if row.target == Target.ATTACHMENT:
            attachment = self._session.execute(sa.select(Attachment).where(
                Attachment.id == row.target_id, Attachment.case_id == case.id)).scalar_one_or_none()
            if attachment is not None:
                self._destroy_file(attachment, cipher)
        row.disposition = Disposition.PURGED.value
        row.purged_at = self._clock()
        self._session.flush()
        self._logbook.record("case.redaction_purged", principal.actor, tenant_id=case.tenant_id, object_type="case",
                             object_id=case.id, detail=f"redaction={row.id} target={row.target}")

    def for_handler(self, principal: StaffPrincipal, case_id: uuid.UUID) -> tuple[RedactionView, ...]:
        """The case's redactions, oldest first, with their reasons (never what they took out)."""
        case, cipher = self._cases.opened(principal, case_id)
        rows = self._session.execute(sa.select(Redaction).where(
            Redaction.case_id == case.id, Redaction.tenant_id == case.tenant_id)
            .order_by(Redaction.created_at, Redaction.id)).scalars().all()
        return tuple(RedactionView(r.id, r.target, r.target_id, r.field, r.created_by, r.created_at,
                                   cipher.open(r.reason_sealed, Place(TABLE, "reason", r.id)), r.disposition,
                                   r.purged_at) for r in rows)

    # --- helpers --------------------------------------------------------------------------
    def _text(self, case: Case, target: str, ref: str) -> _Text:
        if target == Target.REPORT:
            if ref not in REPORT_FIELDS:
                raise InvalidInput("target", "choose a text of the case")
            return _Text(case, case.id, f"{ref}_sealed", Place("cases", ref, case.id))
        if target not in (Target.MESSAGE, Target.NOTE):
            raise InvalidInput("target", "choose a text of the case")
        try:
            row_id = uuid.UUID(ref)
        except ValueError:
            raise NotFound(target, ref) from None
        row: Message | Note | None
        if target == Target.MESSAGE:
            # The system's own texts (the acknowledgement) are not personal data.
            row = self._session.execute(sa.select(Message).where(
                Message.id == row_id, Message.case_id == case.id, Message.tenant_id == case.tenant_id,
                Message.author != "system")).scalar_one_or_none()
            table = "case_messages"
        else:
            row = self._session.execute(sa.select(Note).where(
                Note.id == row_id, Note.case_id == case.id, Note.tenant_id == case.tenant_id)).scalar_one_or_none()
            table = "case_notes"
        if row is None:
            raise NotFound(target, row_id)
        return _Text(row, row.id, "body_sealed", Place(table, "body", row.id))

    def _row(self, case: Case, principal: StaffPrincipal, target: Target, target_id: uuid.UUID, field: str | None,
             purge: bool) -> Redaction:
        now = self._clock()
        return Redaction(id=uuid.uuid4(), case_id=case.id, tenant_id=case.tenant_id, target=target.value,
                         target_id=target_id, field=field, created_by=principal.user_id, created_at=now,
                         disposition=(Disposition.PURGED if purge else Disposition.RETAINED).value,
                         purged_at=now if purge else None)

    def _done(self, case: Case, principal: StaffPrincipal, row: Redaction) -> uuid.UUID:
        self._session.add(row)
        case.updated_at = row.created_at
        self._session.flush()
        self._logbook.record("case.redacted", principal.actor, tenant_id=case.tenant_id, object_type="case",
                             object_id=case.id, detail=f"redaction={row.id} target={row.target} kept={row.disposition}")
        if row.disposition == Disposition.PURGED:
            self._logbook.record("case.redaction_purged", principal.actor, tenant_id=case.tenant_id,
                                 object_type="case", object_id=case.id, detail=f"redaction={row.id} target={row.target}")
        return row.id

    def _destroy_file(self, attachment: Attachment, cipher: CaseCipher) -> None:
        """The file's chunks deleted, its name and type overwritten, its own key dropped."""
        self._secure_delete()
        self._session.execute(sa.delete(AttachmentChunk).where(AttachmentChunk.attachment_id == attachment.id))
        attachment.filename_sealed = cipher.seal(REDACTED, Place("attachments", "filename", attachment.id))
        attachment.content_type_sealed = cipher.seal("application/octet-stream",
                                                     Place("attachments", "content_type", attachment.id))
        attachment.file_key_sealed = None
        attachment.chunk_count = 0
        attachment.size_bytes = 0

    def _secure_delete(self) -> None:
        """SQLite: zero what this connection frees (cells, pages) instead of leaving it in free pages."""
        if self._session.get_bind().dialect.name == "sqlite":
            self._session.execute(sa.text("PRAGMA secure_delete = ON"))


def _reason(reason: str) -> str:
    reason = reason.replace("\r\n", "\n").strip()
    if not reason:
        raise InvalidInput("reason", "is required")
    if len(reason) > MAX_SHORT or "\x00" in reason:
        raise InvalidInput("reason", f"must be at most {MAX_SHORT} characters")
    return reason
