"""identity disclosures on a legal ground: was the reporter informed (Directive Art. 16(3))

Expand-only: two nullable columns on ``identity_disclosures``. ``reporter_notice`` says whether
the reporter was informed before a disclosure on a legal ground (``informed``: the explanation
went to them as a message on the case thread) or not (``withheld``: informing them would have
jeopardised the investigation or the judicial proceedings). ``withheld_reason_sealed`` holds
that reason, sealed under the case's content key. Rows written before this revision keep NULL
in both (nothing was asked then); disclosures on consent keep NULL too.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-06 05:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from appliance.db import Blob

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("identity_disclosures", sa.Column("reporter_notice", sa.String(10), nullable=True))
    op.add_column("identity_disclosures", sa.Column("withheld_reason_sealed", Blob, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("identity_disclosures", schema=None) as batch_op:
        batch_op.drop_column("withheld_reason_sealed")
        batch_op.drop_column("reporter_notice")
