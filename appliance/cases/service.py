"""The handler's side: work queue, reading a case, answering, notes, status, assignment.

Every method takes the signed-in principal and scopes every query to the tenants where
that principal holds the handler role; a case elsewhere is simply "not found".
"""

from __future__ import annotations

import uuid
from dataclasses import replace

import sqlalchemy as sa
from sqlalchemy.orm import Session

from appliance.actors import Role, StaffPrincipal
from appliance.audit.service import Logbook
from appliance.cases.access import CaseAccess, Holder, OpenedCase
from appliance.cases.attachments import Download, Upload
from appliance.cases.case_file import CaseFile, attachment_digests, status_history
from appliance.cases.content import MAX_TEXT, CaseContent, check_text
from appliance.cases.metadata_removal import MetadataRemover, cleaned_name
from appliance.cases.models import Case, Note
from appliance.cases.queue import MAX_PAGE_SIZE, PAGE_SIZE, CaseQueue, QueuePage, case_deadlines, queue_row, readable_ids
from appliance.cases.queue_filter import QueueFilter
from appliance.cases.read_models import HandlerCaseView, NoteView, QueueRow
from appliance.cases.reporting import Limits
from appliance.cases.triage import NOT_A_DUPLICATE, duplicate_of, duplicate_target
from appliance.cases.workflow import (
    TRIAGE_OUTCOMES,
    Outcome,
    Status,
    check_transition,
    parse_outcome,
    parse_status,
    parse_triage_outcome,
)
from appliance.clock import Clock
from appliance.crypto.case_cipher import CaseCipher
from appliance.crypto.fields import Place
from appliance.errors import CaseLocked, InvalidInput, NotFound
from appliance.keys.keyring import TenantKeyring
from appliance.tenants.models import ReportingChannel
from appliance.users.models import Membership, User

ACK_MESSAGE = "acknowledgement"
CLEANED_CHUNK = 64 * 1024


