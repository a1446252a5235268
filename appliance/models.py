"""Imports every table so Base.metadata is complete (alembic, schema checks)."""

from appliance.audit.models import AuditEvent, AuditHead
from appliance.cases.models import Attachment, AttachmentChunk, Case, CaseKeySeal, Message, Note
from appliance.db import Base
from appliance.tenants.models import Category, ChannelRecipient, EscrowKey, Tenant, TenantKey
from appliance.users.models import Membership, RecoveryCode, Throttle, User, WebSession

__all__ = [
    "Attachment", "AttachmentChunk", "AuditEvent", "AuditHead", "Base", "Case", "CaseKeySeal", "Category",
    "ChannelRecipient", "EscrowKey", "Membership", "Message", "Note", "RecoveryCode", "Tenant", "TenantKey",
    "Throttle", "User", "WebSession",
]
