"""The PDMR register, the financial calendar and the closed-period notices sent.

A register row holds no name or address: those are on the person chain, sealed under the
person's key; what the row adds (position, or relationship to the PDMR) is sealed under the
same key.
"""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from appliance.crypto.fields import EncryptedBytes, Sealed
from appliance.db import GUID, Base, UTCDateTime, new_id


class PdmrEntry(Base):
    __tablename__ = "pdmr_entries"

    id: Mapped[uuid.UUID] = mapped_column(GUID, primary_key=True, default=new_id)
    tenant_id: Mapped[uuid.UUID] = mapped_column(GUID, sa.ForeignKey("tenants.id"), index=True)
    person_id: Mapped[uuid.UUID] = mapped_column(GUID, sa.ForeignKey("persons.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(12))  # pdmr | associate
    associate_of: Mapped[uuid.UUID | None] = mapped_column(GUID, sa.ForeignKey("pdmr_entries.id"))
    details_sealed: Mapped[Sealed | None] = mapped_column(EncryptedBytes)  # position / relationship
    added_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    added_by: Mapped[str] = mapped_column(sa.String(64))
    removed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    notified_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # Art. 19(5) notification
    acknowledgement_id: Mapped[uuid.UUID | None] = mapped_column(GUID)


class FinancialReport(Base):
    """An announced interim or year-end report: its day starts no clock of its own, the closed
    period before it is computed (appliance/pdmr/closed_periods.py)."""

    __tablename__ = "financial_reports"

    id: Mapped[uuid.UUID] = mapped_column(GUID, primary_key=True, default=new_id)
    tenant_id: Mapped[uuid.UUID] = mapped_column(GUID, sa.ForeignKey("tenants.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(10))  # interim | year-end
    announce_on: Mapped[dt.date] = mapped_column(sa.Date)
    label: Mapped[str] = mapped_column(sa.Unicode(80))  # e.g. "Q1 2027" (published by the issuer anyway)
    added_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    added_by: Mapped[str] = mapped_column(sa.String(64))
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class ClosedPeriodNotice(Base):
    """One notice mailed to one PDMR before one closed period: sent once, whatever the job's runs."""

    __tablename__ = "closed_period_notices"

    report_id: Mapped[uuid.UUID] = mapped_column(GUID, sa.ForeignKey("financial_reports.id"), primary_key=True)
    entry_id: Mapped[uuid.UUID] = mapped_column(GUID, sa.ForeignKey("pdmr_entries.id"), primary_key=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(GUID, sa.ForeignKey("tenants.id"))
    sent_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
