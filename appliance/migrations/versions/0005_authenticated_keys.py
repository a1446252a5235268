"""authenticated keys: reader lists (signed entries, pending changes, notices), staff signing
keys and key bindings, escrow keys made offline, case key bindings, passwords users choose

Expand-only: new tables and nullable (or defaulted) columns. Escrow keys already installed
were made on the server, so they are marked ``origin = 'server'`` and never sealed to again.
`appliance db upgrade` then binds the key pairs of existing cases; each organisation's reader
list is started once by a handler and the compliance lead (README, "Upgrading to 0.3").

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 00:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from appliance.db import GUID, Blob, Digest, UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reader_list_entries",
        sa.Column("tenant_id", GUID, nullable=False),
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("body", Blob, nullable=False),
        sa.Column("signer_kind", sa.String(length=10), nullable=False),
        sa.Column("signer_id", GUID, nullable=False),
        sa.Column("signature", Blob, nullable=False),
        sa.Column("mac", Digest, nullable=False),
        sa.Column("witness_user_id", GUID, nullable=True),
        sa.Column("change_id", GUID, nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_reader_list_entries_tenant_id_tenants")),
        sa.ForeignKeyConstraint(["witness_user_id"], ["users.id"],
                                name=op.f("fk_reader_list_entries_witness_user_id_users")),
        sa.PrimaryKeyConstraint("tenant_id", "seq", name=op.f("pk_reader_list_entries")),
    )
    op.create_table(
        "reader_changes",
        sa.Column("id", GUID, nullable=False),
        sa.Column("tenant_id", GUID, nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("user_id", GUID, nullable=True),
        sa.Column("escrow_key_id", GUID, nullable=True),
        sa.Column("receives", sa.Boolean(), nullable=True),
        sa.Column("box_key", Blob, nullable=True),
        sa.Column("sign_key", Blob, nullable=True),
        sa.Column("key_signature", Blob, nullable=True),
        sa.Column("start_body", Blob, nullable=True),
        sa.Column("start_signature", Blob, nullable=True),
        sa.Column("proposed_by", GUID, nullable=True),
        sa.Column("proposed_via", sa.String(length=10), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("decided_by", GUID, nullable=True),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.Column("seq", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_reader_changes_tenant_id_tenants")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_reader_changes_user_id_users")),
        sa.ForeignKeyConstraint(["escrow_key_id"], ["escrow_keys.id"],
                                name=op.f("fk_reader_changes_escrow_key_id_escrow_keys")),
        sa.ForeignKeyConstraint(["proposed_by"], ["users.id"], name=op.f("fk_reader_changes_proposed_by_users")),
        sa.ForeignKeyConstraint(["decided_by"], ["users.id"], name=op.f("fk_reader_changes_decided_by_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reader_changes")),
    )
    op.create_index("ix_reader_changes_tenant_state", "reader_changes", ["tenant_id", "state"], unique=False)
    op.create_table(
        "reader_notices",
        sa.Column("id", GUID, nullable=False),
        sa.Column("tenant_id", GUID, nullable=False),
        sa.Column("change_id", GUID, nullable=False),
        sa.Column("event", sa.String(length=12), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_reader_notices_tenant_id_tenants")),
        sa.ForeignKeyConstraint(["change_id"], ["reader_changes.id"],
                                name=op.f("fk_reader_notices_change_id_reader_changes")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reader_notices")),
    )
    op.create_index(op.f("ix_reader_notices_tenant_id"), "reader_notices", ["tenant_id"], unique=False)
    # Plain ADD COLUMN on every backend (SQLite too: a batch rebuild of these tables would drop
    # and recreate rows that other tables' foreign keys point at, on an installation with data).
    op.add_column("users", sa.Column("sign_key", Blob, nullable=True))
    op.add_column("users", sa.Column("key_signature", Blob, nullable=True))
    op.add_column("users", sa.Column("key_mac", Digest, nullable=True))
    op.add_column("users", sa.Column("must_change_password", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("escrow_keys", sa.Column("origin", sa.String(length=10), nullable=False, server_default="server"))
    op.add_column("escrow_keys", sa.Column("sign_key", Blob, nullable=True))
    op.add_column("escrow_keys", sa.Column("self_signature", Blob, nullable=True))
    op.add_column("escrow_keys", sa.Column("mac", Digest, nullable=True))
    op.add_column("cases", sa.Column("keys_mac", Digest, nullable=True))
    op.add_column("cases", sa.Column("reporter_key_mac", Digest, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_column("reporter_key_mac")
        batch_op.drop_column("keys_mac")
    with op.batch_alter_table("escrow_keys", schema=None) as batch_op:
        batch_op.drop_column("mac")
        batch_op.drop_column("self_signature")
        batch_op.drop_column("sign_key")
        batch_op.drop_column("origin")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("must_change_password")
        batch_op.drop_column("key_mac")
        batch_op.drop_column("key_signature")
        batch_op.drop_column("sign_key")
    op.drop_index(op.f("ix_reader_notices_tenant_id"), table_name="reader_notices")
    op.drop_table("reader_notices")
    op.drop_index("ix_reader_changes_tenant_state", table_name="reader_changes")
    op.drop_table("reader_changes")
    op.drop_table("reader_list_entries")
