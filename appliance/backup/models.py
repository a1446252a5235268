"""The backup catalog: one row per backup (its manifest), its copies at sites, each site's status.

The manifest file next to each backup is the source of truth (a restored database carries an
older catalog); these rows serve `backup list`, `doctor` and the scheduler.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from appliance.db import Base, UTCDateTime


class BackupRecord(Base):
    __tablename__ = "backups"

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(8))  # full | log
    backend: Mapped[str] = mapped_column(sa.String(24))
    database: Mapped[str] = mapped_column(sa.String(200))
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    size_bytes: Mapped[int] = mapped_column(sa.BigInteger)
    sha256: Mapped[str] = mapped_column(sa.String(64))
    base_id: Mapped[str | None] = mapped_column(sa.String(64))
    parent_id: Mapped[str | None] = mapped_column(sa.String(64))
    log_start: Mapped[str | None] = mapped_column(sa.String(64))
    log_end: Mapped[str | None] = mapped_column(sa.String(64))
    key_id: Mapped[str] = mapped_column(sa.String(32))
    note: Mapped[str | None] = mapped_column(sa.String(200))
    pruned_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class BackupCopy(Base):
    """A backup stored at a site (a restic snapshot there), checked or not."""

    __tablename__ = "backup_copies"

    backup_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    site: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    snapshot_id: Mapped[str] = mapped_column(sa.String(64))
    copied_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class SiteStatus(Base):
    """The last copy and check at each site; a failure stays visible until a copy succeeds."""

    __tablename__ = "backup_sites"

    name: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(8))
    ok: Mapped[bool] = mapped_column(sa.Boolean)
    last_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_success_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_checked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(sa.String(300))
