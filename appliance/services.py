"""Wiring: builds the services for one unit of work (one request, command or job run)."""

from __future__ import annotations

import datetime as dt
from functools import cached_property, partial

from sqlalchemy.orm import Session

from appliance.acknowledgements.entry import CodeEntry
from appliance.acknowledgements.insiders import InsiderLinks
from appliance.acknowledgements.service import AcknowledgementLinks
from appliance.api_tokens.service import ApiTokens
from appliance.audit.pruning import AuditPruner
from appliance.audit.search import LogbookSearch
from appliance.audit.service import Logbook
from appliance.audit.status import ChainStatus
from appliance.cases.access import CaseAccess
from appliance.cases.api_intake import ApiIntake
from appliance.cases.case_subjects import CaseSubjects
from appliance.cases.consent import IdentityConsents
from appliance.cases.content import CaseContent
from appliance.cases.key_admin import CaseKeyPairAdmin
from appliance.cases.key_copies import HandlerCopies
from appliance.cases.oral_reports import OralReports
from appliance.cases.reconcile import CaseSubjectReconciler
from appliance.cases.redaction import Redactions
from appliance.cases.reporter_notices import ReporterAddresses
from appliance.cases.reporting import Limits, ReporterLimits, ReportingService
from appliance.cases.saved_filters import SavedQueueFilters
from appliance.cases.service import CaseService
from appliance.context import AppContext
from appliance.disclosures.service import DelayedDisclosures
from appliance.ephemeral.store import Lockout
from appliance.events.service import AccessEvents
from appliance.insiders.chain import VersionChain
from appliance.insiders.exports import InsiderExports
from appliance.insiders.history import InsiderHistory
from appliance.insiders.proposals import AccessLookups, InsiderProposals
from appliance.insiders.retention import InsiderRetention
from appliance.insiders.section_keys import SectionKeys
from appliance.insiders.service import InsiderLists
from appliance.keys.keyring import DataKeys, TenantKeyring, installation_cipher
from appliance.keys.secrets import ACKNOWLEDGEMENT_CODE, API_TOKEN, INSIDER_CHAIN, INSTALLATION_DATA, checkpoint_key
from appliance.pdmr.calendar import FinancialCalendar
from appliance.pdmr.register import PdmrRegister
from appliance.persons.service import PersonService
from appliance.privacy.erasure import PersonEraser
from appliance.privacy.export import PersonExport
from appliance.readers.service import ReaderLists
from appliance.retention.service import RetentionService
from appliance.statistics.access import AccessStatistics
from appliance.statistics.figures import CaseStatistics
from appliance.tenants.branding import PortalBrandings
from appliance.tenants.channels import ChannelService
from appliance.tenants.questionnaires import Questionnaires
from appliance.tenants.service import TenantService
from appliance.users.administration import UserAdministration
from appliance.users.service import UserService, staff_account_of
from appliance.users.sessions import SessionLimits, SessionStore
from appliance.users.throttle import SignInLimits, Throttles


