"""access events uploaded through the API: access_event_batches, access_events

Expand-only: two new tables. Each batch holds the data key its events' fields are sealed under
(wrapped under the tenant's key-encryption key); each event holds keyed hashes of (source, id)
and of its project code, its time, the actor's address sealed under the actor's person key and
the rest sealed under the batch's key.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 00:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from appliance.db import GUID, Blob, Digest, UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "access_event_batches",
        sa.Column("id", GUID, nullable=False),
        sa.Column("tenant_id", GUID, nullable=False),
        sa.Column("key_version", sa.Integer(), nullable=False),
        sa.Column("wrapped_key", Blob, nullable=False),
        sa.Column("received_at", UTCDateTime, nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_access_event_batches_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_event_batches")),
    )
    op.create_index(op.f("ix_access_event_batches_tenant_id"), "access_event_batches", ["tenant_id"], unique=False)
    op.create_table(
        "access_events",
        sa.Column("id", GUID, nullable=False),
        sa.Column("tenant_id", GUID, nullable=False),
        sa.Column("batch_id", GUID, nullable=False),
        sa.Column("person_id", GUID, nullable=False),
        sa.Column("dedupe", Digest, nullable=False),
        sa.Column("project_lookup", Digest, nullable=False),
        sa.Column("occurred_at", UTCDateTime, nullable=False),
        sa.Column("received_at", UTCDateTime, nullable=False),
        sa.Column("actor_sealed", Blob, nullable=False),
        sa.Column("content_sealed", Blob, nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_access_events_tenant_id_tenants")),
        sa.ForeignKeyConstraint(["batch_id"], ["access_event_batches.id"],
                                name=op.f("fk_access_events_batch_id_access_event_batches")),
        sa.ForeignKeyConstraint(["person_id"], ["persons.id"], name=op.f("fk_access_events_person_id_persons")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_events")),
        sa.UniqueConstraint("tenant_id", "dedupe", name=op.f("uq_access_events_tenant_id_dedupe")),
    )
    op.create_index(op.f("ix_access_events_batch_id"), "access_events", ["batch_id"], unique=False)
    op.create_index(op.f("ix_access_events_person_id"), "access_events", ["person_id"], unique=False)
    op.create_index("ix_access_events_occurred_at", "access_events", ["occurred_at"], unique=False)
    op.create_index("ix_access_events_project", "access_events",
                    ["tenant_id", "project_lookup", "occurred_at", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_access_events_project", table_name="access_events")
    op.drop_index("ix_access_events_occurred_at", table_name="access_events")
    op.drop_index(op.f("ix_access_events_person_id"), table_name="access_events")
    op.drop_index(op.f("ix_access_events_batch_id"), table_name="access_events")
    op.drop_table("access_events")
    op.drop_index(op.f("ix_access_event_batches_tenant_id"), table_name="access_event_batches")
    op.drop_table("access_event_batches")
