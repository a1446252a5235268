"""which API token filed a report, and when: api_intake_records

Expand-only: a new table. The token that filed a report may add files to it for a few minutes
afterwards (appliance/cases/api_intake.py); nothing in it is content.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 00:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from appliance.db import GUID, UTCDateTime

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_intake_records",
        sa.Column("case_id", GUID, nullable=False),
        sa.Column("tenant_id", GUID, nullable=False),
        sa.Column("token_id", GUID, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_api_intake_records_case_id_cases")),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_api_intake_records_tenant_id_tenants")),
        sa.ForeignKeyConstraint(["token_id"], ["api_tokens.id"],
                                name=op.f("fk_api_intake_records_token_id_api_tokens")),
        sa.PrimaryKeyConstraint("case_id", name=op.f("pk_api_intake_records")),
    )
    op.create_index(op.f("ix_api_intake_records_tenant_id"), "api_intake_records", ["tenant_id"], unique=False)
    op.create_index(op.f("ix_api_intake_records_token_id"), "api_intake_records", ["token_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_api_intake_records_token_id"), table_name="api_intake_records")
    op.drop_index(op.f("ix_api_intake_records_tenant_id"), table_name="api_intake_records")
    op.drop_table("api_intake_records")
