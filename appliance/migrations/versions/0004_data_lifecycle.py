"""data lifecycle: person chain, retention policies and legal holds, logbook checkpoints,
installation keys, preserved secrets and key rotations

Expand-only: new tables and one nullable column (users.person_id).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 05:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from appliance.db import GUID, Blob, Digest, UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _offline_sqlite() -> bool:
    """Offline SQL for SQLite (a schema check only; the embedded database is always migrated
    online) cannot rebuild a table to add a foreign key, so it adds the bare column."""
    return op.get_context().as_sql and op.get_context().dialect.name == "sqlite"


def upgrade() -> None:
    # --- person chain ---
    op.create_table(
        "persons",
        sa.Column("id", GUID, nullable=False),
        sa.Column("tenant_id", GUID, nullable=True),
        sa.Column("key_version", sa.Integer(), nullable=False),
        sa.Column("wrapped_key", Blob, nullable=False),
        sa.Column("name_sealed", Blob, nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_persons_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_persons")),
    )
    op.create_index(op.f("ix_persons_tenant_id"), "persons", ["tenant_id"], unique=False)
    op.create_table(
        "person_identifiers",
        sa.Column("id", GUID, nullable=False),
        sa.Column("person_id", GUID, nullable=False),
        sa.Column("tenant_id", GUID, nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("lookup", Digest, nullable=False),
        sa.Column("value_sealed", Blob, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["persons.id"], name=op.f("fk_person_identifiers_person_id_persons")),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_person_identifiers_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_person_identifiers")),
        sa.UniqueConstraint("lookup", name=op.f("uq_person_identifiers_lookup")),
    )
    op.create_index(op.f("ix_person_identifiers_person_id"), "person_identifiers", ["person_id"], unique=False)
    op.create_table(
        "person_links",
        sa.Column("id", GUID, nullable=False),
        sa.Column("person_id", GUID, nullable=False),
        sa.Column("tenant_id", GUID, nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("object_type", sa.String(length=20), nullable=False),
        sa.Column("object_id", sa.String(length=64), nullable=False),
        sa.Column("detail_sealed", Blob, nullable=True),
        sa.Column("retain_until", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["persons.id"], name=op.f("fk_person_links_person_id_persons")),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_person_links_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_person_links")),
    )
    op.create_index(op.f("ix_person_links_person_id"), "person_links", ["person_id"], unique=False)
    op.create_index("ix_person_links_object", "person_links", ["object_type", "object_id"], unique=False)
    if _offline_sqlite():
        op.add_column("users", sa.Column("person_id", GUID, nullable=True))
    else:
        with op.batch_alter_table("users", schema=None) as batch_op:
            batch_op.add_column(sa.Column("person_id", GUID, nullable=True))
            batch_op.create_foreign_key(batch_op.f("fk_users_person_id_persons"), "persons", ["person_id"], ["id"])

    # --- retention ---
    op.create_table(
        "retention_policies",
        sa.Column("tenant_id", GUID, nullable=False),
        sa.Column("closed_case_days", sa.Integer(), nullable=False),
        sa.Column("unacknowledged_case_days", sa.Integer(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_retention_policies_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_retention_policies")),
    )
    op.create_table(
        "legal_holds",
        sa.Column("id", GUID, nullable=False),
        sa.Column("tenant_id", GUID, nullable=False),
        sa.Column("case_id", GUID, nullable=True),
        sa.Column("reference", sa.Unicode(length=80), nullable=False),
        sa.Column("placed_by", sa.String(length=64), nullable=False),
        sa.Column("placed_at", UTCDateTime(), nullable=False),
        sa.Column("released_by", sa.String(length=64), nullable=True),
        sa.Column("released_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_legal_holds_case_id_cases")),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_legal_holds_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_legal_holds")),
    )
    op.create_index(op.f("ix_legal_holds_case_id"), "legal_holds", ["case_id"], unique=False)
    op.create_index(op.f("ix_legal_holds_tenant_id"), "legal_holds", ["tenant_id"], unique=False)

    # --- logbook checkpoints ---
    op.create_table(
        "audit_checkpoints",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", Digest, nullable=False),
        sa.Column("head_seq", sa.BigInteger(), nullable=False),
        sa.Column("head_hash", Digest, nullable=False),
        sa.Column("pruned_before", UTCDateTime(), nullable=False),
        sa.Column("events_pruned", sa.BigInteger(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("signature", Digest, nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_checkpoints")),
    )

    # --- keys ---
    op.create_table(
        "installation_keys",
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("wrapped_key", Blob, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_installation_keys")),
    )
    op.create_table(
        "preserved_secrets",
        sa.Column("purpose", sa.String(length=80), nullable=False),
        sa.Column("wrapped", Blob, nullable=False),
        sa.Column("master_key_id", sa.String(length=16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("purpose", name=op.f("pk_preserved_secrets")),
    )
    op.create_table(
        "key_rotations",
        sa.Column("id", GUID, nullable=False),
        sa.Column("scope", sa.String(length=48), nullable=False),
        sa.Column("target_version", sa.Integer(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("rows_done", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_key_rotations")),
    )
    op.create_index(op.f("ix_key_rotations_scope"), "key_rotations", ["scope"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_key_rotations_scope"), table_name="key_rotations")
    op.drop_table("key_rotations")
    op.drop_table("preserved_secrets")
    op.drop_table("installation_keys")
    op.drop_table("audit_checkpoints")
    op.drop_index(op.f("ix_legal_holds_tenant_id"), table_name="legal_holds")
    op.drop_index(op.f("ix_legal_holds_case_id"), table_name="legal_holds")
    op.drop_table("legal_holds")
    op.drop_table("retention_policies")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_users_person_id_persons"), type_="foreignkey")
        batch_op.drop_column("person_id")
    op.drop_index("ix_person_links_object", table_name="person_links")
    op.drop_index(op.f("ix_person_links_person_id"), table_name="person_links")
    op.drop_table("person_links")
    op.drop_index(op.f("ix_person_identifiers_person_id"), table_name="person_identifiers")
    op.drop_table("person_identifiers")
    op.drop_index(op.f("ix_persons_tenant_id"), table_name="persons")
    op.drop_table("persons")
