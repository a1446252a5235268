"""insider lists (MAR Art. 18): insider_sections, insider_entries, insider_versions, insider_transmissions

Expand-only: new tables. Versions are append-only and chained per tenant by a MAC (``seq``,
``mac``); personal fields are sealed under the person's key, the rest under each section's data
key (wrapped under the tenant's key-encryption key).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 00:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from appliance.db import GUID, Blob, Digest, UTCDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "insider_sections",
        sa.Column("id", GUID, nullable=False),
        sa.Column("tenant_id", GUID, nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("key_version", sa.Integer(), nullable=False),
        sa.Column("wrapped_key", Blob, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_insider_sections_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_insider_sections")),
    )
    op.create_index(op.f("ix_insider_sections_tenant_id"), "insider_sections", ["tenant_id"], unique=False)
    op.create_table(
        "insider_entries",
        sa.Column("id", GUID, nullable=False),
        sa.Column("tenant_id", GUID, nullable=False),
        sa.Column("section_id", GUID, nullable=False),
        sa.Column("person_id", GUID, nullable=True),
        sa.Column("provider_lookup", Digest, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_insider_entries_tenant_id_tenants")),
        sa.ForeignKeyConstraint(["section_id"], ["insider_sections.id"],
                                name=op.f("fk_insider_entries_section_id_insider_sections")),
        sa.ForeignKeyConstraint(["person_id"], ["persons.id"], name=op.f("fk_insider_entries_person_id_persons")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_insider_entries")),
    )
    for column in ("tenant_id", "section_id", "person_id"):
        op.create_index(op.f(f"ix_insider_entries_{column}"), "insider_entries", [column], unique=False)
    op.create_table(
        "insider_versions",
        sa.Column("id", GUID, nullable=False),
        sa.Column("tenant_id", GUID, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("section_id", GUID, nullable=False),
        sa.Column("entry_id", GUID, nullable=True),
        sa.Column("valid_from", UTCDateTime, nullable=False),
        sa.Column("change", sa.String(length=20), nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("ended_at", UTCDateTime, nullable=True),
        sa.Column("content_sealed", Blob, nullable=False),
        sa.Column("personal_sealed", Blob, nullable=True),
        sa.Column("personal_digest", Digest, nullable=True),
        sa.Column("recorded_at", UTCDateTime, nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.Column("mac", Digest, nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_insider_versions_tenant_id_tenants")),
        sa.ForeignKeyConstraint(["section_id"], ["insider_sections.id"],
                                name=op.f("fk_insider_versions_section_id_insider_sections")),
        sa.ForeignKeyConstraint(["entry_id"], ["insider_entries.id"],
                                name=op.f("fk_insider_versions_entry_id_insider_entries")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_insider_versions")),
        sa.UniqueConstraint("tenant_id", "seq", name=op.f("uq_insider_versions_tenant_id_seq")),
    )
    op.create_index("ix_insider_versions_object", "insider_versions", ["section_id", "entry_id", "valid_from"],
                    unique=False)
    op.create_table(
        "insider_transmissions",
        sa.Column("id", GUID, nullable=False),
        sa.Column("tenant_id", GUID, nullable=False),
        sa.Column("section_id", GUID, nullable=True),
        sa.Column("as_at", UTCDateTime, nullable=False),
        sa.Column("export_format", sa.String(length=8), nullable=False),
        sa.Column("transmitted_on", sa.Date(), nullable=False),
        sa.Column("recorded_at", UTCDateTime, nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"],
                                name=op.f("fk_insider_transmissions_tenant_id_tenants")),
        sa.ForeignKeyConstraint(["section_id"], ["insider_sections.id"],
                                name=op.f("fk_insider_transmissions_section_id_insider_sections")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_insider_transmissions")),
    )
    op.create_index(op.f("ix_insider_transmissions_tenant_id"), "insider_transmissions", ["tenant_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_insider_transmissions_tenant_id"), table_name="insider_transmissions")
    op.drop_table("insider_transmissions")
    op.drop_index("ix_insider_versions_object", table_name="insider_versions")
    op.drop_table("insider_versions")
    for column in ("tenant_id", "section_id", "person_id"):
        op.drop_index(op.f(f"ix_insider_entries_{column}"), table_name="insider_entries")
    op.drop_table("insider_entries")
    op.drop_index(op.f("ix_insider_sections_tenant_id"), table_name="insider_sections")
    op.drop_table("insider_sections")
