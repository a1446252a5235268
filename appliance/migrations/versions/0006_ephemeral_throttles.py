"""ephemeral throttles: no row keyed by a client address stays in the database

Throttles keyed by a client (staff sign-in per client, case-key entry per reporter client)
moved to the host's ephemeral store (appliance/ephemeral), which no backup holds. Their old
rows here are HMACs of "date|address" under the blind-index key: with the master key the
address space can be searched for them. A row's key does not say what it counts, so every
row goes; what is lost is at most a day of account failure counts, which start again.
No schema change (the table keeps the per-account counts); the data step is not undone.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 22:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DELETE FROM throttles")


def downgrade() -> None:
    pass  # the deleted rows were only failure counts; nothing to restore
