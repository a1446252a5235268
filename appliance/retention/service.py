"""Retention: how long each tenant keeps cases, legal holds that stop deletion, and deleting
what is due.

Records must be kept no longer than necessary (Directive 2019/1937 Art. 18, GDPR Art. 5(1)(e)),
so a closed case always has an end date; a legal hold, placed for a named matter and released
when it ends, is the only way to keep a case past it.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from appliance.actors import Actor
from appliance.audit.service import Logbook
from appliance.cases.models import (
    ApiIntakeRecord,
    Attachment,
    AttachmentChunk,
    Case,
    CasePrivateKeySeal,
    IdentityConsentRequest,
    IdentityDisclosure,
    Message,
    Note,
    OralRecord,
    Redaction,
    ReporterNotifyAddress,
)
from appliance.cases.workflow import Status
from appliance.clock import Clock
from appliance.errors import Conflict, InvalidInput, NotFound
from appliance.job_runs.models import JobRun
from appliance.notify.models import ReminderSent
from appliance.persons.chain import forget_object
from appliance.persons.models import CaseSubjectEntry
from appliance.retention.models import (
    DEFAULT_CLOSED_CASE_DAYS,
    DEFAULT_UNACKNOWLEDGED_CASE_DAYS,
    LegalHold,
    RetentionPolicy,
)
from appliance.tenants.models import Tenant
from appliance.users.models import WebSession

# A month after closure at the earliest: the reporter must be able to read the final feedback,
# and a mistaken closure must be reopened, before the case is gone for good.
MIN_CLOSED_CASE_DAYS = 30
# A report nobody acknowledged may still be genuine (the 7-day deadline was simply missed): keep it
# long enough past the 3-month feedback deadline for someone to notice before it is destroyed.
MIN_UNACKNOWLEDGED_CASE_DAYS = 90
# Ten years: beyond any limitation period an EU whistleblowing case plausibly needs. Longer
# would be "forever" in practice; a case that must outlive it needs a legal hold.
MAX_CASE_DAYS = 3650
MAX_HOLD_REFERENCE = 80
MAX_CASE_REFERENCE = 12

CLOSED = "closed"
UNACKNOWLEDGED = "unacknowledged"


@dataclass(frozen=True)
class Policy:
    tenant_id: uuid.UUID
    closed_case_days: int
    unacknowledged_case_days: int | None
    is_default: bool


@dataclass(frozen=True)
class DueCase:
    """A case the next run deletes: ``reason`` closed (``since`` = closed at) or unacknowledged
    (``since`` = received at)."""

    case_id: uuid.UUID
    tenant_id: uuid.UUID
    tenant_slug: str
    reference: str
    reason: str
    since: dt.datetime


@dataclass(frozen=True)
class HoldView:
    id: uuid.UUID
    tenant_id: uuid.UUID
    case_id: uuid.UUID | None
    case_reference: str | None  # None: the hold covers the whole tenant
    reference: str
    placed_by: str
    placed_at: dt.datetime
    released_at: dt.datetime | None


def clean_hold_reference(value: str) -> str:
    """A matter or file number: printable, one line, at most 80 characters, not an e-mail address.

    Control and format characters (newlines, bidi overrides) are dropped so a reference cannot
    forge lines in the CLI's output or reorder text on the admin page."""
    kept = (" " if ch.isspace() else ch for ch in value if ch.isspace() or unicodedata.category(ch) not in ("Cc", "Cf"))
    text = " ".join("".join(kept).split())
    if not text:
        raise InvalidInput("reference", "is required: give the matter or file number the hold is for")
    if len(text) > MAX_HOLD_REFERENCE:
        raise InvalidInput("reference", f"must be at most {MAX_HOLD_REFERENCE} characters")
    if "@" in text:
        raise InvalidInput("reference", "looks like an e-mail address; give a matter or file number, not a name")
    return text


