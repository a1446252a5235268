"""reporter notifications: reporter_notify_addresses

Expand-only: a new table. The e-mail address a reporter may leave to be told that a new message
is waiting (never its content), sealed under its own data key wrapped under the tenant's KEK
(appliance/cases/reporter_notices.py), and when the last notice went out.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06 04:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from appliance.db import GUID, Blob, UTCDateTime

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

TABLE = "reporter_notify_addresses"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("id", GUID, nullable=False),
        sa.Column("case_id", GUID, nullable=False),
        sa.Column("tenant_id", GUID, nullable=False),
        sa.Column("key_version", sa.Integer, nullable=False),
        sa.Column("wrapped_key", Blob, nullable=False),
        sa.Column("address_sealed", Blob, nullable=False),
        sa.Column("set_at", UTCDateTime, nullable=False),
        sa.Column("announced_up_to", UTCDateTime, nullable=True),
        sa.Column("notified_at", UTCDateTime, nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f(f"fk_{TABLE}_case_id_cases")),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f(f"fk_{TABLE}_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{TABLE}")),
        sa.UniqueConstraint("case_id", name=op.f(f"uq_{TABLE}_case_id")),
    )
    op.create_index(op.f(f"ix_{TABLE}_tenant_id"), TABLE, ["tenant_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f(f"ix_{TABLE}_tenant_id"), table_name=TABLE)
    op.drop_table(TABLE)
