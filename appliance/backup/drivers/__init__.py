"""One driver per database backend; the engine (appliance.backup.service) drives them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from appliance.backup.drivers.base import Captured, Driver, Progress, RestoreRequest

if TYPE_CHECKING:
    import sqlalchemy as sa

    from appliance.crypto.keys import MasterKey
    from appliance.settings import Settings

__all__ = ["Captured", "Driver", "Progress", "RestoreRequest", "driver_for"]


def driver_for(settings: Settings, master: MasterKey, schema: sa.MetaData) -> Driver:
    """The driver for the configured backend; ``schema`` holds every table to fingerprint."""
    if settings.is_embedded:
        from appliance.backup.drivers.sqlite import SqliteDriver

        return SqliteDriver(settings, master, schema)
    if settings.backend.startswith("postgresql"):
        from appliance.backup.drivers.postgres import PostgresDriver

        return PostgresDriver(settings, master, schema)
    from appliance.backup.drivers.mssql import MssqlDriver

    return MssqlDriver(settings, master, schema)
