"""Imports every table so Base.metadata is complete (alembic, schema checks)."""

from appliance.audit.models import AuditEvent, AuditHead
from appliance.backup.models import BackupCopy, BackupRecord, SiteStatus
from appliance.cases.models import Attachment, AttachmentChunk, Case, CaseKeySeal, Message, Note
from appliance.db import Base
from appliance.jobs.models import JobRun, SchedulerLease
from appliance.notify.models import ReminderSent
from appliance.tenants.models import Category, ChannelRecipient, EscrowKey, Tenant, TenantKey
from appliance.users.models import Membership, RecoveryCode, Throttle, User, WebSession

__all__ = [
    "Attachment", "AttachmentChunk", "AuditEvent", "AuditHead", "BackupCopy", "BackupRecord", "Base", "Case",
    "CaseKeySeal", "Category", "ChannelRecipient", "EscrowKey", "JobRun", "Membership", "Message", "Note",
    "RecoveryCode", "ReminderSent", "SchedulerLease", "SiteStatus", "Tenant", "TenantKey", "Throttle", "User",
    "WebSession",
]
