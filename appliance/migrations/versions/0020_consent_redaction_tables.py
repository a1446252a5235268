"""identity-disclosure consent and redaction: identity_consent_requests, identity_disclosures, case_redactions

Expand-only: three new tables. Who the identity would go to, why, the legal ground's
explanation, the redaction's reason and the passages it took out are sealed under the case's
content key; kinds, states and times are readable metadata (appliance/cases/consent.py,
appliance/cases/redaction.py).

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06 04:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from appliance.db import GUID, Blob, UTCDateTime

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}"))


def upgrade() -> None:
    op.create_table(
        "identity_consent_requests",
        sa.Column("id", GUID, nullable=False),
        sa.Column("case_id", GUID, nullable=False),
        sa.Column("tenant_id", GUID, nullable=False),
        sa.Column("requested_by", GUID, nullable=False),
        sa.Column("requested_at", UTCDateTime, nullable=False),
        sa.Column("recipients_sealed", Blob, nullable=False),
        sa.Column("purpose_sealed", Blob, nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("answered_at", UTCDateTime, nullable=True),
        _fk("identity_consent_requests", "case_id", "cases"),
        _fk("identity_consent_requests", "tenant_id", "tenants"),
        _fk("identity_consent_requests", "requested_by", "users"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_consent_requests")),
    )
    op.create_index(op.f("ix_identity_consent_requests_case_id"), "identity_consent_requests", ["case_id"])
    op.create_table(
        "identity_disclosures",
        sa.Column("id", GUID, nullable=False),
        sa.Column("case_id", GUID, nullable=False),
        sa.Column("tenant_id", GUID, nullable=False),
        sa.Column("consent_id", GUID, nullable=True),
        sa.Column("legal_ground", sa.String(20), nullable=True),
        sa.Column("ground_sealed", Blob, nullable=True),
        sa.Column("recipients_sealed", Blob, nullable=False),
        sa.Column("disclosed_by", GUID, nullable=False),
        sa.Column("disclosed_at", UTCDateTime, nullable=False),
        _fk("identity_disclosures", "case_id", "cases"),
        _fk("identity_disclosures", "tenant_id", "tenants"),
        _fk("identity_disclosures", "consent_id", "identity_consent_requests"),
        _fk("identity_disclosures", "disclosed_by", "users"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_disclosures")),
    )
    op.create_index(op.f("ix_identity_disclosures_case_id"), "identity_disclosures", ["case_id"])
    op.create_table(
        "case_redactions",
        sa.Column("id", GUID, nullable=False),
        sa.Column("case_id", GUID, nullable=False),
        sa.Column("tenant_id", GUID, nullable=False),
        sa.Column("target", sa.String(10), nullable=False),
        sa.Column("target_id", GUID, nullable=False),
        sa.Column("field", sa.String(10), nullable=True),
        sa.Column("created_by", GUID, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("reason_sealed", Blob, nullable=False),
        sa.Column("removed_sealed", Blob, nullable=True),
        sa.Column("disposition", sa.String(10), nullable=False),
        sa.Column("purged_at", UTCDateTime, nullable=True),
        _fk("case_redactions", "case_id", "cases"),
        _fk("case_redactions", "tenant_id", "tenants"),
        _fk("case_redactions", "created_by", "users"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_redactions")),
    )
    op.create_index(op.f("ix_case_redactions_case_id"), "case_redactions", ["case_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_case_redactions_case_id"), table_name="case_redactions")
    op.drop_table("case_redactions")
    op.drop_index(op.f("ix_identity_disclosures_case_id"), table_name="identity_disclosures")
    op.drop_table("identity_disclosures")
    op.drop_index(op.f("ix_identity_consent_requests_case_id"), table_name="identity_consent_requests")
    op.drop_table("identity_consent_requests")
