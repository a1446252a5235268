"""cases.duplicate_of_id: a report closed at triage as a duplicate names the case it repeats

Expand-only: one nullable column on ``cases``, no foreign key (like ``reporting_channel_id``: the
earlier case may be deleted by retention before this one, and a plain ADD COLUMN works on every
backend). The outcomes ``duplicate`` and ``not-a-report`` fit the existing ``outcome`` column.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-06 07:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from appliance.db import GUID

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("cases", sa.Column("duplicate_of_id", GUID, nullable=True))


def downgrade() -> None:
    # A plain DROP COLUMN (as 0019): a batch copy of ``cases`` on SQLite would drop the table that
    # the rows of case_messages, attachments and the rest refer to.
    op.drop_column("cases", "duplicate_of_id")
