"""insider-list proposals from access events: insider_proposal_decisions

Expand-only: a new table. The manager's accept or dismiss of a proposed insider (a person whose
access events name an event section's project); a dismissal's reason is sealed under the
section's data key. Proposals themselves are computed from the events, never stored.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 01:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from appliance.db import GUID, Blob, UTCDateTime

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "insider_proposal_decisions",
        sa.Column("id", GUID, nullable=False),
        sa.Column("tenant_id", GUID, nullable=False),
        sa.Column("section_id", GUID, nullable=False),
        sa.Column("person_id", GUID, nullable=False),
        sa.Column("decision", sa.String(length=10), nullable=False),
        sa.Column("access_at", UTCDateTime, nullable=False),
        sa.Column("reason_sealed", Blob, nullable=True),
        sa.Column("entry_id", GUID, nullable=True),
        sa.Column("decided_at", UTCDateTime, nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"],
                                name=op.f("fk_insider_proposal_decisions_tenant_id_tenants")),
        sa.ForeignKeyConstraint(["section_id"], ["insider_sections.id"],
                                name=op.f("fk_insider_proposal_decisions_section_id_insider_sections")),
        sa.ForeignKeyConstraint(["entry_id"], ["insider_entries.id"],
                                name=op.f("fk_insider_proposal_decisions_entry_id_insider_entries")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_insider_proposal_decisions")),
    )
    op.create_index("ix_insider_proposal_decisions_person", "insider_proposal_decisions",
                    ["tenant_id", "section_id", "person_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_insider_proposal_decisions_person", table_name="insider_proposal_decisions")
    op.drop_table("insider_proposal_decisions")
