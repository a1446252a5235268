"""insider lists: the company, function and reason of an entry can be deleted with its personal data

``insider_versions.content_digest`` (new, nullable) keeps the SHA-256 of ``content_sealed`` once
the retention run deletes that ciphertext, five years after the person ceased (MAR Art. 18(5)), and
``content_sealed`` becomes nullable. The chain's MAC always signed that digest, never the ciphertext
itself, so the MAC format is unchanged and existing chains verify as before: no row is rewritten.

Expand-only on PostgreSQL and SQL Server (a column added, a NOT NULL dropped); SQLite rebuilds the
table in batch mode.

Revision ID: 0022
Revises: 0018
Create Date: 2026-12-06 04:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from appliance.db import Blob, Digest

revision = "0022"
down_revision = "0018"
branch_labels = None
depends_on = None


def _sqlite_rebuild() -> bool:
    """SQLite changes a column's nullability by rebuilding the table, which needs it reflected: online
    only (rendering SQL offline is a schema check, and the embedded database is always migrated online)."""
    context = op.get_context()
    if context.dialect.name == "sqlite" and not context.as_sql:
        op.execute("PRAGMA defer_foreign_keys = ON")  # checked at commit, when the rebuilt table is back
    return not (context.as_sql and context.dialect.name == "sqlite")


def upgrade() -> None:
    rebuild = _sqlite_rebuild()
    with op.batch_alter_table("insider_versions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("content_digest", Digest, nullable=True))
        if rebuild:
            batch_op.alter_column("content_sealed", existing_type=Blob, nullable=True)


def downgrade() -> None:
    # Rows whose content was deleted cannot get it back: downgrading is refused while any exists.
    bind = op.get_bind()
    erased = bind.execute(sa.text("SELECT COUNT(*) FROM insider_versions WHERE content_sealed IS NULL")).scalar_one()
    if erased:
        raise RuntimeError(f"{erased} insider versions had their content deleted by retention; cannot downgrade")
    rebuild = _sqlite_rebuild()
    with op.batch_alter_table("insider_versions", schema=None) as batch_op:
        if rebuild:
            batch_op.alter_column("content_sealed", existing_type=Blob, nullable=False)
        batch_op.drop_column("content_digest")
