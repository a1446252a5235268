"""branding per organisation: tenant_branding (logo, intro text, privacy notice, policy link)

Expand-only: one new table, a row per tenant that set anything (none: the portal shows the
appliance's own texts and no logo, as before). Each row carries a MAC under the master key's key
binding over its texts, its link and the SHA-256 of its logo (``appliance.tenants.branding``).

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-06 07:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from appliance.db import GUID, Blob, Digest, LongText, UTCDateTime

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tenant_branding",
        sa.Column("tenant_id", GUID, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("intro", LongText, nullable=True),
        sa.Column("privacy_notice", LongText, nullable=True),
        sa.Column("policy_url", sa.Unicode(length=500), nullable=True),
        sa.Column("logo", Blob, nullable=True),
        sa.Column("logo_type", sa.String(length=20), nullable=True),
        sa.Column("logo_width", sa.Integer(), nullable=True),
        sa.Column("logo_height", sa.Integer(), nullable=True),
        sa.Column("logo_digest", Digest, nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("mac", Digest, nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_tenant_branding_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_tenant_branding")),
    )


def downgrade() -> None:
    op.drop_table("tenant_branding")
