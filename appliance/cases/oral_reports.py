"""Reports received by phone or in a meeting, recorded by a handler (Directive 2019/1937 Art. 18(2)-(4)).

A handler records, with the reporter's consent, accurate minutes or a complete transcript (and
may add the recording). The record is filed like any report: sealed to the channel's readers,
the escrow key and the reporter's case key, which the handler hands to the reporter once. The
reporter then checks the record with that key and either approves it or submits a correction
(Art. 18(2)-(4): "check, rectify and agree ... by signing").

Review states: ``pending`` -> ``approved`` (final) or ``corrected``; a corrected record may
then be approved as corrected (``approved``, the correction and its time stay). A second
correction is refused: further remarks go in the case's messages. Only times and states are
readable metadata; the minutes and the correction are sealed to the case. The logbook records
that a record was made, approved or corrected, never what it says.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from appliance.actors import REPORTER, Role, StaffPrincipal
from appliance.audit.service import Logbook
from appliance.cases.attachments import RECORDING_TYPES, REDACTED_SOURCE, AttachmentInfo, Upload
from appliance.cases.content import MAX_TEXT, CaseContent, check_text
from appliance.cases.models import Attachment, Case, OralRecord
from appliance.cases.reporting import Limits, NewReport, Receipt, ReportingService
from appliance.cases.service import CaseService
from appliance.clock import Clock
from appliance.crypto.case_cipher import CaseCipher
from appliance.crypto.fields import Place
from appliance.errors import CaseLocked, Conflict, InvalidInput, NotAReader, NotFound
from appliance.tenants.models import ReportingChannel, Tenant

# How long after the conversation a record may still be entered (and never in the future).
MAX_DELAY = dt.timedelta(days=30)


class Channel(enum.StrEnum):
    PHONE = "phone"
    MEETING = "meeting"
    OTHER = "other"


class ReviewState(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    CORRECTED = "corrected"


@dataclass(frozen=True)
class OralReport:
    """What a handler enters for a report received orally."""

    category_id: uuid.UUID | None
    channel: str
    received_at: dt.datetime
    minutes: str
    consent: bool
    # The tenant's reporting channel it is recorded for (None: the default channel); the case is
    # sealed to that channel's readers, like a portal report filed through it.
    reporting_channel_id: uuid.UUID | None = None


@dataclass(frozen=True)
class OralRecordView:
    """The record as its readers see it: metadata, and the correction when there is one."""

    case_id: uuid.UUID
    channel: str
    received_at: dt.datetime
    recorded_by: uuid.UUID
    recorded_at: dt.datetime
    consent_at: dt.datetime
    review_state: str
    approved_at: dt.datetime | None
    corrected_at: dt.datetime | None
    correction: str
    recording: AttachmentInfo | None

    @property
    def awaiting_review(self) -> bool:
        return self.review_state != ReviewState.APPROVED


class OralReports:
    def __init__(self, session: Session, reporting: ReportingService, cases: CaseService, content: CaseContent,
                 logbook: Logbook, clock: Clock, limits: Limits) -> None:
        self._session = session
        self._reporting = reporting
        self._cases = cases
        self._content = content
        self._logbook = logbook
        self._clock = clock
        self._limits = limits

    # --- the handler ----------------------------------------------------------------------
    def record(self, principal: StaffPrincipal, tenant_id: uuid.UUID, report: OralReport,
               recording: Upload | None) -> Receipt:
        """File a report received orally, sealed like any report; the receipt's case key is for the
        reporter, shown once. Refused without the reporter's consent (Art. 18(2)) and for a handler
        who is not among the readers new reports are sealed to (they could not read the record)."""
        if tenant_id not in principal.tenants_with(Role.HANDLER):
            raise NotFound("tenant", tenant_id)
        tenant = self._session.get_one(Tenant, tenant_id)
        if not report.consent:
            raise InvalidInput("consent", "the reporter's consent to the record is required")
        channel = _channel(report.channel)
        now = self._clock()
        received_at = report.received_at
        if received_at.tzinfo is None:
            raise InvalidInput("received_at", "needs a time zone")
        if received_at > now or received_at < now - MAX_DELAY:
            raise InvalidInput("received_at", "must be within the last 30 days and not in the future")
        if recording is not None and not _is_recording(recording.content_type):
            raise InvalidInput("recording", "must be an audio or video file")
        minutes = check_text("minutes", report.minutes, MAX_TEXT, required=True)
        if report.reporting_channel_id is not None:
            try:  # another tenant's, a closed or a made-up channel: the same answer
                self._reporting.channel(tenant, report.reporting_channel_id)
            except NotFound:
                raise InvalidInput("reporting_channel", "is not an open channel of this organisation") from None
        filed = self._reporting.file(tenant, NewReport(report.category_id, minutes, channel=channel.value,
                                                       reporting_channel_id=report.reporting_channel_id), [],
                                     principal.actor, received_at=received_at, questionnaire=False)
        if principal.user_id not in filed.recipients:
            raise NotAReader(principal.user_id)
        record = OralRecord(case_id=filed.case.id, tenant_id=tenant.id, channel=channel.value,
                            received_at=received_at, recorded_by=principal.user_id, recorded_at=now,
                            consent_given=True, consent_at=now, review_state=ReviewState.PENDING.value)
        if recording is not None:
            stored = self._content.store_uploads(filed.case, filed.keys, [recording], source="recording",
                                                 message_id=None, per_file=self._limits.per_file,
                                                 per_batch=self._limits.per_report, allowed_types=RECORDING_TYPES)
            record.recording_id = stored[0].id
        self._session.add(record)
        self._session.flush()
        self._logbook.record("case.oral_recorded", principal.actor, tenant_id=tenant.id, object_type="case",
                             object_id=filed.case.id,
                             detail=f"channel={channel.value} recording={int(recording is not None)}")
        return filed.receipt

    def channels(self, principal: StaffPrincipal, tenant_id: uuid.UUID) -> list[ReportingChannel]:
        """The open reporting channels an oral report of this tenant may be recorded for (the
        default one first); NotFound for a tenant the principal does not handle cases of."""
        if tenant_id not in principal.tenants_with(Role.HANDLER):
            raise NotFound("tenant", tenant_id)
        return self._reporting.channels(self._session.get_one(Tenant, tenant_id))

    def for_handler(self, principal: StaffPrincipal, case_id: uuid.UUID) -> OralRecordView | None:
        """The record of a case the principal can read (None: not an oral report); CaseLocked
        without a readable copy, NotFound outside the principal's tenants."""
        case, cipher = self._cases.opened(principal, case_id)
        record = self._record(case)
        return None if record is None else self._view(record, cipher)

    # --- the reporter ---------------------------------------------------------------------
    def for_reporter(self, tenant: Tenant, case_id: uuid.UUID, case_private_key: bytes | None) -> OralRecordView | None:
        """The record as the reporter checks it; None when the case is not an oral report or the
        reporter's key copy is still pending (nothing readable yet)."""
        case = self._case(tenant, case_id)
        record = self._record(case)
        if record is None or case_private_key is None:
            return None
        return self._view(record, self._reporter_cipher(case, case_private_key))

    def approve(self, tenant: Tenant, case_id: uuid.UUID, case_private_key: bytes | None) -> None:
        """The reporter agrees with the record (as corrected, after a correction). Needs the case's
        private key, which only the case key opens; a second approval is refused."""
        case, record = self._reviewable(tenant, case_id, case_private_key)
        now = self._clock()
        record.review_state = ReviewState.APPROVED.value
        record.approved_at = now
        case.updated_at = now
        self._logbook.record("case.record_approved", REPORTER, tenant_id=tenant.id, object_type="case",
                             object_id=case.id, detail="after-correction" if record.corrected_at else None)

    def correct(self, tenant: Tenant, case_id: uuid.UUID, case_private_key: bytes | None, correction: str) -> None:
        """The reporter's correction of the record, sealed to the case and shown to its handlers."""
        case, record = self._reviewable(tenant, case_id, case_private_key)
        if record.review_state == ReviewState.CORRECTED:
            raise Conflict("the record was already corrected; approve it or write a message")
        text = check_text("correction", correction, MAX_TEXT, required=True)
        cipher = self._reporter_cipher(case, case_private_key)
        now = self._clock()
        record.correction_sealed = cipher.seal(text, Place("oral_records", "correction", case.id))
        record.review_state = ReviewState.CORRECTED.value
        record.corrected_at = now
        case.last_reporter_message_at = now  # the handlers' queue shows something new from the reporter
        case.updated_at = now
        self._logbook.record("case.record_corrected", REPORTER, tenant_id=tenant.id, object_type="case",
                             object_id=case.id)

    # --- helpers --------------------------------------------------------------------------
    def _reviewable(self, tenant: Tenant, case_id: uuid.UUID,
                    case_private_key: bytes | None) -> tuple[Case, OralRecord]:
        case = self._case(tenant, case_id)
        record = self._record(case)
        if record is None:
            raise NotFound("oral record", case_id)
        if case_private_key is None:
            raise CaseLocked(case.id, "no-access")
        self._reporter_cipher(case, case_private_key)  # proves the key is the case's own
        if record.review_state == ReviewState.APPROVED:
            raise Conflict("the record was already approved")
        return case, record

    def _reporter_cipher(self, case: Case, case_private_key: bytes | None) -> CaseCipher:
        keys = self._content.reporter_keys(case, case_private_key)
        if not keys.readable:
            raise CaseLocked(case.id, "no-access")
        return keys.cipher

    def _view(self, record: OralRecord, cipher: CaseCipher) -> OralRecordView:
        correction = "" if record.correction_sealed is None else cipher.open(
            record.correction_sealed, Place("oral_records", "correction", record.case_id))
        recording = None
        if record.recording_id is not None:
            attachment = self._session.get_one(Attachment, record.recording_id)
            if attachment.source != REDACTED_SOURCE:
                recording = self._content.attachments.info(attachment, cipher)
        return OralRecordView(record.case_id, record.channel, record.received_at, record.recorded_by,
                              record.recorded_at, record.consent_at, record.review_state, record.approved_at,
                              record.corrected_at, correction, recording)

    def _record(self, case: Case) -> OralRecord | None:
        return self._session.execute(sa.select(OralRecord).where(
            OralRecord.case_id == case.id, OralRecord.tenant_id == case.tenant_id)).scalar_one_or_none()

    def _case(self, tenant: Tenant, case_id: uuid.UUID) -> Case:
        case = self._session.execute(
            sa.select(Case).where(Case.id == case_id, Case.tenant_id == tenant.id)).scalar_one_or_none()
        if case is None:
            raise NotFound("case", case_id)
        return case


def _channel(value: str) -> Channel:
    try:
        return Channel(value)
    except ValueError:
        raise InvalidInput("channel", "must be phone, meeting or other") from None


def _is_recording(content_type: str) -> bool:
    base = content_type.split(";", 1)[0].strip().lower()
    return base in RECORDING_TYPES and base.split("/", 1)[0] in ("audio", "video")
