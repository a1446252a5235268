"""Retention policies per tenant and legal holds that block every deletion they cover."""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from appliance.db import GUID, Base, UTCDateTime, new_id

DEFAULT_CLOSED_CASE_DAYS = 730
DEFAULT_UNACKNOWLEDGED_CASE_DAYS = 365


class RetentionPolicy(Base):
    """How long a tenant keeps cases. A tenant without a row uses the defaults."""

    __tablename__ = "retention_policies"

    tenant_id: Mapped[uuid.UUID] = mapped_column(GUID, sa.ForeignKey("tenants.id"), primary_key=True)
    closed_case_days: Mapped[int] = mapped_column(sa.Integer)
    # Cases nobody ever acknowledged (spam, tests) go this long after receipt; NULL: kept
    # until closed like any other case.
    unacknowledged_case_days: Mapped[int | None] = mapped_column(sa.Integer)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class LegalHold(Base):
    """Blocks deletion of one case (``case_id``) or of the whole tenant (``case_id`` NULL)
    until released. ``reference`` names the matter (e.g. a court file number), never a person."""

    __tablename__ = "legal_holds"

    id: Mapped[uuid.UUID] = mapped_column(GUID, primary_key=True, default=new_id)
    tenant_id: Mapped[uuid.UUID] = mapped_column(GUID, sa.ForeignKey("tenants.id"), index=True)
    case_id: Mapped[uuid.UUID | None] = mapped_column(GUID, sa.ForeignKey("cases.id"), index=True)
    reference: Mapped[str] = mapped_column(sa.Unicode(80))
    placed_by: Mapped[str] = mapped_column(sa.String(64))  # actor audit id
    placed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    released_by: Mapped[str | None] = mapped_column(sa.String(64))
    released_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
