"""Which deadline reminders went out, so each is sent once per stage (due soon, overdue)."""

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
