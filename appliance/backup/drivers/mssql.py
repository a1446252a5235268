"""SQL Server: native encrypted backups in T-SQL through pymssql (autocommit).

``BACKUP DATABASE``/``BACKUP LOG`` with compression, checksums and AES-256 encryption under a
server certificate, checked with ``RESTORE VERIFYONLY``; restore replays the chain with
``NORECOVERY`` and finishes with ``STOPAT``/``RECOVERY``. The server writes the files itself:
MSSQL_BACKUP_DIR is BACKUP_DIR as the SQL Server host sees it (a shared mount).

The statements are built by pure functions so they can be checked without a server.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

import sqlalchemy as sa

from appliance.backup.drivers.base import Captured, ChainDirs, Progress, RestoreRequest
from appliance.backup.fingerprint import fingerprint
from appliance.backup.manifest import Manifest
from appliance.crypto.keys import MasterKey
from appliance.errors import BackupChainGap, BackupError
from appliance.settings import Settings

BACKUP_FILE = "database.bak"


def quote_name(name: str) -> str:
    return "[" + name.replace("]", "]]") + "]"


def quote_string(value: str) -> str:
    return "N'" + value.replace("'", "''") + "'"


def backup_database(database: str, path: str, certificate: str, name: str) -> str:
    return (f"BACKUP DATABASE {quote_name(database)} TO DISK = {quote_string(path)} "
            f"WITH FORMAT, INIT, NAME = {quote_string(name)}, COMPRESSION, CHECKSUM, "
            f"ENCRYPTION (ALGORITHM = AES_256, SERVER CERTIFICATE = {quote_name(certificate)})")


def backup_log(database: str, path: str, certificate: str, name: str) -> str:
    return (f"BACKUP LOG {quote_name(database)} TO DISK = {quote_string(path)} "
            f"WITH FORMAT, INIT, NAME = {quote_string(name)}, COMPRESSION, CHECKSUM, "
            f"ENCRYPTION (ALGORITHM = AES_256, SERVER CERTIFICATE = {quote_name(certificate)})")


def verify_only(path: str) -> str:
    return f"RESTORE VERIFYONLY FROM DISK = {quote_string(path)} WITH CHECKSUM"


def file_list(path: str) -> str:
    return f"RESTORE FILELISTONLY FROM DISK = {quote_string(path)}"


BACKUPSET_QUERY = (
    "SELECT TOP (1) bs.first_lsn, bs.last_lsn, bs.database_backup_lsn, bs.backup_finish_date "
    "FROM msdb.dbo.backupset AS bs JOIN msdb.dbo.backupmediafamily AS mf ON mf.media_set_id = bs.media_set_id "
    "WHERE bs.database_name = %s AND mf.physical_device_name = %s ORDER BY bs.backup_set_id DESC")


def stopat_literal(at: dt.datetime) -> str:
    """STOPAT takes the server's local time; the appliance's SQL Server hosts run in UTC."""
    return "'" + at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "'"


def restore_statements(target: str, paths: Sequence[str], moves: dict[str, str], at: dt.datetime | None,
                       replace: bool) -> list[str]:
    """The full backup WITH NORECOVERY, each log WITH NORECOVERY, the last WITH [STOPAT,] RECOVERY."""
    if not paths:
        raise BackupError("nothing to restore")
    options = ["CHECKSUM", "NORECOVERY"] + [f"MOVE {quote_string(k)} TO {quote_string(v)}" for k, v in moves.items()]
    if replace:
        options.append("REPLACE")
    statements = [f"RESTORE DATABASE {quote_name(target)} FROM DISK = {quote_string(paths[0])} WITH {', '.join(options)}"]
    for path in paths[1:]:
        clause = ["CHECKSUM", "NORECOVERY"]
        if at is not None:
            clause.append(f"STOPAT = {stopat_literal(at)}")
        statements.append(f"RESTORE LOG {quote_name(target)} FROM DISK = {quote_string(path)} WITH {', '.join(clause)}")
    statements.append(f"RESTORE DATABASE {quote_name(target)} WITH RECOVERY")
    return statements


def check_log_chain(chain: Sequence[Manifest]) -> None:
    """Each log backup must start where the previous one ended (LSNs from msdb.dbo.backupset)."""
    for previous, current in itertools.pairwise(chain):
        if current.kind != "log":
            continue
        if previous.log_end is None or current.log_start is None or \
                int(current.log_start) > int(previous.log_end):
            raise BackupChainGap(f"log after {previous.id} (LSN {previous.log_end})", current.id)


class MssqlDriver:
    backend = "mssql+pymssql"

    def __init__(self, settings: Settings, master: MasterKey, schema: sa.MetaData) -> None:
        self._settings = settings
        self.schema = schema
        self._url = sa.make_url(settings.database_url)

    @property
    def database(self) -> str:
        return str(self._url.database)

    def database_label(self) -> str:
        return f"{self._url.host}:{self._url.port or 1433}/{self._url.database}"

    def _server_path(self, local: Path) -> str:
        if not self._settings.mssql_backup_dir or not self._settings.mssql_backup_certificate:
            raise BackupError("settings MSSQL_BACKUP_DIR and MSSQL_BACKUP_CERTIFICATE are required for SQL Server")
        relative = local.relative_to(self._settings.backup_root)
        return str(PurePosixPath(self._settings.mssql_backup_dir) / relative.as_posix())

    @contextlib.contextmanager
    def _connect(self) -> Iterator[Any]:
        import pymssql

        url = self._url
        connection = pymssql.connect(server=url.host or "localhost", port=str(url.port or 1433), user=url.username or "",
                                     password=url.password or "", database="master", autocommit=True)
        try:
            yield connection
        finally:
            connection.close()

    def _execute(self, statements: Sequence[str], progress: Progress) -> None:
        with self._connect() as connection:
            cursor = connection.cursor()
            for statement in statements:
                progress(statement.split(" FROM ")[0].split(" TO ")[0])
                cursor.execute(statement)
                while cursor.nextset():  # BACKUP/RESTORE report progress as result sets
                    pass

    def _take(self, kind: str, work: Path, progress: Progress) -> Captured:
        path = self._server_path(work / BACKUP_FILE)
        name = work.name.strip(".").removesuffix(".partial")
        make = backup_database if kind == "full" else backup_log
        engine = sa.create_engine(self._settings.database_url, poolclass=sa.pool.NullPool)
        try:
            with engine.connect() as connection:
                tables = fingerprint(connection, self.schema)
        finally:
            engine.dispose()
        self._execute([make(self.database, path, self._settings.mssql_backup_certificate, name), verify_only(path)],
                      progress)
        with self._connect() as connection:
            cursor = connection.cursor()
            cursor.execute(BACKUPSET_QUERY, (self.database, path))
            row = cursor.fetchone()
        if row is None:
            raise BackupError(f"msdb.dbo.backupset has no record of {path}")
        first, last, base, finished = row
        return Captured(tables=tables, log_start=str(first), log_end=str(last),
                        extra={"database_backup_lsn": str(base), "server_finished": str(finished)})

    def full(self, work: Path, progress: Progress) -> Captured:
        return self._take("full", work, progress)

    def log(self, work: Path, previous: Manifest, progress: Progress) -> Captured:
        return self._take("log", work, progress)

    def _moves(self, path: str, target: str) -> dict[str, str]:
        with self._connect() as connection:
            cursor = connection.cursor(as_dict=True)
            cursor.execute(file_list(path))
            rows = cursor.fetchall()
        moves = {}
        for row in rows:
            physical = PurePosixPath(str(row["PhysicalName"]).replace("\\", "/"))
            moves[str(row["LogicalName"])] = str(physical.with_name(f"{target}_{physical.name}"))
        return moves

    def restore(self, chain: ChainDirs, request: RestoreRequest, progress: Progress) -> list[str]:
        check_log_chain([m for m, _ in chain])
        paths = [self._server_path(directory / BACKUP_FILE) for _, directory in chain]
        if request.into:
            target, replace = request.into, False
            moves = self._moves(paths[0], target)
        elif request.force:
            target, replace, moves = self.database, True, {}
        else:
            raise BackupError("restoring over the current database needs --force (stop the app first)")
        statements = restore_statements(target, paths, moves, request.at, replace)
        self._execute(statements, progress)
        return [f"SQL Server: {statement.split(' WITH ')[0]}" for statement in statements]

    def after_prune(self, kept: list[Manifest]) -> list[str]:
        return []  # SQL Server keeps no archive of its own outside the backup files

    @contextlib.contextmanager
    def scratch(self, chain: ChainDirs, workdir: Path, progress: Progress) -> Iterator[sa.Engine]:
        name = f"appliance_verify_{uuid.uuid4().hex[:10]}"
        self.restore(chain, RestoreRequest(name, False, None), progress)
        engine = sa.create_engine(self._url.set(database=name), poolclass=sa.pool.NullPool)
        try:
            yield engine
        finally:
            engine.dispose()
            self._execute([f"DROP DATABASE {quote_name(name)}"], progress)
