"""the auditor's logbook room: indexes for one tenant's events, filtered, paged by seq

Expand-only: four indexes on audit_events, each leading with tenant_id and ending with seq, so
a keyset page (``tenant_id = ? [AND action|actor_id|object_id = ?] AND seq < ? ORDER BY seq
DESC``) reads only the rows it shows, whatever the logbook's size.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 00:30:00
"""

from __future__ import annotations

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

INDEXES = {
    "ix_audit_events_tenant_seq": ["tenant_id", "seq"],
    "ix_audit_events_tenant_action_seq": ["tenant_id", "action", "seq"],
    "ix_audit_events_tenant_actor_seq": ["tenant_id", "actor_id", "seq"],
    "ix_audit_events_tenant_object_seq": ["tenant_id", "object_id", "seq"],
}


def upgrade() -> None:
    for name, columns in INDEXES.items():
        op.create_index(name, "audit_events", columns)


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, table_name="audit_events")
