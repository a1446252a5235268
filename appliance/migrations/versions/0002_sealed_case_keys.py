"""sealed case keys: staff key pairs, per-case key pairs and their sealed copies, escrow keys

Expand-only for the running version: new nullable columns and new tables; the tenant-wrapped
case key columns become nullable (emptied by `appliance keys seal-existing`).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 03:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from appliance.db import GUID, Blob, Digest, UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _defer_foreign_keys() -> None:
    # SQLite rebuilds a table to change a column's nullability; other tables point at it,
    # so foreign keys are checked at commit, when the rebuilt table is in place again.
    if op.get_context().dialect.name == "sqlite" and not op.get_context().as_sql:
        op.execute("PRAGMA defer_foreign_keys = ON")


def _offline_sqlite() -> bool:
    """Rendering SQL offline for SQLite (a schema check only: the embedded database is always
    migrated online) cannot rebuild a table without reflecting it, so the NULL change is left out."""
    return op.get_context().as_sql and op.get_context().dialect.name == "sqlite"


def upgrade() -> None:
    _defer_foreign_keys()
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("public_key", Blob, nullable=True))
        batch_op.add_column(sa.Column("private_key_sealed", Blob, nullable=True))
        batch_op.add_column(sa.Column("keys_reset_at", UTCDateTime(), nullable=True))
    with op.batch_alter_table("web_sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("secret_sealed", Blob, nullable=True))
    with op.batch_alter_table("attachments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("file_key_sealed", Blob, nullable=True))
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("public_key", Blob, nullable=True))
        batch_op.add_column(sa.Column("content_key_sealed", Blob, nullable=True))
        batch_op.add_column(sa.Column("reporter_public_key", Blob, nullable=True))
        if not _offline_sqlite():
            batch_op.alter_column("key_version", existing_type=sa.Integer(), nullable=True)
            batch_op.alter_column("wrapped_key", existing_type=Blob, nullable=True)

    op.create_table(
        "case_key_seals",
        sa.Column("id", GUID, nullable=False),
        sa.Column("case_id", GUID, nullable=False),
        sa.Column("tenant_id", GUID, nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("user_id", GUID, nullable=True),
        sa.Column("recipient_fingerprint", Digest, nullable=False),
        sa.Column("sealed", Blob, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_case_key_seals_case_id_cases")),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_case_key_seals_tenant_id_tenants")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_case_key_seals_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_key_seals")),
        sa.UniqueConstraint("case_id", "recipient_fingerprint",
                            name=op.f("uq_case_key_seals_case_id_recipient_fingerprint")),
    )
    with op.batch_alter_table("case_key_seals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_key_seals_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_case_key_seals_user_id"), ["user_id"], unique=False)

    op.create_table(
        "escrow_keys",
        sa.Column("id", GUID, nullable=False),
        sa.Column("tenant_id", GUID, nullable=False),
        sa.Column("public_key", Blob, nullable=False),
        sa.Column("fingerprint", Digest, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("retired_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_escrow_keys_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_escrow_keys")),
        sa.UniqueConstraint("fingerprint", name=op.f("uq_escrow_keys_fingerprint")),
    )
    with op.batch_alter_table("escrow_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_escrow_keys_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "channel_recipients",
        sa.Column("tenant_id", GUID, nullable=False),
        sa.Column("user_id", GUID, nullable=False),
        sa.Column("added_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"],
                                name=op.f("fk_channel_recipients_tenant_id_tenants")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_channel_recipients_user_id_users")),
        sa.PrimaryKeyConstraint("tenant_id", "user_id", name=op.f("pk_channel_recipients")),
    )


def downgrade() -> None:
    _defer_foreign_keys()
    op.drop_table("channel_recipients")
    with op.batch_alter_table("escrow_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_escrow_keys_tenant_id"))
    op.drop_table("escrow_keys")
    with op.batch_alter_table("case_key_seals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_key_seals_user_id"))
        batch_op.drop_index(batch_op.f("ix_case_key_seals_case_id"))
    op.drop_table("case_key_seals")
    # Sealed cases have no tenant-wrapped key to go back to: a downgrade keeps them only
    # when none were sealed (the NOT NULL below refuses otherwise, and nothing is lost).
    with op.batch_alter_table("cases", schema=None) as batch_op:
        if not _offline_sqlite():
            batch_op.alter_column("wrapped_key", existing_type=Blob, nullable=False)
            batch_op.alter_column("key_version", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column("reporter_public_key")
        batch_op.drop_column("content_key_sealed")
        batch_op.drop_column("public_key")
    with op.batch_alter_table("attachments", schema=None) as batch_op:
        batch_op.drop_column("file_key_sealed")
    with op.batch_alter_table("web_sessions", schema=None) as batch_op:
        batch_op.drop_column("secret_sealed")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("keys_reset_at")
        batch_op.drop_column("private_key_sealed")
        batch_op.drop_column("public_key")