def check_days(field: str, value: int, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(field, "must be a whole number of days")
    if not minimum <= value <= MAX_CASE_DAYS:
        raise InvalidInput(field, f"must be between {minimum} and {MAX_CASE_DAYS} days")
    return value


class RetentionService:
    """Policies, legal holds and case deletion. Never commits: a run deletes each case in its
    own transaction, which the boundary (CLI command, scheduled job) commits."""

    def __init__(self, session: Session, logbook: Logbook, clock: Clock) -> None:
        self._session = session
        self._logbook = logbook
        self._clock = clock

    # --- policies -------------------------------------------------------------------------
    def policy(self, tenant_id: uuid.UUID) -> Policy:
        """The tenant's policy, or the defaults while it has none."""
        row = self._session.get(RetentionPolicy, tenant_id)
        if row is None:
            return Policy(tenant_id, DEFAULT_CLOSED_CASE_DAYS, DEFAULT_UNACKNOWLEDGED_CASE_DAYS, True)
        return Policy(tenant_id, row.closed_case_days, row.unacknowledged_case_days, False)

    def set_policy(self, tenant_id: uuid.UUID, closed_case_days: int, unacknowledged_case_days: int | None,
                   actor: Actor) -> Policy:
        """Set how long closed cases (30 to 3650 days) and never-acknowledged ones (90 to 3650
        days, or None: kept until closed) are kept. Takes effect at the next run."""
        closed = check_days("closed_case_days", closed_case_days, MIN_CLOSED_CASE_DAYS)
        unacknowledged = None if unacknowledged_case_days is None else check_days(
            "unacknowledged_case_days", unacknowledged_case_days, MIN_UNACKNOWLEDGED_CASE_DAYS)
        row = self._session.get(RetentionPolicy, tenant_id)
        if row is None:
            row = RetentionPolicy(tenant_id=tenant_id)
            self._session.add(row)
        row.closed_case_days = closed
        row.unacknowledged_case_days = unacknowledged
        row.updated_at = self._clock()
        self._logbook.record("retention.policy_set", actor, tenant_id=tenant_id, object_type="tenant",
                             object_id=tenant_id,
                             detail=f"closed={closed} unacknowledged={unacknowledged if unacknowledged else 'none'}")
        self._session.flush()
        return self.policy(tenant_id)

    # --- legal holds ----------------------------------------------------------------------
    def place_hold(self, tenant_id: uuid.UUID, case_reference: str | None, reference: str, actor: Actor) -> HoldView:
        """Hold one case (by its reference) or, with None, every case of the tenant."""
        text = clean_hold_reference(reference)
        case_id = None if case_reference is None else self._case_id_by_reference(tenant_id, case_reference)
        self._lock_tenant(tenant_id)
        hold = LegalHold(id=uuid.uuid4(), tenant_id=tenant_id, case_id=case_id, reference=text,
                         placed_by=_actor_id(actor), placed_at=self._clock())
        self._session.add(hold)
        self._session.flush()
        # The hold's reference stays out of the logbook: the logbook holds ids only.
        self._logbook.record("legal_hold.placed", actor, tenant_id=tenant_id, object_type="legal_hold",
                             object_id=hold.id, detail=f"case={case_id}" if case_id else "tenant")
        return self._view(hold, case_reference.strip().upper() if case_reference else None)

    def release_hold(self, hold_id: uuid.UUID, tenant_id: uuid.UUID, actor: Actor) -> HoldView:
        """End an active hold of this tenant; the cases it covered are deleted when due again."""
        hold = self._session.execute(
            sa.select(LegalHold).where(LegalHold.id == hold_id, LegalHold.tenant_id == tenant_id)
        ).scalar_one_or_none()
        if hold is None:
            raise NotFound("legal hold", hold_id)
        if hold.released_at is not None:
            raise Conflict("this legal hold was already released")
        hold.released_at = self._clock()
        hold.released_by = _actor_id(actor)
        self._logbook.record("legal_hold.released", actor, tenant_id=tenant_id, object_type="legal_hold",
                             object_id=hold.id)
        self._session.flush()
        return self._view(hold, self._reference_of(hold.case_id))

    def holds(self, tenant_id: uuid.UUID, include_released: bool = False) -> list[HoldView]:
        """The tenant's holds, oldest first (active ones only unless asked)."""
        query = (sa.select(LegalHold, Case.reference).outerjoin(Case, Case.id == LegalHold.case_id)
                 .where(LegalHold.tenant_id == tenant_id).order_by(LegalHold.placed_at, LegalHold.id))
        if not include_released:
            query = query.where(LegalHold.released_at.is_(None))
        return [self._view(hold, reference) for hold, reference in self._session.execute(query)]

    # --- what is due ----------------------------------------------------------------------
    def due(self, now: dt.datetime, tenant_id: uuid.UUID | None = None,
            case_id: uuid.UUID | None = None) -> list[DueCase]:
        """Cases past their tenant's policy and under no active hold, oldest first.

        A run deletes exactly these (each re-checked in its own transaction), so a dry run
        and the preview on the admin page show what a run would do at ``now``."""
        tenants = self._session.execute(
            sa.select(Tenant.id, Tenant.slug).where(Tenant.id == tenant_id) if tenant_id
            else sa.select(Tenant.id, Tenant.slug)).all()
        held_tenants = set(self._session.execute(sa.select(LegalHold.tenant_id).where(
            LegalHold.case_id.is_(None), LegalHold.released_at.is_(None))).scalars())
        held_cases = sa.select(LegalHold.case_id).where(LegalHold.case_id.is_not(None),
                                                         LegalHold.released_at.is_(None))
        found: list[DueCase] = []
        for tid, slug in tenants:
            if tid in held_tenants:
                continue
            policy = self.policy(tid)
            rules = [sa.and_(Case.status == Status.CLOSED.value,
                             Case.closed_at <= now - dt.timedelta(days=policy.closed_case_days))]
            if policy.unacknowledged_case_days is not None:
                # Only RECEIVED cases lack an acknowledgement: every later status needs one.
                rules.append(sa.and_(Case.status == Status.RECEIVED.value, Case.acknowledged_at.is_(None),
                                     Case.received_at <= now - dt.timedelta(days=policy.unacknowledged_case_days)))
            query = (sa.select(Case.id, Case.reference, Case.status, Case.closed_at, Case.received_at)
                     .where(Case.tenant_id == tid, sa.or_(*rules), Case.id.not_in(held_cases)))
            if case_id is not None:
                query = query.where(Case.id == case_id)
            for row in self._session.execute(query):
                closed = row.status == Status.CLOSED.value
                since = row.closed_at if closed and row.closed_at else row.received_at
                found.append(DueCase(row.id, tid, slug, row.reference, CLOSED if closed else UNACKNOWLEDGED, since))
        return sorted(found, key=lambda d: (d.since, d.reference))

    def delete_due_case(self, case_id: uuid.UUID, now: dt.datetime, actor: Actor) -> DueCase | None:
        """Delete the case if it is still due at ``now`` (a hold placed or the case reopened since
        the listing keeps it); returns what was deleted, or None."""
        self._lock_case_tenant(case_id)
        due = self.due(now, case_id=case_id)
        if not due:
            return None
        self.delete_case(case_id, due[0].reason, actor)
        return due[0]

    # --- deletion -------------------------------------------------------------------------
    def delete_case(self, case_id: uuid.UUID, reason: str, actor: Actor) -> None:
        """Delete a case and everything that belongs to it, in the caller's transaction: file
        chunks, attachments, messages, notes, the record of a report received orally or through the API, sealed key
        copies, reporter sessions, the reporter's notification address, reminder records, its released holds,
        the persons named in it
        (``case_subjects``, and links from before those); the case row takes its blind index (the
        case key's HMAC) with it. Refused while a legal hold covers the case.

        The person records those entries referred to stay, holding only blind indexes and a key:
        which of them no other case names is sealed to the cases, so the server cannot tell.
        `appliance person reconcile` (with the escrow key) deletes them."""
        tenant_id = self._lock_case_tenant(case_id)
        if tenant_id is None:
            raise NotFound("case", case_id)
        if self._held(tenant_id, case_id):
            raise Conflict("the case is under a legal hold")
        session = self._session
        attachments = sa.select(Attachment.id).where(Attachment.case_id == case_id).scalar_subquery()
        session.execute(sa.delete(AttachmentChunk).where(AttachmentChunk.attachment_id.in_(attachments)))
        # An oral record points at its recording, attachments at messages: they go first.
        for model in (OralRecord, ApiIntakeRecord, Redaction, Attachment, Message, Note, CasePrivateKeySeal,
                      WebSession, ReminderSent, LegalHold, CaseSubjectEntry, IdentityDisclosure, IdentityConsentRequest,
                      ReporterNotifyAddress):
            session.execute(sa.delete(model).where(model.case_id == case_id))
        forget_object(session, "case", case_id)
        session.execute(sa.delete(Case).where(Case.id == case_id))
        self._logbook.record("case.deleted", actor, tenant_id=tenant_id, object_type="case", object_id=case_id,
                             detail=f"retention: {reason}")

    # --- job runs -------------------------------------------------------------------------
    def old_job_runs(self, cutoff: dt.datetime) -> int:
        return int(self._session.execute(sa.select(sa.func.count()).select_from(JobRun).where(
            *_finished_before(cutoff))).scalar_one())

    def delete_old_job_runs(self, cutoff: dt.datetime) -> int:
        """Finished runs that started before ``cutoff``; a run still going is never touched."""
        result = self._session.execute(sa.delete(JobRun).where(*_finished_before(cutoff)))
        return int(result.rowcount)  # type: ignore[attr-defined]

    # --- helpers --------------------------------------------------------------------------
    def _held(self, tenant_id: uuid.UUID, case_id: uuid.UUID) -> bool:
        return self._session.execute(sa.select(LegalHold.id).where(
            LegalHold.tenant_id == tenant_id, LegalHold.released_at.is_(None),
            sa.or_(LegalHold.case_id.is_(None), LegalHold.case_id == case_id)).limit(1)).first() is not None

    def _lock_tenant(self, tenant_id: uuid.UUID) -> None:
        """Serialises hold placement with deletion in the tenant (row lock on PostgreSQL and SQL
        Server; SQLite's write lock already does): a hold placed while a run deletes either
        comes first and is seen, or waits until the case is gone. ``key_share`` leaves inserts
        that reference the tenant (new reports) unblocked."""
        self._session.execute(sa.select(Tenant.id).where(Tenant.id == tenant_id).with_for_update(key_share=True))

    def _lock_case_tenant(self, case_id: uuid.UUID) -> uuid.UUID | None:
        tenant_id = self._session.execute(sa.select(Case.tenant_id).where(Case.id == case_id)).scalar_one_or_none()
        if tenant_id is not None:
            self._lock_tenant(tenant_id)
        return tenant_id

    def _case_id_by_reference(self, tenant_id: uuid.UUID, case_reference: str) -> uuid.UUID:
        wanted = case_reference.strip().upper()
        if not wanted or len(wanted) > MAX_CASE_REFERENCE:
            raise InvalidInput("case", "is not a case reference of this organisation")
        found: uuid.UUID | None = self._session.execute(
            sa.select(Case.id).where(Case.tenant_id == tenant_id, Case.reference == wanted)).scalar_one_or_none()
        if found is None:
            raise InvalidInput("case", "is not a case reference of this organisation")
        return found

    def _reference_of(self, case_id: uuid.UUID | None) -> str | None:
        if case_id is None:
            return None
        reference: str | None = self._session.execute(
            sa.select(Case.reference).where(Case.id == case_id)).scalar_one_or_none()
        return reference

    @staticmethod
    def _view(hold: LegalHold, case_reference: str | None) -> HoldView:
        return HoldView(hold.id, hold.tenant_id, hold.case_id, case_reference, hold.reference, hold.placed_by,
                        hold.placed_at, hold.released_at)


def _actor_id(actor: Actor) -> str:
    return actor.audit_id or actor.kind


def _finished_before(cutoff: dt.datetime) -> tuple[sa.ColumnElement[bool], ...]:
    return (JobRun.started_at < cutoff, JobRun.finished_at.is_not(None), JobRun.outcome != "running")
