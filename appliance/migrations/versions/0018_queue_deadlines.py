"""the handler's queue at scale: cases.next_due_at and cases.status_rank, one index per sort;
saved queue filters

Expand-only. ``next_due_at`` is the earliest deadline a case still has pending (9999-12-31 when
none is), so "overdue" is ``next_due_at < now`` and "by deadline" an index scan; ``status_rank``
orders the status sort by the flow. Both are derived from the dates and the status and are
backfilled here with the same Python the model uses on every write (appliance/cases/deadlines.py),
so SQL and Python agree on every case. The columns are nullable so that a server still running
the previous version can insert cases during an upgrade; the contract step (NOT NULL) follows in
a later release, after this backfill has been run again. ``queue_filters``: a handler's saved
queue searches, name and query sealed to the handler's own key.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 04:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from appliance.cases.models import queue_columns
from appliance.db import GUID, Blob, UTCDateTime

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

INDEXES = {
    "ix_cases_tenant_due": ["tenant_id", "next_due_at", "id"],
    "ix_cases_tenant_received": ["tenant_id", "received_at", "id"],
    "ix_cases_tenant_rank": ["tenant_id", "status_rank", "received_at", "id"],
}
BATCH = 1000


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("next_due_at", UTCDateTime, nullable=True))
        batch_op.add_column(sa.Column("status_rank", sa.SmallInteger(), nullable=True))
    if not op.get_context().as_sql:  # offline SQL is for review; `appliance db upgrade` runs online
        backfill(op.get_bind())
    for name, columns in INDEXES.items():
        op.create_index(name, "cases", columns)
    op.create_table(
        "queue_filters",
        sa.Column("id", GUID, nullable=False),
        sa.Column("tenant_id", GUID, nullable=False),
        sa.Column("user_id", GUID, nullable=False),
        sa.Column("sealed", Blob, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_queue_filters_tenant_id_tenants")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_queue_filters_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_queue_filters")),
    )
    op.create_index("ix_queue_filters_user_tenant", "queue_filters", ["user_id", "tenant_id"])


def backfill(connection: sa.Connection) -> None:
    """Every case without the derived columns gets them, a batch at a time (keyset on id)."""
    cases = sa.table("cases", sa.column("id", GUID), sa.column("received_at", UTCDateTime),
                     sa.column("acknowledged_at", UTCDateTime), sa.column("feedback_at", UTCDateTime),
                     sa.column("status", sa.String), sa.column("next_due_at", UTCDateTime),
                     sa.column("status_rank", sa.SmallInteger))
    after = None
    while True:
        query = sa.select(cases.c.id, cases.c.received_at, cases.c.acknowledged_at, cases.c.feedback_at,
                          cases.c.status).where(cases.c.next_due_at.is_(None))
        if after is not None:
            query = query.where(cases.c.id > after)
        rows = connection.execute(query.order_by(cases.c.id).limit(BATCH)).all()
        if not rows:
            return
        connection.execute(
            cases.update().where(cases.c.id == sa.bindparam("case_id")).values(
                next_due_at=sa.bindparam("due"), status_rank=sa.bindparam("rank")),
            [{"case_id": row.id, "due": derived["next_due_at"], "rank": derived["status_rank"]}
             for row in rows
             for derived in [queue_columns(row.received_at, row.acknowledged_at, row.feedback_at, row.status)]])
        after = rows[-1].id


def downgrade() -> None:
    op.drop_index("ix_queue_filters_user_tenant", table_name="queue_filters")
    op.drop_table("queue_filters")
    for name in INDEXES:
        op.drop_index(name, table_name="cases")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_column("status_rank")
        batch_op.drop_column("next_due_at")
