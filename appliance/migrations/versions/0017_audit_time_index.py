"""the auditor's logbook room: an index on (tenant_id, occurred_at, seq) for time-range searches

Expand-only. A search between two times finds its first and last event by this index (one seek
each) and then pages on seq like any other search, instead of scanning back from the newest event
(appliance/audit/search.py).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 01:10:00
"""

from __future__ import annotations

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

NAME = "ix_audit_events_tenant_at_seq"


def upgrade() -> None:
    op.create_index(NAME, "audit_events", ["tenant_id", "occurred_at", "seq"])


def downgrade() -> None:
    op.drop_index(NAME, table_name="audit_events")
