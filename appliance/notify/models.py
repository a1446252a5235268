"""Which deadline reminders went out, so each is sent once per stage (due soon, overdue), and
which operational problems were mailed, so each is mailed once a day and once when it ends."""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from appliance.db import GUID, Base, UTCDateTime


class ReminderSent(Base):
    __tablename__ = "deadline_reminders"

    # No foreign key: deleting a case (retention, erasure) must not have to know about reminders.
    case_id: Mapped[uuid.UUID] = mapped_column(GUID, primary_key=True)
    deadline: Mapped[str] = mapped_column(sa.String(12), primary_key=True)  # acknowledge | feedback
    stage: Mapped[str] = mapped_column(sa.String(8), primary_key=True)  # soon | overdue
    sent_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class OperationalAlert(Base):
    """One problem of the installation that operators were mailed about (a failed backup, a
    failing site, a broken logbook): at most one mail a day while it lasts, one when it ends.
    Installation-wide, like the backups and job runs it watches; it names a job or a site,
    never a tenant's data."""

    __tablename__ = "operational_alerts"

    problem: Mapped[str] = mapped_column(sa.String(80), primary_key=True)  # job:backup-log | site:offsite
    failing: Mapped[bool] = mapped_column(sa.Boolean)
    since: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    alerted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
