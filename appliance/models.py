"""Imports every table so Base.metadata is complete (alembic, schema checks)."""

from appliance.acknowledgements.models import AcknowledgementLink, AcknowledgementNotice
from appliance.api_tokens.models import ApiToken
from appliance.audit.models import AuditCheckpoint, AuditEvent, AuditHead
from appliance.backup.models import BackupCopy, BackupRecord, SiteStatus
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
    SavedQueueFilter,
)
from appliance.db import Base
from appliance.disclosures.models import DelayedDisclosure, DisclosureVersion
from appliance.events.models import AccessEvent, EventBatch
from appliance.insiders.models import (
    InsiderEntry,
    InsiderProposalDecision,
    InsiderSection,
    InsiderTransmission,
    InsiderVersion,
)
from appliance.job_runs.models import JobRun, SchedulerLease
from appliance.keys.models import InstallationKey, KeyRotation, PreservedSecret, TenantKey
from appliance.notify.models import OperationalAlert, ReminderSent
from appliance.pdmr.models import ClosedPeriodNotice, FinancialReport, PdmrEntry
from appliance.persons.models import CaseSubjectEntry, Person, PersonIdentifier, PersonLink
from appliance.readers.models import ReaderChange, ReaderListEntry, ReaderNotice
from appliance.retention.models import LegalHold, RetentionPolicy
from appliance.tenants.models import (
    Category,
    ChannelRecipient,
    EscrowKey,
    QuestionnaireVersion,
    ReportingChannel,
    ReportingChannelCategory,
    Tenant,
    TenantBranding,
)
from appliance.users.models import Membership, RecoveryCode, Throttle, User, WebSession

__all__ = [
    "AccessEvent",
    "AcknowledgementLink",
    "AcknowledgementNotice",
    "ApiIntakeRecord",
    "ApiToken",
    "Attachment",
    "AttachmentChunk",
    "AuditCheckpoint",
    "AuditEvent",
    "AuditHead",
    "BackupCopy",
    "BackupRecord",
    "Base",
    "Case",
    "CasePrivateKeySeal",
    "CaseSubjectEntry",
    "Category",
    "ChannelRecipient",
    "ClosedPeriodNotice",
    "DelayedDisclosure",
    "DisclosureVersion",
    "EscrowKey",
    "EventBatch",
    "FinancialReport",
    "IdentityConsentRequest",
    "IdentityDisclosure",
    "InsiderEntry",
    "InsiderProposalDecision",
    "InsiderSection",
    "InsiderTransmission",
    "InsiderVersion",
    "InstallationKey",
    "JobRun",
    "KeyRotation",
    "LegalHold",
    "Membership",
    "Message",
    "Note",
    "OperationalAlert",
    "OralRecord",
    "PdmrEntry",
    "Person",
    "PersonIdentifier",
    "PersonLink",
    "PreservedSecret",
    "QuestionnaireVersion",
    "ReaderChange",
    "ReaderListEntry",
    "ReaderNotice",
    "RecoveryCode",
    "Redaction",
    "ReminderSent",
    "ReporterNotifyAddress",
    "ReportingChannel",
    "ReportingChannelCategory",
    "RetentionPolicy",
    "SavedQueueFilter",
    "SchedulerLease",
    "SiteStatus",
    "Tenant",
    "TenantBranding",
    "TenantKey",
    "Throttle",
    "User",
    "WebSession",
]
