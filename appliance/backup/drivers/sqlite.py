"""SQLite/SQLCipher: consistent online snapshots through the SQLite backup API.

The copy is written by SQLCipher under the same key, so it stays encrypted on disk. SQLite
has no log backups: a "log" backup is one more snapshot (standalone), taken every 30
minutes, which keeps the recovery point within 30 minutes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from appliance.backup.drivers.base import Captured, ChainDirs, Progress, RestoreRequest
from appliance.backup.fingerprint import fingerprint
from appliance.backup.manifest import Manifest
from appliance.context import sqlcipher_key
from appliance.crypto.keys import MasterKey
from appliance.db import create_engine
from appliance.errors import BackupError
from appliance.settings import Settings

SNAPSHOT = "appliance.db"


class SqliteDriver:
    backend = "sqlite+pysqlcipher"

    def __init__(self, settings: Settings, master: MasterKey) -> None:
        self._settings = settings
        self._key = sqlcipher_key(master)

    @property
    def path(self) -> Path:
        return Path(self._settings.database_url.removeprefix("sqlite+pysqlcipher:///"))

    def database_label(self) -> str:
        return str(self.path)

    def _connect(self, path: Path) -> Any:
        import sqlcipher3.dbapi2 as sqlcipher

        connection = sqlcipher.connect(str(path), isolation_level=None)
        connection.execute("PRAGMA cipher_log_level = NONE")
        connection.execute(f"PRAGMA key = \"x'{self._key.hex()}'\"")
        connection.execute("PRAGMA busy_timeout = 15000")
        return connection

    def _snapshot(self, target: Path) -> None:
        if not self.path.exists():
            raise BackupError(f"embedded database {self.path} not found")
        source, copy = self._connect(self.path), self._connect(target)
        try:
            # One step: the whole copy under one read transaction, so writers that commit
            # meanwhile (WAL mode lets them) cannot make it restart or tear.
            source.backup(copy, pages=-1)
            copy.execute("PRAGMA journal_mode = DELETE")  # a single self-contained file
        finally:
            copy.close()
            source.close()

    def engine_for(self, path: Path) -> sa.Engine:
        return create_engine(dataclasses.replace(self._settings, database_url=f"sqlite+pysqlcipher:///{path}"),
                             self._key)

    def _capture(self, work: Path, progress: Progress, note: str | None) -> Captured:
        progress(f"snapshot of {self.path}")
        target = work / SNAPSHOT
        self._snapshot(target)
        progress("row counts and checksums of the snapshot")
        engine = self.engine_for(target)
        try:
            with engine.connect() as connection:
                tables = fingerprint(connection)
        finally:
            engine.dispose()
        with contextlib.suppress(FileNotFoundError):  # reading in WAL mode may leave these behind
            os.unlink(f"{target}-wal")
            os.unlink(f"{target}-shm")
        return Captured(tables=tables, standalone=True, note=note)

    def full(self, work: Path, progress: Progress) -> Captured:
        return self._capture(work, progress, None)

    def log(self, work: Path, previous: Manifest, progress: Progress) -> Captured:
        return self._capture(work, progress, "snapshot (SQLite keeps no transaction log)")

    def restore(self, chain: ChainDirs, request: RestoreRequest, progress: Progress) -> list[str]:
        manifest, directory = chain[-1]
        source = directory / SNAPSHOT
        if request.into:
            target = Path(request.into)
            if target.exists():
                raise BackupError(f"{target} exists; restore into a new file or over the current database with --force")
        else:
            if not request.force:
                raise BackupError("restoring over the current database needs --force (stop the app first)")
            target = self.path
        steps = []
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(target.name + ".restoring")
        progress(f"copying {manifest.id} to {temporary}")
        shutil.copyfile(source, temporary)
        with temporary.open("rb") as handle:
            os.fsync(handle.fileno())
        steps.append(f"copied snapshot {manifest.id} ({manifest.finished_at.isoformat()})")
        if target.exists():
            aside = target.with_name(f"{target.name}.before-restore-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}")
            os.replace(target, aside)
            steps.append(f"moved the current database aside to {aside}")
        for suffix in ("-wal", "-shm"):  # a stale log of the old file must never be applied to the new one
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{target}{suffix}")
        os.replace(temporary, target)
        steps.append(f"restored into {target}")
        return steps

    def after_prune(self, kept: list[Manifest]) -> list[str]:
        return []

    @contextlib.contextmanager
    def scratch(self, chain: ChainDirs, workdir: Path, progress: Progress) -> Iterator[sa.Engine]:
        target = workdir / "scratch.db"
        self.restore(chain, RestoreRequest(str(target), False, None), progress)
        engine = self.engine_for(target)
        try:
            yield engine
        finally:
            engine.dispose()
