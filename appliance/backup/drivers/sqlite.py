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
from appliance.backup.manifest import Hashed, Manifest, copy_hashing
from appliance.crypto.keys import MasterKey, sqlcipher_key
from appliance.db import create_engine
from appliance.errors import BackupError
from appliance.settings import Settings

SNAPSHOT = "appliance.db"
CHECKPOINT_WAIT_MS = 2000  # how long the checkpoint before a snapshot waits for writers (then: copy the log too)
BLOB_LENGTH = "blob-length"


class SqliteDriver:
    backend = "sqlite+pysqlcipher"

    def __init__(self, settings: Settings, master: MasterKey, schema: sa.MetaData) -> None:
        self._settings = settings
        self.schema = schema
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

    def _snapshot(self, target: Path) -> Hashed | None:
        """Copy the encrypted file as it is (no decryption) under a read transaction; when the
        write-ahead log held anything then, fold the copied log into the copy. The file's
        sha256 is taken while it is copied; None when the copy changed afterwards (the log was
        folded in) and must be hashed again.

        Why this is consistent: a reader's snapshot pins the log (SQLite neither restarts the
        WAL nor backfills frames past the oldest reader into the database file), so the copy of
        the file holds no page newer than the copied log, and the copied log replays to its last
        complete commit. A reader that starts on an empty log reads the file alone, and no
        checkpoint writes into the file while it reads: then the copied file is the snapshot.
        Writers go on meanwhile; the backup API would decrypt and re-encrypt every page instead
        (several times slower). The copy stays in WAL mode, as the appliance opens it anyway.
        """
        if not self.path.exists():
            raise BackupError(f"embedded database {self.path} not found")
        source = self._connect(self.path)
        wal = Path(f"{self.path}-wal")
        try:
            # Fold the log into the file first (what SQLite's own checkpoints do every 1000 pages),
            # waiting briefly for writers: then the copy needs no log and is hashed as it is copied.
            source.execute(f"PRAGMA busy_timeout = {CHECKPOINT_WAIT_MS}")
            source.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
            source.execute("PRAGMA busy_timeout = 15000")
            source.execute("BEGIN")
            source.execute("SELECT count(*) FROM sqlite_master").fetchone()  # takes the read lock
            log_empty = not wal.exists() or wal.stat().st_size == 0
            hashed = copy_hashing(self.path, target)
            if not log_empty:
                shutil.copyfile(wal, f"{target}-wal")
            source.execute("COMMIT")
        finally:
            source.close()
        if log_empty:
            return hashed
        copy = self._connect(target)
        try:
            copy.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        finally:
            copy.close()
        for suffix in ("-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{target}{suffix}")
        return None

    def engine_for(self, path: Path) -> sa.Engine:
        return create_engine(dataclasses.replace(self._settings, database_url=f"sqlite+pysqlcipher:///{path}"),
                             self._key)

    def _capture(self, work: Path, progress: Progress, note: str | None) -> Captured:
        progress(f"snapshot of {self.path}")
        target = work / SNAPSHOT
        hashed = self._snapshot(target)
        progress("row counts and checksums of the snapshot")
        engine = self.engine_for(target)
        try:
            with engine.connect() as connection:
                # The file's sha256 covers every byte; blob bytes add only their length here.
                tables = fingerprint(connection, self.schema, blob_bytes=False)
        finally:
            engine.dispose()
        with contextlib.suppress(FileNotFoundError):  # reading in WAL mode may leave these behind
            os.unlink(f"{target}-wal")
            os.unlink(f"{target}-shm")
        return Captured(tables=tables, standalone=True, note=note, extra={"fingerprint": BLOB_LENGTH},
                        hashed={SNAPSHOT: hashed} if hashed is not None else {})

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
        checker = self._connect(target)
        try:  # the deep structural check lives here (weekly verify), not in every backup
            result = checker.execute("PRAGMA integrity_check").fetchone()[0]
        finally:
            checker.close()
        if result != "ok":
            raise BackupError(f"restored snapshot fails SQLite's integrity_check: {result}")
        engine = self.engine_for(target)
        try:
            yield engine
        finally:
            engine.dispose()
