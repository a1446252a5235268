"""reporting channels: reporting_channels, reporting_channel_categories, questionnaire_versions,
cases.reporting_channel_id, cases.questionnaire_version_id, cases.answers_sealed,
the channel columns of reader_changes, tenants.external_reporting_info

Expand-only. Every tenant gets one default channel (named after the tenant) and every existing
case is filed under it, so an upgraded installation works as before: the default channel is
the tenant's portal and its whole reader list.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 04:10:00
"""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from alembic import op

from appliance.db import GUID, Blob, LongText, UTCDateTime

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reporting_channels",
        sa.Column("id", GUID, nullable=False),
        sa.Column("tenant_id", GUID, nullable=False),
        sa.Column("name", sa.Unicode(length=200), nullable=False),
        sa.Column("intro", LongText, nullable=True),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_reporting_channels_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reporting_channels")),
    )
    op.create_index(op.f("ix_reporting_channels_tenant_id"), "reporting_channels", ["tenant_id"], unique=False)
    op.create_table(
        "reporting_channel_categories",
        sa.Column("channel_id", GUID, nullable=False),
        sa.Column("category_id", GUID, nullable=False),
        sa.ForeignKeyConstraint(["category_id"], ["categories.id"],
                                name=op.f("fk_reporting_channel_categories_category_id_categories")),
        sa.ForeignKeyConstraint(["channel_id"], ["reporting_channels.id"],
                                name=op.f("fk_reporting_channel_categories_channel_id_reporting_channels")),
        sa.PrimaryKeyConstraint("channel_id", "category_id", name=op.f("pk_reporting_channel_categories")),
    )
    op.create_table(
        "questionnaire_versions",
        sa.Column("id", GUID, nullable=False),
        sa.Column("tenant_id", GUID, nullable=False),
        sa.Column("channel_id", GUID, nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("questions", LongText, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["channel_id"], ["reporting_channels.id"],
                                name=op.f("fk_questionnaire_versions_channel_id_reporting_channels")),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_questionnaire_versions_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_questionnaire_versions")),
        sa.UniqueConstraint("channel_id", "number", name=op.f("uq_questionnaire_versions_channel_id_number")),
    )
    op.create_index(op.f("ix_questionnaire_versions_tenant_id"), "questionnaire_versions", ["tenant_id"],
                    unique=False)
    op.add_column("cases", sa.Column("reporting_channel_id", GUID, nullable=True))
    op.add_column("cases", sa.Column("questionnaire_version_id", GUID, nullable=True))
    op.add_column("cases", sa.Column("answers_sealed", Blob, nullable=True))
    op.add_column("reader_changes", sa.Column("channel_id", GUID, nullable=True))
    op.add_column("reader_changes", sa.Column("members", sa.Unicode(length=4000), nullable=True))
    op.add_column("tenants", sa.Column("external_reporting_info", LongText, nullable=True))
    if not op.get_context().as_sql:
        _backfill()


def _backfill() -> None:
    connection = op.get_bind()
    channels = sa.table("reporting_channels", sa.column("id", GUID), sa.column("tenant_id", GUID),
                        sa.column("name", sa.Unicode), sa.column("is_default", sa.Boolean),
                        sa.column("active", sa.Boolean), sa.column("position", sa.Integer),
                        sa.column("created_at", UTCDateTime()))
    cases = sa.table("cases", sa.column("tenant_id", GUID), sa.column("reporting_channel_id", GUID))
    tenants = connection.execute(sa.text("SELECT id, name FROM tenants")).all()
    now = dt.datetime.now(dt.UTC)
    for tenant_id, name in tenants:
        tenant_uuid = tenant_id if isinstance(tenant_id, uuid.UUID) else uuid.UUID(str(tenant_id))
        channel_id = uuid.uuid4()
        connection.execute(channels.insert().values(id=channel_id, tenant_id=tenant_uuid, name=name, is_default=True,
                                                    active=True, position=0, created_at=now))
        connection.execute(cases.update().where(cases.c.tenant_id == tenant_uuid)
                           .values(reporting_channel_id=channel_id))


def downgrade() -> None:
    op.drop_column("tenants", "external_reporting_info")
    op.drop_column("reader_changes", "members")
    op.drop_column("reader_changes", "channel_id")
    op.drop_column("cases", "answers_sealed")
    op.drop_column("cases", "questionnaire_version_id")
    op.drop_column("cases", "reporting_channel_id")
    op.drop_index(op.f("ix_questionnaire_versions_tenant_id"), table_name="questionnaire_versions")
    op.drop_table("questionnaire_versions")
    op.drop_table("reporting_channel_categories")
    op.drop_index(op.f("ix_reporting_channels_tenant_id"), table_name="reporting_channels")
    op.drop_table("reporting_channels")