class CaseService:
    def __init__(self, session: Session, keyring: TenantKeyring, access: CaseAccess, logbook: Logbook,
                 clock: Clock, limits: Limits, queue_cursor_key: bytes,
                 remover: MetadataRemover | None = None) -> None:
        self._session = session
        self._logbook = logbook
        self._remover = remover or MetadataRemover()
        self._clock = clock
        self._limits = limits
        self._access = access
        self._content = CaseContent(session, keyring, access, clock)
        self._queue = CaseQueue(session, clock, queue_cursor_key)

    # --- queue ------------------------------------------------------------------------
    def queue_page(self, principal: StaffPrincipal, filters: QueueFilter, cursor: str | None = None,
                   page_size: int = PAGE_SIZE) -> QueuePage:
        """A page of the work queue (appliance/cases/queue.py). Metadata only: never decrypts."""
        return self._queue.page(principal, filters, cursor, page_size)

    def queue(self, principal: StaffPrincipal, filters: QueueFilter) -> list[QueueRow]:
        """The first page's rows, at the largest page size."""
        return self._queue.page(principal, filters, None, MAX_PAGE_SIZE).rows

    def _reporting_channel(self, case: Case) -> str | None:
        if case.reporting_channel_id is None:
            return None
        channel = self._session.execute(sa.select(ReportingChannel).where(
            ReportingChannel.id == case.reporting_channel_id, ReportingChannel.tenant_id == case.tenant_id)
        ).scalar_one_or_none()
        return channel.name if channel is not None and not channel.is_default else None

    # --- one case ---------------------------------------------------------------------
    def open_case(self, principal: StaffPrincipal, case_id: uuid.UUID) -> HandlerCaseView:
        case = self._case(principal, case_id)
        keys = self._content.staff_keys(case, principal)
        case.handler_read_at = self._clock()
        self._logbook.record("case.viewed", principal.actor, tenant_id=case.tenant_id, object_type="case",
                             object_id=case.id)
        return self._view(case, keys, with_notes=True)

    def case_file(self, principal: StaffPrincipal, case_id: uuid.UUID, with_notes: bool) -> CaseFile:
        """Everything the handler may read of the case for an export, with the files' SHA-256 and the
        status history; the logbook records the export (the case id, never content)."""
        case = self._case(principal, case_id)
        keys = self._content.staff_keys(case, principal)
        if not keys.readable:
            raise CaseLocked(case.id, "no-access")
        self._logbook.record("case.exported_pdf", principal.actor, tenant_id=case.tenant_id, object_type="case",
                             object_id=case.id, detail="with-notes" if with_notes else None)
        return CaseFile(self._view(case, keys, with_notes=with_notes), status_history(self._session, case),
                        attachment_digests(self._content.attachments, self._session, case, keys.cipher), with_notes,
                        self._clock())

    def _view(self, case: Case, keys: OpenedCase, *, with_notes: bool) -> HandlerCaseView:
        notes = self._session.execute(
            sa.select(Note).where(Note.case_id == case.id).order_by(Note.created_at, Note.id)
        ).scalars().all() if with_notes else ()
        cipher = keys.cipher
        return HandlerCaseView(
            id=case.id, tenant_id=case.tenant_id, reference=case.reference, category_id=case.category_id,
            status=case.status, outcome=case.outcome, received_at=case.received_at, channel=case.channel,
            reporting_channel=self._reporting_channel(case), answers=self._content.answers(case, keys),
            acknowledged_at=case.acknowledged_at, feedback_at=case.feedback_at, closed_at=case.closed_at,
            duplicate_of=duplicate_of(self._session, case),
            assignee_id=case.assignee_id,
            deadlines=case_deadlines(case, self._clock()),
            report=self._content.report(case, keys),
            conclusions=self._content.conclusions(case, keys),
            report_attachments=self._content.report_attachments(case, keys),
            thread=self._content.thread(case, keys, with_authors=True),
            notes=tuple(NoteView(n.id, n.author_user_id, n.created_at,
                                 cipher.open(n.body_sealed, Place("case_notes", "body", n.id))) for n in notes),
        )

    def change_status(self, principal: StaffPrincipal, case_id: uuid.UUID, target: str,
                      outcome: str = "", conclusions: str = "") -> None:
        """Move a case along the flow. Acknowledging tells the reporter; closing needs an outcome."""
        case = self._case(principal, case_id)
        keys = self._content.staff_keys(case, principal)  # only handlers who can read the case act on it
        new = parse_status(target)
        check_transition(Status(case.status), new, acknowledged=case.acknowledged_at is not None)
        now = self._clock()
        if new == Status.CLOSED:
            closing_outcome = parse_outcome(outcome) if outcome else None
            if closing_outcome is None:
                raise InvalidInput("outcome", "is required to close a case")
            if closing_outcome in TRIAGE_OUTCOMES:
                raise InvalidInput("outcome", "closes a case only at triage, before it is acknowledged")
            text = check_text("conclusions", conclusions, MAX_TEXT, required=True)
            case.conclusions_sealed = keys.cipher.seal(text, Place("cases", "conclusions", case.id))
            case.outcome = closing_outcome.value
            case.closed_at = now
        elif case.status == Status.CLOSED:
            case.closed_at = None
            case.outcome = None
            case.duplicate_of_id = None
        if new == Status.ACKNOWLEDGED:
            case.acknowledged_at = now
            self._content.add_message(case, keys, "system", ACK_MESSAGE, [], 0, 0)
        self._logbook.record("case.status_changed", principal.actor, tenant_id=case.tenant_id, object_type="case",
                             object_id=case.id, detail=f"{case.status}->{new.value}")
        case.status = new.value
        case.updated_at = now

    def check_triage(self, principal: StaffPrincipal, case_id: uuid.UUID, outcome: str,
                     duplicate_of_reference: str = "") -> str | None:
        """What close_at_triage would do, checked and not done (for the confirmation page): the
        earlier case's reference for a duplicate, None for what is not a report."""
        case = self._case(principal, case_id)
        if not self._accessible(principal, case):
            raise CaseLocked(case.id, "no-access")
        earlier = self._triage_target(principal, case, outcome, duplicate_of_reference)
        return earlier.reference if earlier is not None else None

    def close_at_triage(self, principal: StaffPrincipal, case_id: uuid.UUID, outcome: str,
                        duplicate_of_reference: str = "") -> None:
        """Close a RECEIVED case without an acknowledgement: spam (``not-a-report``) or a
        ``duplicate`` of the case with ``duplicate_of_reference`` (appliance/cases/triage.py).
        The logbook gets the outcome and the earlier case's reference, never content."""
        case = self._case(principal, case_id)
        self._content.staff_keys(case, principal)  # only handlers who can read the case act on it
        earlier = self._triage_target(principal, case, outcome, duplicate_of_reference)
        now = self._clock()
        case.outcome = Outcome.DUPLICATE.value if earlier is not None else Outcome.NOT_A_REPORT.value
        case.duplicate_of_id = earlier.id if earlier is not None else None
        case.closed_at = now
        self._logbook.record("case.status_changed", principal.actor, tenant_id=case.tenant_id, object_type="case",
                             object_id=case.id, detail=f"{case.status}->{Status.CLOSED.value}")
        self._logbook.record("case.closed_at_triage", principal.actor, tenant_id=case.tenant_id, object_type="case",
                             object_id=case.id, detail=f"duplicate-of={earlier.reference}" if earlier is not None
                             else Outcome.NOT_A_REPORT.value)
        case.status = Status.CLOSED.value
        case.updated_at = now

    def _triage_target(self, principal: StaffPrincipal, case: Case, outcome: str, reference: str) -> Case | None:
        closing = parse_triage_outcome(outcome)
        if case.status != Status.RECEIVED:
            raise InvalidInput("status", f"only a received case is closed at triage, not a {case.status} one")
        if closing == Outcome.DUPLICATE:
            return duplicate_target(self._session, principal, case, reference)
        if reference.strip():
            raise InvalidInput("duplicate_of", NOT_A_DUPLICATE)
        return None

    def assign(self, principal: StaffPrincipal, case_id: uuid.UUID, assignee_id: uuid.UUID | None) -> None:
        case = self._case(principal, case_id)
        self._content.staff_keys(case, principal)  # only handlers who can read the case act on it
        if assignee_id is not None:
            is_handler = self._session.execute(
                sa.select(Membership.id).join(User, User.id == Membership.user_id).where(
                    Membership.user_id == assignee_id, Membership.tenant_id == case.tenant_id,
                    Membership.role == Role.HANDLER.value, User.disabled_at.is_(None))
            ).first()
            if not is_handler:
                raise InvalidInput("assignee", "is not a handler of this organisation")
        case.assignee_id = assignee_id
        case.updated_at = self._clock()
        self._logbook.record("case.assigned", principal.actor, tenant_id=case.tenant_id, object_type="case",
                             object_id=case.id, detail=f"assignee={assignee_id}" if assignee_id else "unassigned")

    def post_message(self, principal: StaffPrincipal, case_id: uuid.UUID, body: str, uploads: list[Upload],
                     is_feedback: bool = False) -> None:
        """A message the reporter will read with the case key."""
        case = self._case(principal, case_id)
        keys = self._content.staff_keys(case, principal)
        message = self._content.add_message(case, keys, "handler", body, uploads, self._limits.per_file,
                                            self._limits.per_report, author_user_id=principal.user_id,
                                            is_feedback=is_feedback)
        if is_feedback and case.feedback_at is None:
            case.feedback_at = message.created_at
        case.updated_at = message.created_at
        self._logbook.record("message.sent", principal.actor, tenant_id=case.tenant_id, object_type="case",
                             object_id=case.id, detail="feedback" if is_feedback else None)

    def add_note(self, principal: StaffPrincipal, case_id: uuid.UUID, body: str) -> None:
        case = self._case(principal, case_id)
        text = check_text("note", body, MAX_TEXT, required=True)
        keys = self._content.staff_keys(case, principal)
        note = Note(id=uuid.uuid4(), case_id=case.id, tenant_id=case.tenant_id, author_user_id=principal.user_id,
                    created_at=self._clock())
        note.body_sealed = keys.cipher.seal(text, Place("case_notes", "body", note.id))
        self._session.add(note)
        self._logbook.record("note.added", principal.actor, tenant_id=case.tenant_id, object_type="case",
                             object_id=case.id)

    def download(self, principal: StaffPrincipal, case_id: uuid.UUID, attachment_id: uuid.UUID) -> Download:
        """The stored file as it was uploaded (logbook: which file, ``original``)."""
        return self._download(principal, case_id, attachment_id, cleaned=False)

    def download_cleaned(self, principal: StaffPrincipal, case_id: uuid.UUID, attachment_id: uuid.UUID) -> Download:
        """A copy without metadata (mat2), made now and never stored; MetadataNotRemovable when
        none can be made (the original stays downloadable). Logbook: which file, ``cleaned``."""
        return self._download(principal, case_id, attachment_id, cleaned=True)

    def _download(self, principal: StaffPrincipal, case_id: uuid.UUID, attachment_id: uuid.UUID, *,
                  cleaned: bool) -> Download:
        case = self._case(principal, case_id)
        attachment = self._content.attachments.get(case.id, attachment_id)
        if attachment is None:
            raise NotFound("attachment", attachment_id)
        keys = self._content.staff_keys(case, principal)
        info = self._content.attachments.info(attachment, keys.cipher)
        chunks = self._content.attachments.stream(attachment, keys.cipher)
        if cleaned:
            data = self._remover.clean(info.filename, chunks)
            # The uploaded name can identify someone too ("Jane's notes.docx"): the copy gets a neutral one.
            info = replace(info, filename=cleaned_name(attachment.id, info.filename), size_bytes=len(data))
            chunks = iter([data[i:i + CLEANED_CHUNK] for i in range(0, len(data), CLEANED_CHUNK)] or [b""])
        self._logbook.record("attachment.downloaded", principal.actor, tenant_id=case.tenant_id,
                             object_type="attachment", object_id=attachment.id,
                             detail="cleaned" if cleaned else "original")
        return Download(info, chunks)

    # --- access -----------------------------------------------------------------------
    def holders(self, principal: StaffPrincipal, case_id: uuid.UUID) -> list[Holder]:
        """Who holds a key copy (metadata: any handler of the tenant may see it, to ask them)."""
        return self._access.holders(self._case(principal, case_id).id)

    def summary(self, principal: StaffPrincipal, case_id: uuid.UUID) -> QueueRow:
        """A case's metadata as the queue shows it (what a handler without a key may see)."""
        case = self._case(principal, case_id)
        return queue_row(case, self._clock(), self._accessible(principal, case))

    def can_read(self, principal: StaffPrincipal, case_id: uuid.UUID) -> bool:
        return self._accessible(principal, self._case(principal, case_id))

    def _accessible(self, principal: StaffPrincipal, case: Case) -> bool:
        """A pre-upgrade case opens for every handler of its tenant; a sealed one needs a current copy."""
        return case.public_key is None or bool(readable_ids(self._session, principal, [case.id]))

    def share(self, principal: StaffPrincipal, case_id: uuid.UUID, user_id: uuid.UUID) -> None:
        """Give another handler of the case's tenant their own sealed copy (needs access yourself)."""
        case = self._case(principal, case_id)
        keys = self._content.staff_keys(case, principal)
        if keys.private_key is None:
            raise CaseLocked(case.id, "not-sealed")  # tenant-wrapped: run `appliance keys seal-existing` first
        self._access.grant(case, keys.private_key, user_id, principal.actor)

    def reporter_copy_pending(self, principal: StaffPrincipal, case_id: uuid.UUID) -> bool:
        """A case from before sealed keys whose reporter signed in since: their copy can be restored."""
        return self._access.reporter_copy_pending(self._case(principal, case_id))

    def restore_reporter_copy(self, principal: StaffPrincipal, case_id: uuid.UUID) -> None:
        """A handler who can open the case gives the reporter their own copy back (by choice:
        opening a case never adds a copy for anyone)."""
        case = self._case(principal, case_id)
        keys = self._content.staff_keys(case, principal)
        if keys.private_key is None:
            raise CaseLocked(case.id, "not-sealed")
        self._access.restore_reporter_copy(case, keys.private_key, principal.actor)

    def unshare(self, principal: StaffPrincipal, case_id: uuid.UUID, user_id: uuid.UUID) -> None:
        """Withdraw a handler's copy; only someone who can read the case may do so."""
        case = self._case(principal, case_id)
        self._content.staff_keys(case, principal)
        self._access.revoke(case, user_id, principal.actor)

    def opened(self, principal: StaffPrincipal, case_id: uuid.UUID) -> tuple[Case, CaseCipher]:
        """A case the principal handles, with its cipher; CaseLocked without a readable copy."""
        case = self._case(principal, case_id)
        keys = self._content.staff_keys(case, principal)
        if not keys.readable:
            raise CaseLocked(case.id, "no-access")
        return case, keys.cipher

    def _case(self, principal: StaffPrincipal, case_id: uuid.UUID) -> Case:
        tenants = principal.tenants_with(Role.HANDLER)
        case = self._session.execute(
            sa.select(Case).where(Case.id == case_id, Case.tenant_id.in_(tenants))
        ).scalar_one_or_none() if tenants else None
        if case is None:
            raise NotFound("case", case_id)
        return case
