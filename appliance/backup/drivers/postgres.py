"""PostgreSQL: base backups (pg_basebackup) plus the WAL archive, restorable to a point in time.

The server archives every finished WAL segment into PG_WAL_ARCHIVE_DIR (its
``archive_command``, see the README). A full backup is a compressed base backup plus the
archived segments up to a WAL switch right after it; a log backup closes the current
segment (``pg_switch_wal()``), waits until it is archived and ships the segments since the
previous backup. Restore unpacks the base backup into a new data directory, lets
PostgreSQL replay the shipped segments (``restore_command``) up to the end or to
``recovery_target_time``, and promotes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import pwd
import re
import shutil
import socket
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import sqlalchemy as sa

from appliance.backup.drivers.base import Captured, ChainDirs, Progress, RestoreRequest
from appliance.backup.fingerprint import fingerprint
from appliance.backup.manifest import Manifest
from appliance.crypto.keys import MasterKey
from appliance.errors import BackupError
from appliance.settings import Settings

SEGMENT = re.compile(r"[0-9A-F]{24}")
SEGMENTS_PER_LOG = 0x100  # 16 MiB segments (the default; checked before each backup)
SEGMENT_BYTES = 16 * 1024 * 1024
WAL_DIR = "wal"
RESTORE_WAL = "appliance_restore_wal"
ARCHIVE_WAIT_SECONDS = 120


def next_segment(name: str) -> str:
    timeline, log, seg = int(name[:8], 16), int(name[8:16], 16), int(name[16:], 16)
    seg += 1
    if seg == SEGMENTS_PER_LOG:
        log, seg = log + 1, 0
    return f"{timeline:08X}{log:08X}{seg:08X}"


def segment_range(first: str, last: str) -> list[str]:
    """Every segment name from ``first`` to ``last`` on one timeline (inclusive)."""
    names = [first]
    while names[-1][8:] < last[8:]:
        names.append(next_segment(names[-1]))
    return names


class PostgresDriver:
    backend = "postgresql+psycopg"

    def __init__(self, settings: Settings, master: MasterKey, schema: sa.MetaData) -> None:
        self._settings = settings
        self.schema = schema
        self._url = sa.make_url(settings.database_url)

    def database_label(self) -> str:
        url = self._url
        return f"{url.host or 'localhost'}:{url.port or 5432}/{url.database}"

    # -- helpers ---------------------------------------------------------------------------------

    def _bin(self, name: str) -> str:
        if self._settings.pg_bin_dir:
            return str(self._settings.pg_bin_dir / name)
        found = shutil.which(name)
        if found:
            return found
        candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
        if not candidates:
            raise BackupError(f"{name} not found; install the PostgreSQL server binaries or set PG_BIN_DIR")
        return str(candidates[-1])

    def _libpq(self, database: str | None = None) -> tuple[str, dict[str, str]]:
        """A libpq connection string without the password; the password goes in the environment."""
        url = self._url
        parts = [f"host={url.host or 'localhost'}", f"port={url.port or 5432}", f"dbname={database or url.database}"]
        if url.username:
            parts.append(f"user={url.username}")
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        if url.password:
            env["PGPASSWORD"] = str(url.password)
        return " ".join(parts), env

    def _connect(self) -> psycopg.Connection[tuple[object, ...]]:
        conninfo, env = self._libpq()
        return psycopg.connect(conninfo, password=env.get("PGPASSWORD"), autocommit=True)

    def _archive(self) -> Path:
        archive = self._settings.pg_wal_archive_dir
        if archive is None:
            raise BackupError("setting PG_WAL_ARCHIVE_DIR is required for PostgreSQL backups (see the README)")
        if not archive.is_dir():
            raise BackupError(f"WAL archive {archive} does not exist")
        return archive

    def _run(self, args: list[str], env: dict[str, str] | None = None, timeout: float = 7200) -> str:
        try:
            result = subprocess.run(args, capture_output=True, text=True, env=env, timeout=timeout, check=False,
                                    stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise BackupError(f"{Path(args[0]).name} timed out") from None
        if result.returncode != 0:
            lines = [line for line in result.stderr.splitlines() if line.strip()] or ["failed"]
            raise BackupError(f"{Path(args[0]).name}: {lines[-1].strip()[:300]}")
        return result.stderr

    # -- taking backups --------------------------------------------------------------------------

    def _state_and_switch(self, progress: Progress) -> tuple[dict[str, tuple[int, str]], str, str, str]:
        """Row counts and checksums in one snapshot, its WAL position, then a WAL switch.

        Returns (tables, target LSN, closed segment, time); verify replays to that LSN.
        """
        progress("row counts and checksums (one snapshot) and the WAL position")
        engine = sa.create_engine(self._settings.database_url, poolclass=sa.pool.NullPool)
        try:
            with engine.connect() as connection:
                connection.execute(sa.text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"))
                lsn = str(connection.execute(sa.text("SELECT pg_current_wal_lsn()")).scalar_one())
                tables = fingerprint(connection, self.schema)
                connection.rollback()
        finally:
            engine.dispose()
        with self._connect() as connection:
            size = connection.execute("SELECT setting FROM pg_settings WHERE name = 'wal_segment_size'").fetchone()
            if size is None or int(str(size[0])) != SEGMENT_BYTES:
                raise BackupError("only the default 16 MiB WAL segments are supported")
            # A transaction with an id writes a timestamped commit record: point-in-time
            # recovery to any moment up to here finds a commit after its target in this WAL.
            marker = connection.execute("SELECT pg_current_xact_id()::text, now()").fetchone()
            row = connection.execute("SELECT pg_walfile_name(pg_switch_wal())").fetchone()
        assert row is not None and marker is not None
        reaches = marker[1]
        assert isinstance(reaches, dt.datetime)
        return tables, lsn, str(row[0]), reaches.astimezone(dt.UTC).isoformat()

    def _wait_archived(self, segment: str, progress: Progress) -> None:
        """Wait until the server's archiver reports ``segment`` done: the file appearing is not
        enough (archive_command may still be writing it)."""
        archive = self._archive()
        progress(f"waiting until {segment} is archived")
        deadline = time.monotonic() + ARCHIVE_WAIT_SECONDS
        while True:
            with self._connect() as connection:
                row = connection.execute("SELECT last_archived_wal FROM pg_stat_archiver").fetchone()
            done = row is not None and row[0] is not None and SEGMENT.fullmatch(str(row[0])[:24]) is not None \
                and str(row[0])[:8] == segment[:8] and str(row[0])[:24] >= segment
            if done and (archive / segment).exists():
                return
            if time.monotonic() > deadline:
                raise BackupError(f"WAL segment {segment} was not archived within {ARCHIVE_WAIT_SECONDS} s; "
                                  "check archive_command and the server log")
            time.sleep(0.2)

    def _ship(self, work: Path, first: str, last: str) -> None:
        """Copy the archived segments first..last (and timeline history files) into the backup."""
        archive = self._archive()
        target = work / WAL_DIR
        target.mkdir()
        for name in segment_range(first, last):
            source = archive / name
            if not source.exists():
                raise BackupError(f"WAL segment {name} is missing from the archive {archive}")
            if source.stat().st_size != SEGMENT_BYTES:
                raise BackupError(f"WAL segment {name} in the archive has {source.stat().st_size} bytes, "
                                  f"not {SEGMENT_BYTES}: a damaged or unfinished copy")
            shutil.copyfile(source, target / name)
        for history in archive.glob("*.history"):
            shutil.copyfile(history, target / history.name)

    def full(self, work: Path, progress: Progress) -> Captured:
        self._archive()
        conninfo, env = self._libpq()
        # No compression: the bulk (report text, attachments) is AES-GCM ciphertext, which does
        # not compress, and gzip would make the backup several times slower than a copy.
        progress("pg_basebackup (tar, checkpoint=fast)")
        log = self._run([self._bin("pg_basebackup"), "-d", conninfo, "-D", str(work / "base"), "-Ft",
                         "-X", "stream", "--checkpoint=fast", "--no-password", "-v"], env)
        start = re.search(r"write-ahead log start point: ([0-9A-F]+/[0-9A-F]+) on timeline (\d+)", log)
        if start is None:
            raise BackupError("pg_basebackup did not report its start point")
        with self._connect() as connection:
            row = connection.execute("SELECT pg_walfile_name(%s::pg_lsn)", (start.group(1),)).fetchone()
        assert row is not None
        first = str(row[0])
        tables, lsn, last, now = self._state_and_switch(progress)
        self._wait_archived(last, progress)
        self._ship(work, first, last)
        return Captured(tables=tables, log_start=first, log_end=last,
                        extra={"target_lsn": lsn, "start_lsn": start.group(1), "reaches": now})

    def log(self, work: Path, previous: Manifest, progress: Progress) -> Captured:
        if previous.log_end is None:
            raise BackupError(f"{previous.id} records no WAL position; take a full backup")
        tables, lsn, last, now = self._state_and_switch(progress)
        if last[:8] != previous.log_end[:8]:
            raise BackupError(f"the server moved to timeline {int(last[:8], 16)} (a restore?); "
                              "take a full backup to start a new chain")
        first = next_segment(previous.log_end)
        if last < first:  # nothing written since the previous backup: the chain still needs a link
            last = first = previous.log_end
        self._wait_archived(last, progress)
        self._ship(work, first, last)
        return Captured(tables=tables, log_start=first, log_end=last, extra={"target_lsn": lsn, "reaches": now})

    # -- restore ---------------------------------------------------------------------------------

    def _prepare(self, chain: ChainDirs, datadir: Path, target: dict[str, str], archive_off: bool,
                 progress: Progress) -> list[str]:
        full, full_dir = chain[0]
        steps = []
        datadir.mkdir(parents=True, exist_ok=True)
        os.chmod(datadir, 0o700)
        progress(f"unpacking base backup {full.id} into {datadir}")
        with tarfile.open(_one(full_dir / "base", "base.tar*")) as tar:
            tar.extractall(datadir, filter="data")
        for wal_tar in (full_dir / "base").glob("pg_wal.tar*"):
            with tarfile.open(wal_tar) as tar:
                tar.extractall(datadir / "pg_wal", filter="data")
        steps.append(f"unpacked base backup {full.id} into {datadir}")
        restore_wal = datadir / RESTORE_WAL
        restore_wal.mkdir()
        count = 0
        for _manifest, directory in chain:
            for segment in sorted((directory / WAL_DIR).iterdir()):
                shutil.copyfile(segment, restore_wal / segment.name)
                count += 1 if SEGMENT.fullmatch(segment.name) else 0
        steps.append(f"placed {count} WAL segment(s) from {len(chain)} backup(s) for replay")
        lines = [f"restore_command = 'cp \"{restore_wal}/%f\" \"%p\"'", "recovery_target_action = 'promote'"]
        lines += [f"{key} = '{value}'" for key, value in target.items()]
        if archive_off:
            lines.append("archive_mode = 'off'")
        with (datadir / "postgresql.auto.conf").open("a") as handle:
            handle.write("\n# appliance backup restore\n" + "\n".join(lines) + "\n")
        if not (datadir / "postgresql.conf").exists():
            # Debian/Ubuntu keep the configuration in /etc/postgresql, outside the base backup:
            # enough to start, replay and serve on 127.0.0.1 with password authentication.
            (datadir / "postgresql.conf").write_text("listen_addresses = '127.0.0.1'\n")
            (datadir / "pg_hba.conf").write_text("local all all peer\nhost all all 127.0.0.1/32 scram-sha-256\n")
            (datadir / "pg_ident.conf").write_text("")
            steps.append("the base backup has no postgresql.conf (Debian layout): wrote a minimal one; "
                         "copy your own configuration before serving the app from this cluster")
        (datadir / "recovery.signal").touch()
        # Left by the server that was backed up (sockets live in the data directory on some set-ups).
        for stale in [datadir / "postmaster.pid", datadir / "postmaster.opts", *datadir.glob(".s.PGSQL.*")]:
            with contextlib.suppress(FileNotFoundError):
                stale.unlink()
        recovery = ", ".join(f"{k} {v}" for k, v in target.items()) or "the end of the shipped WAL"
        steps.append(f"configured recovery to {recovery}" + (" (archiving off in this copy)" if archive_off else ""))
        self._give_to_server_user(datadir)
        return steps

    def _as_server_user(self, args: list[str]) -> list[str]:
        # PostgreSQL refuses to run as root; the CLI run by root hands the cluster to PG_OS_USER.
        return ["runuser", "-u", self._settings.pg_os_user, "--", *args] if os.geteuid() == 0 else args

    def _give_to_server_user(self, path: Path) -> None:
        if os.geteuid() != 0:
            return
        user = pwd.getpwnam(self._settings.pg_os_user)
        for root, dirs, files in os.walk(path):
            os.chown(root, user.pw_uid, user.pw_gid)
            for name in dirs + files:
                os.chown(os.path.join(root, name), user.pw_uid, user.pw_gid, follow_symlinks=False)

    def start(self, datadir: Path, port: int, progress: Progress) -> None:
        """Start the restored cluster on ``port`` (local socket in the data directory) and wait
        until recovery has finished and it accepts writes."""
        progress(f"starting PostgreSQL on port {port}; replaying WAL")
        options = f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={datadir}"
        log = datadir / "restore.log"
        try:
            self._run(self._as_server_user([self._bin("pg_ctl"), "-D", str(datadir), "-o", options, "-l", str(log),
                                            "-w", "-t", "600", "start"]))
        except BackupError as exc:
            lines = log.read_text(errors="replace").strip().splitlines() if log.exists() else [exc.reason]
            tail = [line for line in lines if "FATAL" in line or "PANIC" in line][:2] + lines[-2:]
            raise BackupError(f"the restored cluster did not start: {' | '.join(tail)}") from None
        conninfo, env = self._libpq()
        conninfo = re.sub(r"host=\S+", "host=127.0.0.1", re.sub(r"port=\S+", f"port={port}", conninfo))
        deadline = time.monotonic() + 3600
        while True:
            with contextlib.suppress(psycopg.OperationalError), \
                    psycopg.connect(conninfo, password=env.get("PGPASSWORD"), autocommit=True) as connection:
                row = connection.execute("SELECT pg_is_in_recovery()").fetchone()
                if row is not None and not row[0]:
                    return
            if time.monotonic() > deadline:
                raise BackupError("recovery did not finish within an hour")
            time.sleep(0.2)

    def stop(self, datadir: Path) -> None:
        self._run(self._as_server_user([self._bin("pg_ctl"), "-D", str(datadir), "-m", "fast", "-w", "stop"]))

    def _target(self, chain: ChainDirs, at: dt.datetime | None) -> dict[str, str]:
        if at is not None:
            return {"recovery_target_time": at.astimezone(dt.UTC).isoformat(sep=" ")}
        return {}

    def restore(self, chain: ChainDirs, request: RestoreRequest, progress: Progress) -> list[str]:
        steps: list[str] = []
        if request.into:
            datadir = Path(request.into)
            if datadir.exists() and any(datadir.iterdir()):
                raise BackupError(f"{datadir} is not empty; restore into a new data directory")
            archive_off = True
        else:
            if not request.force:
                raise BackupError("restoring over the current cluster needs --force (stop PostgreSQL first)")
            if self._settings.pg_data_dir is None:
                raise BackupError("setting PG_DATA_DIR is required to restore over the current cluster")
            datadir = self._settings.pg_data_dir
            if (datadir / "postmaster.pid").exists():
                raise BackupError(f"PostgreSQL is running on {datadir}; stop it (and the app) first")
            aside = datadir.with_name(f"{datadir.name}.before-restore-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}")
            os.replace(datadir, aside)
            steps.append(f"moved the current data directory aside to {aside}")
            archive_off = False
        steps += self._prepare(chain, datadir, self._target(chain, request.at), archive_off, progress)
        if request.port:
            self.start(datadir, request.port, progress)
            steps.append(f"started on port {request.port}; recovery finished and the cluster was promoted "
                         f"(stop it with pg_ctl -D {datadir} stop)")
        else:
            steps.append(f"start PostgreSQL on {datadir}: it replays the WAL, then promotes")
        return steps

    def after_prune(self, kept: list[Manifest]) -> list[str]:
        """Remove archived WAL older than the oldest kept full backup's first segment (what
        pg_archivecleanup does): nothing kept can need it, and the archive would grow forever."""
        starts = [m.log_start for m in kept if m.kind == "full" and m.log_start]
        if not starts or self._settings.pg_wal_archive_dir is None:
            return []
        oldest = min(starts)
        removed = []
        for path in sorted(self._settings.pg_wal_archive_dir.iterdir()):
            name = path.name.split(".", 1)[0]
            if SEGMENT.fullmatch(name) and name < oldest:
                path.unlink()
                removed.append(path.name)
        return removed

    @contextlib.contextmanager
    def scratch(self, chain: ChainDirs, workdir: Path, progress: Progress) -> Iterator[sa.Engine]:
        # Outside BACKUP_DIR (private to the appliance's user): the server user must own it.
        with tempfile.TemporaryDirectory(prefix="appliance-verify-pg-") as scratch:
            os.chmod(scratch, 0o711)  # noqa: S103 (traverse only: the server user owns data/ inside)
            datadir = Path(scratch) / "data"
            newest = chain[-1][0]
            target = {"recovery_target_lsn": newest.extra["target_lsn"]} if "target_lsn" in newest.extra else {}
            self._prepare(chain, datadir, target, True, progress)
            port = free_port()
            self.start(datadir, port, progress)
            try:
                url = self._url.set(host="127.0.0.1", port=port)
                engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
                try:
                    yield engine
                finally:
                    engine.dispose()
            finally:
                self.stop(datadir)


def _one(directory: Path, pattern: str) -> Path:
    found = sorted(directory.glob(pattern))
    if not found:
        raise BackupError(f"{directory.parent.name}: no {pattern} in the base backup")
    return found[0]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
