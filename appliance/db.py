"""Engines per backend, the declarative Base and portable column types.

The schema must compile cleanly for SQLite (SQLCipher), PostgreSQL and SQL Server: no
TEXT/NTEXT/IMAGE on SQL Server, no UNIQUE constraint over a nullable column.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import mssql
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from appliance.errors import DatabaseUnavailable
from appliance.settings import Settings

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING)


# Portable types. SQL Server gets the (MAX) types explicitly.
Blob = sa.LargeBinary().with_variant(mssql.VARBINARY("max"), "mssql")  # type: ignore[no-untyped-call]
LongText = sa.UnicodeText().with_variant(mssql.NVARCHAR("max"), "mssql")  # type: ignore[arg-type]
GUID = sa.Uuid(as_uuid=True)
# HMAC/SHA-256 digests. Explicit for SQL Server: a dialect that has not connected yet
# (offline DDL, alembic --sql) renders plain LargeBinary as IMAGE, which cannot be a key.
Digest = sa.LargeBinary(32).with_variant(sa.VARBINARY(32), "mssql")


class UTCDateTime(sa.TypeDecorator[dt.datetime]):
    """Timestamps stored as naive UTC, returned timezone-aware (UTC) on every backend."""

    impl = sa.DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: sa.Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "mssql":
            return dialect.type_descriptor(mssql.DATETIME2(precision=6))  # type: ignore[no-untyped-call]
        return dialect.type_descriptor(sa.DateTime(timezone=False))

    def process_bind_param(self, value: dt.datetime | None, dialect: sa.Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; the appliance stores only aware UTC times")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: dt.datetime | None, dialect: sa.Dialect) -> dt.datetime | None:
        return None if value is None else value.replace(tzinfo=dt.UTC)


def new_id() -> uuid.UUID:
    """Random (version 4) ids: never sequential, never guessable."""
    return uuid.uuid4()


def create_engine(settings: Settings, sqlcipher_key: bytes | None = None) -> Engine:
    """An engine for the configured backend. SQLite needs the SQLCipher key."""
    if settings.is_embedded:
        if sqlcipher_key is None:
            raise DatabaseUnavailable("the embedded database needs the master key")
        return _sqlcipher_engine(settings.database_url.removeprefix("sqlite+pysqlcipher:///"), sqlcipher_key)
    if settings.backend == "mssql+pymssql":
        return sa.create_engine(settings.database_url, pool_pre_ping=True, deprecate_large_types=True)
    return sa.create_engine(settings.database_url, pool_pre_ping=True)


def create_engine_for_url(url: str, sqlcipher_key: bytes) -> Engine:
    """An engine for a second database (the person key vault) of any supported backend."""
    if url.startswith("sqlite+pysqlcipher:///"):
        return _sqlcipher_engine(url.removeprefix("sqlite+pysqlcipher:///"), sqlcipher_key)
    if url.startswith("mssql+pymssql"):
        return sa.create_engine(url, pool_pre_ping=True, deprecate_large_types=True)
    return sa.create_engine(url, pool_pre_ping=True)


def _sqlcipher_engine(path: str, key: bytes) -> Engine:
    import sqlcipher3.dbapi2 as sqlcipher  # the wheel bundles SQLCipher itself

    # The stock pysqlcipher dialect only takes a passphrase (slow PBKDF2 on every connect)
    # and cannot silence SQLCipher's own stderr logging; the pysqlite dialect driven by the
    # sqlcipher3 module with our own connect hook does both.
    engine = sa.create_engine(f"sqlite:///{path}", module=sqlcipher)
    raw_key = key.hex()

    @event.listens_for(engine, "connect")
    def _unlock(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA cipher_log_level = NONE")
        cursor.execute(f"PRAGMA key = \"x'{raw_key}'\"")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA busy_timeout = 15000")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.close()

    # Take the write lock at BEGIN: SQLite cannot upgrade a read transaction to a write
    # one safely under concurrent gunicorn workers. A session of read_only_engine() reads in
    # a deferred transaction under `PRAGMA query_only` instead: it neither takes nor waits for
    # the write lock (WAL readers see the last commit), and any write in it fails at once.
    @event.listens_for(engine, "begin")
    def _begin(connection: sa.Connection) -> None:
        if connection.get_execution_options().get(_READ_ONLY, False):
            info = connection.connection.info
            if not info.get(_QUERY_ONLY):
                connection.exec_driver_sql("PRAGMA query_only = 1")
                info[_QUERY_ONLY] = True
            connection.exec_driver_sql("BEGIN")
        else:
            _writable(connection.connection)
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    @event.listens_for(engine, "checkin")
    def _checkin(dbapi_connection: Any, record: Any) -> None:
        _writable(record)  # back in the pool, every connection may write again (raw uses too)

    return engine


_READ_ONLY = "appliance_read_only"
_QUERY_ONLY = "appliance_query_only"


def _writable(connection: Any) -> None:
    """Lift `PRAGMA query_only` from a pooled connection that a read-only session used."""
    if connection.info.pop(_QUERY_ONLY, False) and connection.dbapi_connection is not None:
        cursor = connection.dbapi_connection.cursor()
        cursor.execute("PRAGMA query_only = 0")
        cursor.close()


def read_only_engine(engine: Engine) -> Engine:
    """The same engine and pool, for transactions that only read: on SQLite a deferred
    transaction under `PRAGMA query_only` (no write lock taken or waited for), on PostgreSQL
    `BEGIN READ ONLY`. A write in such a transaction raises. SQL Server has no read-only
    transaction: its sessions are the engine's own."""
    if engine.dialect.name == "sqlite":
        return engine.execution_options(**{_READ_ONLY: True})
    if engine.dialect.name == "postgresql":
        return engine.execution_options(postgresql_readonly=True)
    return engine


def rekey_sqlcipher(path: str, old_key: bytes, new_key: bytes) -> None:
    """Re-encrypt the embedded database under ``new_key``. SQLCipher rewrites every page in one
    write transaction, so a crash leaves the file wholly under the old key or wholly under the
    new one. Nothing else may have the file open (the appliance is stopped for this)."""
    import sqlcipher3.dbapi2 as sqlcipher

    connection = sqlcipher.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA cipher_log_level = NONE")
        connection.execute(f"PRAGMA key = \"x'{old_key.hex()}'\"")
        connection.execute("PRAGMA busy_timeout = 15000")
        connection.execute("SELECT count(*) FROM sqlite_master").fetchone()  # the old key opens it
        connection.execute(f"PRAGMA rekey = \"x'{new_key.hex()}'\"").fetchall()
        # Fold the rewritten pages into the main file, so it no longer depends on the log.
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    finally:
        connection.close()


def check_database(engine: Engine) -> None:
    """Open one connection and read the catalog; one clear error when that fails."""
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1")).scalar_one()
            if engine.dialect.name == "sqlite":
                connection.exec_driver_sql("SELECT count(*) FROM sqlite_master").scalar_one()
    except sa.exc.DatabaseError as exc:
        text = str(exc.orig) if exc.orig is not None else str(exc)
        if "file is not a database" in text:
            raise DatabaseUnavailable(
                "cannot open the embedded database: wrong master key, or not an appliance database"
            ) from None
        raise DatabaseUnavailable(_first_line(text)) from None


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "unknown error"


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)
