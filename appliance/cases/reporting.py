"""The reporter's side: submit a report, come back with the case key, talk to handlers.

Reporters are anonymous: nothing here stores an address, user agent or cookie. The client
address that throttling and rate limits need goes only to the host's ephemeral store, as an
HMAC under a key of the day (appliance/ephemeral). Case keys are kept only as a keyed blind
index.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.orm import Session

from appliance.actors import REPORTER, Actor
from appliance.audit.service import Logbook
from appliance.cases.access import CaseAccess, OpenedCase
from appliance.cases.attachments import Download, Upload
from appliance.cases.content import MAX_SHORT, MAX_TEXT, CaseContent, check_text, seal_optional
from appliance.cases.models import Case
from appliance.cases.read_models import ReporterAccess, ReporterCaseView, ReportText
from appliance.cases.reporter_notices import ReporterAddresses, check_address
from appliance.cases.workflow import TRIAGE_OUTCOMES, Status
from appliance.clock import Clock
from appliance.crypto.blind_index import BlindIndex
from appliance.crypto.case_keys import CROCKFORD, CaseKey
from appliance.crypto.fields import Place
from appliance.ephemeral.store import EphemeralStore, Lockout, Quota, Subject, Ticket
from appliance.errors import AuthenticationFailed, ChannelNotReady, InvalidInput, LockedOut, NotFound
from appliance.keys.keyring import TenantKeyring
from appliance.readers.service import SealingTarget
from appliance.tenants.channels import ChannelService
from appliance.tenants.models import Category, ReportingChannel, Tenant
from appliance.tenants.questionnaire import Question, check_answers, dump_answers
from appliance.tenants.questionnaires import Questionnaires

# The channels other than the portal that a report can be recorded from (README, "API").
OTHER_CHANNELS = ("phone", "letter", "meeting", "email", "other")
CONTACT = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s]{2,}$")


@dataclass(frozen=True)
class NewReport:
    """What a reporter filed, before it is checked and stored."""

    category_id: uuid.UUID | None
    what: str
    when: str = ""
    where: str = ""
    people: str = ""
    contact: str = ""
    # Where to say "there is a new message" (sealed under the tenant's key, never shown; optional).
    notify: str = ""
    # A report recorded by an API client from another channel (Directive Art. 9(2)): how and
    # when it reached the organisation. None for the portal (received now, through the web).
    channel: str | None = None
    received_at: dt.datetime | None = None
    # The tenant's reporting channel it is filed through (None: the default channel).
    reporting_channel_id: uuid.UUID | None = None
    # Answers to the channel's questionnaire, per question key (file questions: the uploads' names).
    answers: Mapping[str, Sequence[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Receipt:
    case_id: uuid.UUID
    case_key: CaseKey  # shown once to the reporter, never stored; its repr hides it
    private_key: bytes = field(repr=False)  # the case's, for the reporter's session right away
    reference: str = ""  # the case's reference, as handlers see it


@dataclass(frozen=True)
class Filed:
    """A report just stored: the case row, its opened keys, the receipt and the handlers reached."""

    case: Case
    keys: OpenedCase
    receipt: Receipt
    recipients: list[uuid.UUID]


@dataclass(frozen=True)
class Limits:
    per_file: int
    per_report: int


@dataclass(frozen=True)
class ReporterLimits:
    """Case-key lockout and report submission limits (the lockout_case_key_* and report_limit_* settings)."""

    case_key: Lockout
    reports_per_client: int
    reports_per_channel: int
    window_seconds: int

    @property
    def attempts_per_client(self) -> int:
        # Posts of the report form, stored or not (forms with errors give their report slot back).
        return 3 * self.reports_per_client


@dataclass(frozen=True)
class KeyAttempts:
    """``paused_seconds``: further case keys from this client are refused for this long (0: none);
    ``pause_after_next``: the pause the next wrong key starts (None while more attempts remain)."""

    paused_seconds: int
    pause_after_next: int | None


class ReportingService:
    def __init__(self, session: Session, keyring: TenantKeyring, access: CaseAccess, logbook: Logbook,
                 blind_index: BlindIndex, clients: EphemeralStore, clock: Clock, limits: Limits,
                 reporter_limits: ReporterLimits, addresses: ReporterAddresses | None = None,
                 channels: ChannelService | None = None) -> None:
        self._session = session
        self._addresses = addresses
        self._channels = channels or ChannelService(session, logbook, clock)
        self._questionnaires = Questionnaires(session, logbook, clock)
        self._logbook = logbook
        self._index = blind_index
        self._clients = clients
        self._reporter_limits = reporter_limits
        self._clock = clock
        self._limits = limits
        self._access = access
        self._content = CaseContent(session, keyring, access, clock)
        # The recipients ``accepting`` found, for the report this unit of work files next: the
        # form checks before reading the report, filing seals to what was checked (one read of
        # the reader list per submission, not two). Taken once; this service lives for one
        # request or command, so nothing here outlives its transaction.
        self._checked: dict[tuple[uuid.UUID, uuid.UUID | None], list[SealingTarget]] = {}

    def accepting(self, tenant: Tenant, channel: ReportingChannel | None = None) -> bool:
        """Whether a report filed now (through ``channel``; default: the tenant's default one)
        would reach someone: a confirmed reader who receives its reports, or the confirmed escrow
        key. The portal says so before a reporter writes anything."""
        key = (tenant.id, None if channel is None or channel.is_default else channel.id)
        targets = self._access.channel_targets(*key)
        self._checked[key] = targets
        return bool(targets)

    def _channel_targets(self, tenant_id: uuid.UUID, channel_id: uuid.UUID | None) -> list[SealingTarget]:
        checked = self._checked.pop((tenant_id, channel_id), None)
        return checked if checked is not None else self._access.channel_targets(tenant_id, channel_id)

    def channels(self, tenant: Tenant) -> list[ReportingChannel]:
        """The channels the portal offers (open ones, the default first)."""
        return self._channels.channels(tenant.id)

    def channel(self, tenant: Tenant, channel_id: uuid.UUID | None) -> ReportingChannel:
        """An open channel of this tenant (NotFound otherwise); the default one for None."""
        return self._channels.open_channel(tenant.id, channel_id)

    def categories(self, channel: ReportingChannel) -> list[Category]:
        return self._channels.categories(channel)

    def questions(self, channel: ReportingChannel) -> tuple[Question, ...]:
        """The questions the channel asks now (its questionnaire's newest version)."""
        return self._questionnaires.questions(self._questionnaires.current(channel))

    def admit_report(self, tenant: Tenant, client: str) -> Ticket:
        """Take a report slot for this client and for this channel before the form (and its
        uploads) is read; RateLimited, with nothing read or stored, when either is used up. Every
        post also counts as an attempt, which is never given back. Give the slots back with
        ``return_admission`` when the request stored no report."""
        attempt, reports = self._report_quotas(tenant, client)
        self._clients.take(attempt)
        return self._clients.take(*reports)

    def report_wait_seconds(self, tenant: Tenant, client: str) -> int:
        """How long until this client could file a report (0: now), so the form can say so
        before anything is written."""
        attempt, reports = self._report_quotas(tenant, client)
        return self._clients.wait_seconds(attempt, *reports)

    def _report_quotas(self, tenant: Tenant, client: str) -> tuple[Quota, tuple[Quota, Quota]]:
        limits, tenant_id = self._reporter_limits, str(tenant.id)
        return (Quota("report-attempt/client", (tenant_id, client), limits.attempts_per_client, limits.window_seconds),
                (Quota("report/client", (tenant_id, client), limits.reports_per_client, limits.window_seconds),
                 Quota("report/channel", (tenant_id,), limits.reports_per_channel, limits.window_seconds)))

    def return_admission(self, ticket: Ticket) -> None:
        """Nothing was stored (a form error, a file too large, the channel not ready): the report
        slots go back, so a reporter who corrects a form is not refused."""
        self._clients.give_back(ticket)

    def submit(self, tenant: Tenant, report: NewReport, uploads: list[Upload], actor: Actor = REPORTER) -> Receipt:
        """Store a new report under the case's own keys, sealed to the channel's recipients, the
        reporter and the escrow key; returns the case key once. Nothing slow on this path: the
        reporter's key comes from the 80-bit case key by HKDF. ``actor``: who files it (the
        reporter on the portal, an API token recording a report from another channel)."""
        return self.file(tenant, report, uploads, actor).receipt

    def file(self, tenant: Tenant, report: NewReport, uploads: list[Upload], actor: Actor,
             received_at: dt.datetime | None = None, *, questionnaire: bool = True) -> Filed:
        """``submit`` for any filer: the reporter through the portal, an API token, or a handler
        recording a report received orally (``received_at``: when it was received, default the
        report's own or now). ``questionnaire=False``: the channel's questions were not asked (a
        report received orally), so none is required and no version is kept."""
        channel = self._channels.open_channel(tenant.id, report.reporting_channel_id)
        # Read once: checked here, sealed to below. The default channel reaches the whole list.
        targets = self._channel_targets(tenant.id, None if channel.is_default else channel.id)
        if not targets:
            raise ChannelNotReady(tenant.id)
        if report.category_id is None:
            raise InvalidInput("category", "is required")
        category = self._session.execute(sa.select(Category).where(
            Category.id == report.category_id, Category.tenant_id == tenant.id, Category.active.is_(True)
        )).scalar_one_or_none()
        offered = self._channels.category_ids(channel)
        if category is None or (offered and category.id not in offered):
            raise InvalidInput("category", "is not one of this organisation's categories")
        what = check_text("what", report.what, MAX_TEXT, required=True)
        when, where, people = (check_text(n, v, MAX_SHORT) for n, v in
                               (("when", report.when), ("where", report.where), ("people", report.people)))
        version = self._questionnaires.current(channel) if questionnaire else None
        answers = check_answers(self._questionnaires.questions(version), report.answers)
        contact = check_text("contact", report.contact, 254)
        if contact and not CONTACT.match(contact):
            raise InvalidInput("contact", "is not a valid e-mail address")
        notify = check_address(report.notify)

        now = self._clock()
        if report.channel is not None and report.channel not in OTHER_CHANNELS:
            raise InvalidInput("channel", f"must be one of {', '.join(OTHER_CHANNELS)}")
        received_at = received_at or report.received_at or now
        if received_at.tzinfo is None:
            raise InvalidInput("received_at", "needs a time zone")
        if received_at > now:
            raise InvalidInput("received_at", "is in the future")

        case_id = uuid.uuid4()
        case_key = CaseKey.new()
        case = Case(
            id=case_id, tenant_id=tenant.id, reference=self._new_reference(), category_id=category.id,
            status=Status.RECEIVED.value, received_at=received_at, updated_at=now,
            case_key_index=self._key_index(tenant.id, case_key), channel=report.channel,
            reporting_channel_id=channel.id, questionnaire_version_id=version.id if version is not None else None,
        )
        keys = self._access.create_keys(case)
        assert keys.private_key is not None
        cipher = keys.cipher
        case.what_sealed = cipher.seal(what, Place("cases", "what", case_id))
        case.when_sealed = seal_optional(cipher, "cases", "when", case_id, when)
        case.where_sealed = seal_optional(cipher, "cases", "where", case_id, where)
        case.people_sealed = seal_optional(cipher, "cases", "people", case_id, people)
        case.contact_sealed = seal_optional(cipher, "cases", "contact", case_id, contact)
        case.answers_sealed = seal_optional(cipher, "cases", "answers", case_id, dump_answers(answers) if answers else "")
        self._session.add(case)
        self._access.seal_for_reporter(case, keys.private_key, case_key)
        recipients = self._access.seal_to_channel(case, keys.private_key, targets)
        self._session.flush()
        self._content.store_uploads(case, keys, uploads, source="reporter", message_id=None,
                                    per_file=self._limits.per_file, per_batch=self._limits.per_report)
        if notify:
            self.notification_addresses.replace(tenant.id, case_id, notify, actor)
        other = f" channel={report.channel}" if report.channel else ""
        self._logbook.record("case.created", actor, tenant_id=tenant.id, object_type="case", object_id=case_id,
                             detail=f"attachments={len(uploads)} recipients={len(recipients)}{other}")
        return Filed(case, keys, Receipt(case_id, case_key, keys.private_key, case.reference), recipients)

    def open_with_key(self, tenant: Tenant, case_key: str | CaseKey, client: str) -> ReporterAccess:
        """The case a key opens. Wrong keys pause the client briefly (a per-tenant lock would let
        one person lock every reporter out, and a client may be a NAT or a Tor exit that many
        reporters share); 80-bit keys make guessing hopeless anyway. The client is counted only
        in the host's ephemeral store."""
        throttle = self._key_throttle(tenant, client)
        self._clients.check(throttle)
        key = _parsed(case_key)
        case_id = None
        if key is not None:
            case_id = self._session.execute(sa.select(Case.id).where(
                Case.tenant_id == tenant.id, Case.case_key_index == self._key_index(tenant.id, key)
            )).scalar_one_or_none()
        if case_id is None:
            self._clients.fail(throttle)
            self._logbook.record("case_key.failed", REPORTER, tenant_id=tenant.id)
            raise AuthenticationFailed()
        self._logbook.record("case_key.accepted", REPORTER, tenant_id=tenant.id, object_type="case",
                             object_id=case_id)
        assert key is not None
        return ReporterAccess(case_id, self._access.open_for_reporter(self._case(tenant, case_id), key))

    def key_attempts(self, tenant: Tenant, client: str) -> KeyAttempts:
        """Where this client stands with wrong case keys, so the follow-up page can warn before
        the last attempt and say when a pause has begun."""
        throttle = self._key_throttle(tenant, client)
        try:
            self._clients.check(throttle)
        except LockedOut as exc:
            return KeyAttempts(exc.retry_after_seconds, None)
        return KeyAttempts(0, throttle.lockout.lock_seconds(self._clients.failures(throttle) + 1))

    def _key_throttle(self, tenant: Tenant, client: str) -> Subject:
        return Subject("case-key/client", (str(tenant.id), client), self._reporter_limits.case_key)

    def view(self, tenant: Tenant, case_id: uuid.UUID, case_private_key: bytes | None) -> ReporterCaseView:
        case = self._case(tenant, case_id)
        keys = self._content.reporter_keys(case, case_private_key)
        if not keys.readable:
            return ReporterCaseView(case.id, case.status, case.received_at, ReportText("", "", "", "", ""), (), (),
                                    readable=False, closed_at_triage=_triage(case))
        return ReporterCaseView(case.id, case.status, case.received_at, self._content.report(case, keys),
                                self._content.report_attachments(case, keys), self._content.thread(case, keys),
                                answers=self._content.answers(case, keys), closed_at_triage=_triage(case))

    def reply(self, tenant: Tenant, case_id: uuid.UUID, case_private_key: bytes | None, body: str,
              uploads: list[Upload]) -> None:
        """A follow-up; with a pending key copy it is sealed to the case's public key."""
        case = self._case(tenant, case_id)
        keys = self._content.reporter_keys(case, case_private_key)
        message = self._content.add_message(case, keys, "reporter", body, uploads, self._limits.per_file,
                                            self._limits.per_report)
        case.last_reporter_message_at = message.created_at
        case.updated_at = message.created_at
        self._logbook.record("message.sent", REPORTER, tenant_id=tenant.id, object_type="case", object_id=case.id,
                             detail=f"attachments={len(uploads)}")

    def set_notification_address(self, tenant: Tenant, case_id: uuid.UUID, address: str) -> None:
        """Store, replace or (empty) remove where "there is a new message" mails go. Says nothing
        back: whether an address was stored before is told to nobody."""
        self.notification_addresses.replace(tenant.id, self._case(tenant, case_id).id, address, REPORTER)

    @property
    def notification_addresses(self) -> ReporterAddresses:
        if self._addresses is None:
            raise RuntimeError("this ReportingService was built without notification addresses")
        return self._addresses

    def download(self, tenant: Tenant, case_id: uuid.UUID, case_private_key: bytes | None,
                 attachment_id: uuid.UUID) -> Download:
        """(info, chunk iterator) for an attachment the reporter may see (own or a handler's reply)."""
        case = self._case(tenant, case_id)
        attachment = self._content.attachments.get(case.id, attachment_id)
        if attachment is None or (attachment.source == "handler" and attachment.message_id is None):
            raise NotFound("attachment", attachment_id)
        keys = self._content.reporter_keys(case, case_private_key)
        if not keys.readable:  # the reporter's copy is pending: nothing to show yet
            raise NotFound("attachment", attachment_id)
        info = self._content.attachments.info(attachment, keys.cipher)
        self._logbook.record("attachment.downloaded", REPORTER, tenant_id=tenant.id, object_type="attachment",
                             object_id=attachment.id, detail="original")
        return Download(info, self._content.attachments.stream(attachment, keys.cipher))

    def _case(self, tenant: Tenant, case_id: uuid.UUID) -> Case:
        case = self._session.execute(
            sa.select(Case).where(Case.id == case_id, Case.tenant_id == tenant.id)
        ).scalar_one_or_none()
        if case is None:
            raise NotFound("case", case_id)
        return case

    def _key_index(self, tenant_id: uuid.UUID, case_key: CaseKey) -> bytes:
        return self._index.compute("case-key", case_key.normalised, tenant_id)

    def _new_reference(self) -> str:
        """A short random reference for handlers to talk about a case (not a secret)."""
        for _ in range(10):
            raw = "".join(secrets.choice(CROCKFORD) for _ in range(8))
            reference = f"{raw[:4]}-{raw[4:]}"
            if not self._session.execute(sa.select(Case.id).where(Case.reference == reference)).first():
                return reference
        raise RuntimeError("could not allocate a unique case reference")


def _parsed(typed: str | CaseKey) -> CaseKey | None:
    if isinstance(typed, CaseKey):
        return typed
    try:
        return CaseKey.parse(typed)
    except InvalidInput:
        return None


def _triage(case: Case) -> str | None:
    """What the reporter is told of a close at triage: the outcome alone (never the earlier case's
    reference, which belongs to another reporter's case, nor who closed it)."""
    return case.outcome if case.status == Status.CLOSED and case.outcome in TRIAGE_OUTCOMES else None
