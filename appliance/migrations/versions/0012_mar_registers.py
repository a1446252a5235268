"""MAR registers: acknowledgement links and notices, delayed disclosures (Art. 17(4)), the PDMR
register, the financial calendar and the closed-period notices sent (Art. 19)

Expand-only: new tables.

Revision ID: 0012
Revises: 0011 (insider lists)
Create Date: 2026-12-06 00:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from appliance.db import GUID, Blob, Digest, LongText, UTCDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}"))


def upgrade() -> None:
    op.create_table(
        "acknowledgement_links",
        sa.Column("id", GUID, nullable=False),
        sa.Column("tenant_id", GUID, nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("subject_type", sa.String(length=20), nullable=False),
        sa.Column("subject_id", GUID, nullable=False),
        sa.Column("person_id", GUID, nullable=False),
        sa.Column("language", sa.String(length=5), nullable=False),
        sa.Column("hash", Digest, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
        sa.Column("issued_at", UTCDateTime, nullable=True),
        sa.Column("reminders_sent", sa.Integer(), nullable=False),
        sa.Column("confirmed_at", UTCDateTime, nullable=True),
        sa.Column("manager_told_at", UTCDateTime, nullable=True),
        sa.Column("withdrawn_at", UTCDateTime, nullable=True),
        _fk("acknowledgement_links", "tenant_id", "tenants"),
        _fk("acknowledgement_links", "person_id", "persons"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_acknowledgement_links")),
    )
    op.create_index(op.f("ix_acknowledgement_links_tenant_id"), "acknowledgement_links", ["tenant_id"])
    op.create_index(op.f("ix_acknowledgement_links_person_id"), "acknowledgement_links", ["person_id"])
    op.create_table(
        "acknowledgement_notices",
        sa.Column("tenant_id", GUID, nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("language", sa.String(length=5), nullable=False),
        sa.Column("body", LongText, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        _fk("acknowledgement_notices", "tenant_id", "tenants"),
        sa.PrimaryKeyConstraint("tenant_id", "purpose", "language", name=op.f("pk_acknowledgement_notices")),
    )
    op.create_table(
        "delayed_disclosures",
        sa.Column("id", GUID, nullable=False),
        sa.Column("tenant_id", GUID, nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("key_version", sa.Integer(), nullable=False),
        sa.Column("wrapped_key", Blob, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("current_version", sa.Integer(), nullable=False),
        _fk("delayed_disclosures", "tenant_id", "tenants"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delayed_disclosures")),
        sa.UniqueConstraint("tenant_id", "number", name=op.f("uq_delayed_disclosures_tenant_id_number")),
    )
    op.create_index(op.f("ix_delayed_disclosures_tenant_id"), "delayed_disclosures", ["tenant_id"])
    op.create_table(
        "delayed_disclosure_versions",
        sa.Column("id", GUID, nullable=False),
        sa.Column("disclosure_id", GUID, nullable=False),
        sa.Column("tenant_id", GUID, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("recorded_at", UTCDateTime, nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.Column("content_sealed", Blob, nullable=False),
        sa.ForeignKeyConstraint(["disclosure_id"], ["delayed_disclosures.id"],
                                name=op.f("fk_delayed_disclosure_versions_disclosure_id_delayed_disclosures")),
        _fk("delayed_disclosure_versions", "tenant_id", "tenants"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delayed_disclosure_versions")),
        sa.UniqueConstraint("disclosure_id", "version",
                            name=op.f("uq_delayed_disclosure_versions_disclosure_id_version")),
    )
    op.create_index(op.f("ix_delayed_disclosure_versions_disclosure_id"), "delayed_disclosure_versions",
                    ["disclosure_id"])
    op.create_table(
        "pdmr_entries",
        sa.Column("id", GUID, nullable=False),
        sa.Column("tenant_id", GUID, nullable=False),
        sa.Column("person_id", GUID, nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("associate_of", GUID, nullable=True),
        sa.Column("details_sealed", Blob, nullable=True),
        sa.Column("added_at", UTCDateTime, nullable=False),
        sa.Column("added_by", sa.String(length=64), nullable=False),
        sa.Column("removed_at", UTCDateTime, nullable=True),
        sa.Column("notified_at", UTCDateTime, nullable=True),
        sa.Column("acknowledgement_id", GUID, nullable=True),
        _fk("pdmr_entries", "tenant_id", "tenants"),
        _fk("pdmr_entries", "person_id", "persons"),
        sa.ForeignKeyConstraint(["associate_of"], ["pdmr_entries.id"],
                                name=op.f("fk_pdmr_entries_associate_of_pdmr_entries")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pdmr_entries")),
    )
    op.create_index(op.f("ix_pdmr_entries_tenant_id"), "pdmr_entries", ["tenant_id"])
    op.create_index(op.f("ix_pdmr_entries_person_id"), "pdmr_entries", ["person_id"])
    op.create_table(
        "financial_reports",
        sa.Column("id", GUID, nullable=False),
        sa.Column("tenant_id", GUID, nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("announce_on", sa.Date(), nullable=False),
        sa.Column("label", sa.Unicode(length=80), nullable=False),
        sa.Column("added_at", UTCDateTime, nullable=False),
        sa.Column("added_by", sa.String(length=64), nullable=False),
        sa.Column("cancelled_at", UTCDateTime, nullable=True),
        _fk("financial_reports", "tenant_id", "tenants"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_financial_reports")),
    )
    op.create_index(op.f("ix_financial_reports_tenant_id"), "financial_reports", ["tenant_id"])
    op.create_table(
        "closed_period_notices",
        sa.Column("report_id", GUID, nullable=False),
        sa.Column("entry_id", GUID, nullable=False),
        sa.Column("tenant_id", GUID, nullable=False),
        sa.Column("sent_at", UTCDateTime, nullable=False),
        sa.ForeignKeyConstraint(["report_id"], ["financial_reports.id"],
                                name=op.f("fk_closed_period_notices_report_id_financial_reports")),
        sa.ForeignKeyConstraint(["entry_id"], ["pdmr_entries.id"],
                                name=op.f("fk_closed_period_notices_entry_id_pdmr_entries")),
        _fk("closed_period_notices", "tenant_id", "tenants"),
        sa.PrimaryKeyConstraint("report_id", "entry_id", name=op.f("pk_closed_period_notices")),
    )


def downgrade() -> None:
    op.drop_table("closed_period_notices")
    op.drop_index(op.f("ix_financial_reports_tenant_id"), table_name="financial_reports")
    op.drop_table("financial_reports")
    op.drop_index(op.f("ix_pdmr_entries_person_id"), table_name="pdmr_entries")
    op.drop_index(op.f("ix_pdmr_entries_tenant_id"), table_name="pdmr_entries")
    op.drop_table("pdmr_entries")
    op.drop_index(op.f("ix_delayed_disclosure_versions_disclosure_id"), table_name="delayed_disclosure_versions")
    op.drop_table("delayed_disclosure_versions")
    op.drop_index(op.f("ix_delayed_disclosures_tenant_id"), table_name="delayed_disclosures")
    op.drop_table("delayed_disclosures")
    op.drop_table("acknowledgement_notices")
    op.drop_index(op.f("ix_acknowledgement_links_person_id"), table_name="acknowledgement_links")
    op.drop_index(op.f("ix_acknowledgement_links_tenant_id"), table_name="acknowledgement_links")
    op.drop_table("acknowledgement_links")
