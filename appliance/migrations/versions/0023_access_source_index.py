"""access events by source: a keyed blind index on each event's source

Expand-only: a nullable column ``access_events.source_lookup`` (HMAC-SHA256 over the tenant and
the source, the construction of ``project_lookup``) and an index (tenant_id, source_lookup,
occurred_at) for counting a tenant's events by source over time. The source is sealed and the
HMAC key is not in the database, so the migration cannot fill the column in: the next upload of
each tenant's events does (``AccessEvents.index_sources``), and until then the statistics count
those events as "not indexed yet".

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-06 04:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from appliance.db import Digest

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

INDEX = "ix_access_events_source"


def upgrade() -> None:
    op.add_column("access_events", sa.Column("source_lookup", Digest, nullable=True))
    op.create_index(INDEX, "access_events", ["tenant_id", "source_lookup", "occurred_at"])


def downgrade() -> None:
    op.drop_index(INDEX, table_name="access_events")
    with op.batch_alter_table("access_events", schema=None) as batch_op:
        batch_op.drop_column("source_lookup")
