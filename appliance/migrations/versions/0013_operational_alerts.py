"""operational alerts mailed to operators: operational_alerts

Expand-only: a new table. One row per problem (a failed backup job, a failing site, a broken
logbook) with when it began and when it was last mailed, so the scheduler mails each problem
at most once a day and once when it recovers.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 00:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from appliance.db import UTCDateTime

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "operational_alerts",
        sa.Column("problem", sa.String(length=80), nullable=False),
        sa.Column("failing", sa.Boolean(), nullable=False),
        sa.Column("since", UTCDateTime, nullable=False),
        sa.Column("alerted_at", UTCDateTime, nullable=True),
        sa.PrimaryKeyConstraint("problem", name=op.f("pk_operational_alerts")),
    )


def downgrade() -> None:
    op.drop_table("operational_alerts")