class Services:
    """Each property builds its service once, all sharing the one session."""

    def __init__(self, ctx: AppContext, session: Session) -> None:
        self.ctx = ctx
        self.session = session

    @cached_property
    def logbook(self) -> Logbook:
        return Logbook(self.session, self.ctx.clock)

    @cached_property
    def audit_pruner(self) -> AuditPruner:
        return AuditPruner(self.session, self.ctx.clock, checkpoint_key(self.ctx))

    @cached_property
    def logbook_search(self) -> LogbookSearch:
        # Derived, not preserved: a cursor only lives as long as the pages it links.
        return LogbookSearch(self.session, self.ctx.master.derive("logbook-cursor/v1"))

    @cached_property
    def chain_status(self) -> ChainStatus:
        return ChainStatus(self.session, self.logbook, checkpoint_key(self.ctx))

    @cached_property
    def keyring(self) -> TenantKeyring:
        return TenantKeyring(self.session, self.ctx.master, self.logbook, self.ctx.clock, self.ctx.unwraps)

    @cached_property
    def data_keys(self) -> DataKeys:
        return DataKeys(self.session, self.ctx.master, self.keyring, self.logbook, self.ctx.clock)

    @cached_property
    def throttles(self) -> Throttles:
        s = self.ctx.settings
        return Throttles(self.session, self.ctx.clock, s.lockout_threshold, s.lockout_base_seconds,
                         s.lockout_max_seconds)

    @cached_property
    def sign_in_limits(self) -> SignInLimits:
        s = self.ctx.settings
        return SignInLimits(
            pair=Lockout(s.lockout_threshold, s.lockout_base_seconds, s.lockout_max_seconds),
            client=Lockout(s.lockout_client_threshold, s.lockout_base_seconds, s.lockout_max_seconds),
            account_alert=s.lockout_account_threshold)

    @cached_property
    def reporter_limits(self) -> ReporterLimits:
        s = self.ctx.settings
        return ReporterLimits(
            case_key=Lockout(s.lockout_case_key_threshold, s.lockout_case_key_seconds, s.lockout_case_key_seconds),
            reports_per_client=s.report_limit_per_client, reports_per_channel=s.report_limit_per_channel,
            window_seconds=s.report_limit_window_minutes * 60)

    @cached_property
    def web_sessions(self) -> SessionStore:
        return SessionStore(self.session, self.ctx.clock)

    @cached_property
    def tenants(self) -> TenantService:
        return TenantService(self.session, self.logbook, self.keyring, self.ctx.clock)

    @cached_property
    def channels(self) -> ChannelService:
        return ChannelService(self.session, self.logbook, self.ctx.clock)

    @cached_property
    def branding(self) -> PortalBrandings:
        return PortalBrandings(self.session, self.logbook, self.ctx.clock, self.ctx.binding)

    @cached_property
    def questionnaires(self) -> Questionnaires:
        return Questionnaires(self.session, self.logbook, self.ctx.clock)

    @cached_property
    def users(self) -> UserService:
        return UserService(self.session, self.logbook, self.ctx.passwords, self.ctx.blind_index,
                           installation_cipher(self.ctx.secret(INSTALLATION_DATA)), self.throttles, self.ctx.clock, self.persons,
                           self.ctx.ephemeral, self.sign_in_limits, self.ctx.binding,
                           HandlerCopies(self.session))

    @cached_property
    def user_administration(self) -> UserAdministration:
        return UserAdministration(self.users)

    @cached_property
    def persons(self) -> PersonService:
        return PersonService(self.session, self.data_keys, self.ctx.vault, self.ctx.blind_index, self.logbook, self.ctx.clock,
                             partial(staff_account_of, self.session))

    @cached_property
    def case_subjects(self) -> CaseSubjects:
        return CaseSubjects(self.session, self.cases, self.persons, self.logbook, self.ctx.clock)

    @cached_property
    def person_reconciler(self) -> CaseSubjectReconciler:
        return CaseSubjectReconciler(self.session, self.case_subjects, self.case_access, self.logbook)

    @cached_property
    def person_export(self) -> PersonExport:
        return PersonExport(self.session, self.persons, self.users, self.access_events, self.logbook, self.ctx.clock,
                            self.insider_history)

    @cached_property
    def person_eraser(self) -> PersonEraser:
        return PersonEraser(self.session, self.persons, self.ctx.vault, self.logbook, self.ctx.clock)

    @cached_property
    def limits(self) -> Limits:
        return Limits(self.ctx.settings.max_attachment_bytes, self.ctx.settings.max_report_bytes)

    @cached_property
    def case_access(self) -> CaseAccess:
        return CaseAccess(self.session, self.logbook, self.ctx.clock, self.readers, self.ctx.binding)

    @cached_property
    def readers(self) -> ReaderLists:
        return ReaderLists(self.session, self.logbook, self.ctx.clock, self.ctx.binding, self.ctx.verified_lists)

    @cached_property
    def case_key_pairs(self) -> CaseKeyPairAdmin:
        return CaseKeyPairAdmin(self.session, self.case_access, self.keyring, self.logbook, self.ctx.clock,
                            self.readers, self.ctx.binding)

    @cached_property
    def reporting(self) -> ReportingService:
        return ReportingService(self.session, self.keyring, self.case_access, self.logbook, self.ctx.blind_index,
                                self.ctx.ephemeral, self.ctx.clock, self.limits, self.reporter_limits,
                                ReporterAddresses(self.session, self.data_keys, self.ctx.clock), self.channels)

    @cached_property
    def cases(self) -> CaseService:
        return CaseService(self.session, self.keyring, self.case_access, self.logbook, self.ctx.clock, self.limits,
                           self.ctx.master.derive("queue-cursor/v1"))

    @cached_property
    def saved_queue_filters(self) -> SavedQueueFilters:
        return SavedQueueFilters(self.session, self.logbook, self.ctx.clock)

    @cached_property
    def oral_reports(self) -> OralReports:
        return OralReports(self.session, self.reporting, self.cases,
                           CaseContent(self.session, self.keyring, self.case_access, self.ctx.clock),
                           self.logbook, self.ctx.clock, self.limits)

    @cached_property
    def identity_consents(self) -> IdentityConsents:
        return IdentityConsents(self.session, self.cases,
                                CaseContent(self.session, self.keyring, self.case_access, self.ctx.clock),
                                self.logbook, self.ctx.clock)

    @cached_property
    def redactions(self) -> Redactions:
        return Redactions(self.session, self.cases, self.logbook, self.ctx.clock)

    @cached_property
    def api_intake(self) -> ApiIntake:
        return ApiIntake(self.session, self.reporting,
                         CaseContent(self.session, self.keyring, self.case_access, self.ctx.clock),
                         self.logbook, self.ctx.clock, self.limits)

    @cached_property
    def api_tokens(self) -> ApiTokens:
        return ApiTokens(self.session, self.logbook, self.ctx.clock, self.ctx.secret(API_TOKEN))

    @cached_property
    def access_events(self) -> AccessEvents:
        return AccessEvents(self.session, self.persons, self.data_keys, self.ctx.blind_index, self.logbook,
                            self.ctx.clock)

    @cached_property
    def insider_section_keys(self) -> SectionKeys:
        return SectionKeys(self.data_keys)

    @cached_property
    def insider_chain(self) -> VersionChain:
        return VersionChain(self.session, self.ctx.secret(INSIDER_CHAIN))

    @cached_property
    def insider_lists(self) -> InsiderLists:
        return InsiderLists(self.session, self.persons, self.insider_section_keys, self.insider_chain,
                            self.ctx.blind_index, self.logbook, self.ctx.clock)

    @cached_property
    def insider_history(self) -> InsiderHistory:
        return InsiderHistory(self.session, self.persons, self.insider_section_keys, self.insider_chain,
                              self.ctx.clock)

    @cached_property
    def insider_exports(self) -> InsiderExports:
        return InsiderExports(self.session, self.insider_history, self.logbook, self.ctx.clock)

    @cached_property
    def insider_proposals(self) -> InsiderProposals:
        events = self.access_events
        return InsiderProposals(self.session, self.insider_lists, self.persons, self.insider_section_keys,
                                AccessLookups(events.first_access_by_person, events.last_access_by_person),
                                self.logbook, self.ctx.clock)

    @cached_property
    def insider_retention(self) -> InsiderRetention:
        return InsiderRetention(self.session, self.persons, self.logbook)

    @cached_property
    def retention(self) -> RetentionService:
        return RetentionService(self.session, self.logbook, self.ctx.clock)

    @cached_property
    def acknowledgements(self) -> AcknowledgementLinks:
        return AcknowledgementLinks(self.session, self.logbook, self.ctx.clock, self.ctx.secret(ACKNOWLEDGEMENT_CODE))

    @cached_property
    def acknowledgement_entry(self) -> CodeEntry:
        """Codes typed on the public page: throttled like case keys (the lockout_case_key_* settings)."""
        return CodeEntry(self.acknowledgements, self.ctx.ephemeral, self.reporter_limits.case_key, self.logbook)

    @cached_property
    def insider_links(self) -> InsiderLinks:
        """Insiders' notice of duties and their own-details form, both by single-use codes."""
        return InsiderLinks(self.session, self.acknowledgements, self.acknowledgement_entry, self.insider_lists,
                            self.ctx.clock)

    @cached_property
    def disclosures(self) -> DelayedDisclosures:
        return DelayedDisclosures(self.session, self.data_keys, self.persons, self.logbook, self.ctx.clock)

    @cached_property
    def pdmrs(self) -> PdmrRegister:
        return PdmrRegister(self.session, self.persons, self.acknowledgements, self.logbook, self.ctx.clock)

    @cached_property
    def financial_calendar(self) -> FinancialCalendar:
        return FinancialCalendar(self.session, self.logbook, self.ctx.clock)

    @cached_property
    def case_statistics(self) -> CaseStatistics:
        return CaseStatistics(self.session, self.ctx.clock)

    @cached_property
    def access_statistics(self) -> AccessStatistics:
        return AccessStatistics(self.session, self.access_events)


def staff_session_limits(ctx: AppContext) -> SessionLimits:
    return SessionLimits(dt.timedelta(minutes=ctx.settings.session_idle_minutes),
                         dt.timedelta(hours=ctx.settings.session_absolute_hours))


def reporter_session_limits(ctx: AppContext) -> SessionLimits:
    minutes = ctx.settings.reporter_session_minutes
    return SessionLimits(dt.timedelta(minutes=minutes), dt.timedelta(minutes=minutes * 6))
