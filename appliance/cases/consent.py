"""Consent to disclose the reporter's identity (Directive 2019/1937 Art. 16).

A handler may ask the reporter for explicit consent to disclose their identity to named persons
or roles, for a stated purpose; the reporter answers once, yes or no, on the follow-up page
after signing in with their case key. The answer and its time are recorded. A disclosure is
recorded only on a consent the reporter gave, or on a legal ground (Art. 16(2): a necessary and
proportionate obligation under Union or national law, in investigations by national authorities
or judicial proceedings) whose kind is readable metadata and whose explanation is sealed. Before
such a disclosure the reporter is informed, with the reasons in writing, unless that would
jeopardise the related investigations or judicial proceedings (Art. 16(3)): the handler says
which; the explanation reaches the reporter as a message on the case thread, or the reason for
not informing them is sealed to the case.

Who the identity goes to and why are personal data: sealed under the case's content key, so
only the case's readers (its handlers, the reporter, the escrow key) can read them. The logbook
records ids, states and the kind of ground, never names or texts.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from appliance.actors import REPORTER, StaffPrincipal
from appliance.audit.service import Logbook
from appliance.cases.content import MAX_SHORT, MAX_TEXT, CaseContent, check_text
from appliance.cases.models import Case, IdentityConsentRequest, IdentityDisclosure
from appliance.cases.service import CaseService
from appliance.clock import Clock
from appliance.crypto.case_cipher import CaseCipher
from appliance.crypto.fields import Place
from appliance.errors import CaseLocked, Conflict, InvalidInput, NotFound
from appliance.tenants.models import Tenant

TABLE = "identity_consent_requests"
DISCLOSURES = "identity_disclosures"


class ConsentState(enum.StrEnum):
    PENDING = "pending"
    GIVEN = "given"
    REFUSED = "refused"


class LegalGround(enum.StrEnum):
    """Art. 16(2): the grounds on which an identity may be disclosed without consent."""

    INVESTIGATION = "investigation"  # an investigation by a national authority
    JUDICIAL = "judicial"  # judicial proceedings
    OTHER_LAW = "other-law"  # another obligation under Union or national law


class ReporterNotice(enum.StrEnum):
    """Art. 16(3): before a disclosure on a legal ground the reporter is informed, with a written
    explanation of the reasons, unless that would jeopardise the related investigations or
    judicial proceedings. The handler must say which."""

    INFORMED = "informed"  # the explanation was sent as a message on the case thread
    WITHHELD = "withheld"  # not informed: it would jeopardise the investigation or proceedings


@dataclass(frozen=True)
class ConsentRequestView:
    id: uuid.UUID
    requested_by: uuid.UUID
    requested_at: dt.datetime
    recipients: str
    purpose: str
    state: str
    answered_at: dt.datetime | None

    @property
    def pending(self) -> bool:
        return self.state == ConsentState.PENDING


@dataclass(frozen=True)
class DisclosureView:
    id: uuid.UUID
    consent_id: uuid.UUID | None
    legal_ground: str | None
    ground: str
    recipients: str
    disclosed_by: uuid.UUID
    disclosed_at: dt.datetime
    reporter_notice: str | None = None
    withheld_reason: str = ""


@dataclass(frozen=True)
class ConsentOverview:
    requests: tuple[ConsentRequestView, ...]
    disclosures: tuple[DisclosureView, ...]


class IdentityConsents:
    """Consent requests and recorded disclosures of one case, for its handlers and its reporter."""

    def __init__(self, session: Session, cases: CaseService, content: CaseContent, logbook: Logbook,
                 clock: Clock) -> None:
        self._session = session
        self._cases = cases
        self._content = content
        self._logbook = logbook
        self._clock = clock

    # --- the handler ----------------------------------------------------------------------
    def request(self, principal: StaffPrincipal, case_id: uuid.UUID, recipients: str, purpose: str) -> uuid.UUID:
        """Ask the reporter whether their identity may be disclosed to ``recipients`` for ``purpose``."""
        case, cipher = self._cases.opened(principal, case_id)
        recipients = check_text("recipients", recipients, MAX_SHORT, required=True)
        purpose = check_text("purpose", purpose, MAX_SHORT, required=True)
        now = self._clock()
        row = IdentityConsentRequest(id=uuid.uuid4(), case_id=case.id, tenant_id=case.tenant_id,
                                     requested_by=principal.user_id, requested_at=now,
                                     state=ConsentState.PENDING.value)
        row.recipients_sealed = cipher.seal(recipients, Place(TABLE, "recipients", row.id))
        row.purpose_sealed = cipher.seal(purpose, Place(TABLE, "purpose", row.id))
        self._session.add(row)
        case.updated_at = now
        self._session.flush()
        self._logbook.record("case.consent_requested", principal.actor, tenant_id=case.tenant_id,
                             object_type="case", object_id=case.id, detail=f"request={row.id}")
        return row.id

    def for_handler(self, principal: StaffPrincipal, case_id: uuid.UUID) -> ConsentOverview:
        case, cipher = self._cases.opened(principal, case_id)
        disclosures = self._session.execute(sa.select(IdentityDisclosure).where(
            IdentityDisclosure.case_id == case.id, IdentityDisclosure.tenant_id == case.tenant_id)
            .order_by(IdentityDisclosure.disclosed_at, IdentityDisclosure.id)).scalars().all()
        return ConsentOverview(self._requests(case, cipher), tuple(
            DisclosureView(d.id, d.consent_id, d.legal_ground,
                           "" if d.ground_sealed is None else cipher.open(d.ground_sealed,
                                                                         Place(DISCLOSURES, "ground", d.id)),
                           cipher.open(d.recipients_sealed, Place(DISCLOSURES, "recipients", d.id)),
                           d.disclosed_by, d.disclosed_at, d.reporter_notice,
                           "" if d.withheld_reason_sealed is None else cipher.open(
                               d.withheld_reason_sealed, Place(DISCLOSURES, "withheld_reason", d.id)))
            for d in disclosures))

    def record_disclosure(self, principal: StaffPrincipal, case_id: uuid.UUID, recipients: str, *,
                          consent_id: uuid.UUID | None = None, legal_ground: str = "",
                          ground: str = "", notice: str = "", explanation: str = "",
                          withheld_reason: str = "") -> uuid.UUID:
        """Record that the identity was disclosed to ``recipients``: on a consent the reporter gave
        in this case, or on a legal ground with its explanation (sealed). Anything else is refused.

        On a legal ground the handler must also choose ``notice`` (Art. 16(3)): ``informed`` sends
        ``explanation`` to the reporter as a handler message on the case thread (so the reporter's
        notification mail follows as for any message); ``withheld`` records ``withheld_reason``,
        why informing them would jeopardise the investigation or proceedings, sealed to the case."""
        case, cipher = self._cases.opened(principal, case_id)
        recipients = check_text("recipients", recipients, MAX_SHORT, required=True)
        row = IdentityDisclosure(id=uuid.uuid4(), case_id=case.id, tenant_id=case.tenant_id,
                                 disclosed_by=principal.user_id, disclosed_at=self._clock())
        if consent_id is not None:
            consent = self._request(case, consent_id)
            if consent.state != ConsentState.GIVEN:
                raise InvalidInput("basis", "the reporter has not given this consent")
            row.consent_id = consent.id
            basis = "consent"
        else:
            try:
                kind = LegalGround(legal_ground)
            except ValueError:
                raise InvalidInput("basis", "needs a consent the reporter gave, or a legal ground") from None
            text = check_text("ground", ground, MAX_SHORT, required=True)
            try:
                told = ReporterNotice(notice)
            except ValueError:
                raise InvalidInput("notice", "say whether the reporter is informed first") from None
            if told == ReporterNotice.INFORMED:
                explanation = check_text("explanation", explanation, MAX_TEXT, required=True)
            else:
                reason = check_text("withheld_reason", withheld_reason, MAX_SHORT, required=True)
                row.withheld_reason_sealed = cipher.seal(reason, Place(DISCLOSURES, "withheld_reason", row.id))
            row.legal_ground = kind.value
            row.reporter_notice = told.value
            row.ground_sealed = cipher.seal(text, Place(DISCLOSURES, "ground", row.id))
            basis = f"ground:{kind.value} reporter={told.value}"
        row.recipients_sealed = cipher.seal(recipients, Place(DISCLOSURES, "recipients", row.id))
        if row.reporter_notice == ReporterNotice.INFORMED:
            # Before the disclosure is recorded, so the thread shows the reporter was told first.
            self._cases.post_message(principal, case.id, explanation, [])
        self._session.add(row)
        self._session.flush()
        self._logbook.record("case.identity_disclosed", principal.actor, tenant_id=case.tenant_id,
                             object_type="case", object_id=case.id, detail=f"disclosure={row.id} basis={basis}")
        return row.id

    # --- the reporter ---------------------------------------------------------------------
    def for_reporter(self, tenant: Tenant, case_id: uuid.UUID,
                     case_private_key: bytes | None) -> tuple[ConsentRequestView, ...]:
        """The case's requests as the reporter reads them; none while their key copy is pending."""
        case = self._case(tenant, case_id)
        if case_private_key is None:
            return ()
        return self._requests(case, self._reporter_cipher(case, case_private_key))

    def answer(self, tenant: Tenant, case_id: uuid.UUID, case_private_key: bytes | None, request_id: uuid.UUID,
               given: bool) -> None:
        """The reporter's answer, once: a second answer (a replayed form) is a Conflict."""
        case = self._case(tenant, case_id)
        if case_private_key is None:
            raise CaseLocked(case.id, "no-access")
        self._reporter_cipher(case, case_private_key)  # proves the key is the case's own
        request = self._request(case, request_id)
        now = self._clock()
        state = ConsentState.GIVEN if given else ConsentState.REFUSED
        # Conditional, so two answers racing each other cannot both count.
        changed = self._session.execute(sa.update(IdentityConsentRequest).where(
            IdentityConsentRequest.id == request.id, IdentityConsentRequest.state == ConsentState.PENDING.value)
            .values(state=state.value, answered_at=now).execution_options(synchronize_session=False))
        if changed.rowcount != 1:  # type: ignore[attr-defined]
            raise Conflict("the request was already answered")
        self._session.expire(request)
        case.last_reporter_message_at = now  # the handlers' queue shows something new from the reporter
        case.updated_at = now
        self._logbook.record("case.consent_answered", REPORTER, tenant_id=tenant.id, object_type="case",
                             object_id=case.id, detail=f"request={request.id} answer={state.value}")

    # --- helpers --------------------------------------------------------------------------
    def _requests(self, case: Case, cipher: CaseCipher) -> tuple[ConsentRequestView, ...]:
        rows = self._session.execute(sa.select(IdentityConsentRequest).where(
            IdentityConsentRequest.case_id == case.id, IdentityConsentRequest.tenant_id == case.tenant_id)
            .order_by(IdentityConsentRequest.requested_at, IdentityConsentRequest.id)).scalars().all()
        return tuple(ConsentRequestView(
            r.id, r.requested_by, r.requested_at, cipher.open(r.recipients_sealed, Place(TABLE, "recipients", r.id)),
            cipher.open(r.purpose_sealed, Place(TABLE, "purpose", r.id)), r.state, r.answered_at) for r in rows)

    def _request(self, case: Case, request_id: uuid.UUID) -> IdentityConsentRequest:
        row = self._session.execute(sa.select(IdentityConsentRequest).where(
            IdentityConsentRequest.id == request_id, IdentityConsentRequest.case_id == case.id,
            IdentityConsentRequest.tenant_id == case.tenant_id)).scalar_one_or_none()
        if row is None:
            raise NotFound("consent request", request_id)
        return row

    def _reporter_cipher(self, case: Case, case_private_key: bytes) -> CaseCipher:
        keys = self._content.reporter_keys(case, case_private_key)
        if not keys.readable:
            raise CaseLocked(case.id, "no-access")
        return keys.cipher

    def _case(self, tenant: Tenant, case_id: uuid.UUID) -> Case:
        case = self._session.execute(
            sa.select(Case).where(Case.id == case_id, Case.tenant_id == tenant.id)).scalar_one_or_none()
        if case is None:
            raise NotFound("case", case_id)
        return case
