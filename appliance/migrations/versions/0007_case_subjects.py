"""persons named in a case sealed to the case: case_subjects; identifier values optional

Expand-only: a new table, and ``person_identifiers.value_sealed`` may be NULL (persons named
in a case keep only the blind index on the person chain). Rows of ``person_links`` of kind
``case_subject`` are converted by the application, not here: that needs each case's content
key, which the server does not hold (a handler opening the case, or `appliance person
reconcile` with the escrow key, converts them).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-10 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from appliance.db import GUID, Blob

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _offline_sqlite() -> bool:
    """Offline SQL for SQLite (a schema check only; the embedded database is always migrated
    online) cannot rebuild a table to change a column."""
    return op.get_context().as_sql and op.get_context().dialect.name == "sqlite"


def upgrade() -> None:
    op.create_table(
        "case_subjects",
        sa.Column("id", GUID, nullable=False),
        sa.Column("case_id", GUID, nullable=False),
        sa.Column("tenant_id", GUID, nullable=False),
        sa.Column("entry_sealed", Blob, nullable=False),
        sa.Column("identity_sealed", Blob, nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_case_subjects_case_id_cases")),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_case_subjects_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_subjects")),
    )
    op.create_index(op.f("ix_case_subjects_case_id"), "case_subjects", ["case_id"], unique=False)
    if not _offline_sqlite():
        with op.batch_alter_table("person_identifiers", schema=None) as batch_op:
            batch_op.alter_column("value_sealed", existing_type=Blob, nullable=True)


def downgrade() -> None:
    # Only before any person was named in a case the new way: their identifiers have no value.
    if not _offline_sqlite():
        with op.batch_alter_table("person_identifiers", schema=None) as batch_op:
            batch_op.alter_column("value_sealed", existing_type=Blob, nullable=False)
    op.drop_index(op.f("ix_case_subjects_case_id"), table_name="case_subjects")
    op.drop_table("case_subjects")
