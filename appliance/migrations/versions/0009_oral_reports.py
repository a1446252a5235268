"""reports received by phone or in a meeting, recorded by a handler: oral_records

Expand-only: a new table. The minutes are the case's sealed report text; this table keeps the
channel, the times, the reporter's consent and review state, and the reporter's sealed
correction (Directive 2019/1937 Art. 18).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 23:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from appliance.db import GUID, Blob, UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "oral_records",
        sa.Column("case_id", GUID, nullable=False),
        sa.Column("tenant_id", GUID, nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("received_at", UTCDateTime, nullable=False),
        sa.Column("recorded_by", GUID, nullable=False),
        sa.Column("recorded_at", UTCDateTime, nullable=False),
        sa.Column("consent_given", sa.Boolean(), nullable=False),
        sa.Column("consent_at", UTCDateTime, nullable=False),
        sa.Column("recording_id", GUID, nullable=True),
        sa.Column("review_state", sa.String(length=10), nullable=False),
        sa.Column("approved_at", UTCDateTime, nullable=True),
        sa.Column("corrected_at", UTCDateTime, nullable=True),
        sa.Column("correction_sealed", Blob, nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_oral_records_case_id_cases")),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_oral_records_tenant_id_tenants")),
        sa.ForeignKeyConstraint(["recorded_by"], ["users.id"], name=op.f("fk_oral_records_recorded_by_users")),
        sa.ForeignKeyConstraint(["recording_id"], ["attachments.id"],
                                name=op.f("fk_oral_records_recording_id_attachments")),
        sa.PrimaryKeyConstraint("case_id", name=op.f("pk_oral_records")),
    )
    op.create_index(op.f("ix_oral_records_tenant_id"), "oral_records", ["tenant_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_oral_records_tenant_id"), table_name="oral_records")
    op.drop_table("oral_records")
