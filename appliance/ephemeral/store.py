"""The ephemeral store: failure counters and rate-limit hits for clients, forgotten daily.

Throttling has to recognise a client from one request to the next, so something derived
from its address must be kept for a while. Kept in the main database (as it was), that
something sat in every backup, and a keyed hash of an address under a key derived from the
master key is reversed by trying the 2^32 IPv4 addresses. So, instead:

- The store is a small SQLite file in RUNTIME_DIR (``/run/appliance``: the web unit's
  RuntimeDirectory, a tmpfs that systemd empties at every stop), shared by the gunicorn
  workers of one host. It is not the database, not the person key vault, and no backup
  reads it.
- Every row is named by an HMAC under a random key of the current UTC day, generated here
  (never derived from the master key). When the day changes, that key and every row of the
  day are deleted together; rows also go as soon as they are no longer needed (a count
  minutes after its last failure, a hit when it leaves its window).
- ``secure_delete`` overwrites what is deleted, and the rollback journal (not WAL, whose
  old frames would keep a deleted key in the ``-wal`` file until a checkpoint) is removed
  at every commit, so the file holds no remnant of a deleted key or row.

What stays true during the day: someone who can read this host's runtime directory (root,
or the service user) while it runs can test addresses against the current day's rows, as
they could read nginx's memory or watch the traffic itself. Nothing of it outlives the day.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import math
import os
import secrets
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from appliance.clock import Clock
from appliance.errors import LockedOut, RateLimited, SettingsError

log = logging.getLogger(__name__)

FILE_NAME = "throttles.db"
KEY_BYTES = 32
# A failure count is remembered this long after its last failure (or after its lock ends), so
# that back-off can grow; then it is deleted.
MIN_MEMORY_SECONDS = 15 * 60
SCHEMA = """
CREATE TABLE IF NOT EXISTS day_keys (day TEXT PRIMARY KEY, key BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS failures (
    name BLOB PRIMARY KEY, day TEXT NOT NULL, count INTEGER NOT NULL, locked_until REAL,
    expires_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS hits (
    id INTEGER PRIMARY KEY, name BLOB NOT NULL, day TEXT NOT NULL, at REAL NOT NULL,
    expires_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS ix_hits_name_at ON hits (name, at);
"""


@dataclass(frozen=True)
class Lockout:
    """After ``threshold`` failures a subject is locked for ``base_seconds``, doubling with each
    further failure up to ``max_seconds`` (equal base and max: a flat pause)."""

    threshold: int
    base_seconds: int
    max_seconds: int

    def lock_seconds(self, failures: int) -> int | None:
        over = failures - self.threshold
        if over < 0:
            return None
        return min(self.max_seconds, self.base_seconds * (1 << min(over, 20)))

    @property
    def memory_seconds(self) -> int:
        return max(self.max_seconds, MIN_MEMORY_SECONDS)


@dataclass(frozen=True)
class Subject:
    """What failures are counted for: a purpose and the values naming it (a client address,
    an account, a tenant). Stored only as an HMAC under the day's key."""

    purpose: str
    values: tuple[str, ...]
    lockout: Lockout


@dataclass(frozen=True)
class Quota:
    """At most ``limit`` hits in any ``window_seconds`` for one purpose and values."""

    purpose: str
    values: tuple[str, ...]
    limit: int
    window_seconds: int


@dataclass(frozen=True)
class Ticket:
    """The hits one request took; given back when the request stored nothing."""

    hit_ids: tuple[int, ...]


@dataclass(frozen=True)
class _Now:
    connection: sqlite3.Connection
    at: float
    day: str
    key: bytes | None

    def name(self, purpose: str, values: tuple[str, ...]) -> bytes:
        assert self.key is not None
        return row_name(self.key, purpose, values)


def row_name(key: bytes, purpose: str, values: tuple[str, ...]) -> bytes:
    """How a row is named: HMAC-SHA256 under the day's key of the length-prefixed purpose and values."""
    message = b"".join(len(part).to_bytes(4, "big") + part for part in
                       (purpose.encode(), *(value.encode("utf-8", "surrogatepass") for value in values)))
    return hmac.new(key, message, hashlib.sha256).digest()


class EphemeralStore:
    """Lockouts and rate limits for one host, shared by its worker processes and threads.

    Every operation is one short ``BEGIN IMMEDIATE`` transaction on its own connection that
    first forgets what has expired (and, on a new day, the old key with all its rows)."""

    def __init__(self, directory: Path, clock: Clock) -> None:
        self.directory = directory
        self.path = directory / FILE_NAME
        self._clock = clock
        self._ready = False
        self._lock = threading.Lock()

    def ensure(self) -> None:
        """Create the directory (0700), the file (0600) and the tables; SettingsError naming
        RUNTIME_DIR when that is impossible (checked when the web app starts)."""
        if self._ready:
            return
        with self._lock:
            if self._ready:
                return
            try:
                self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
                os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
                connection = self._connect()
                try:
                    connection.executescript(SCHEMA)
                finally:
                    connection.close()
            except OSError as exc:
                raise SettingsError("RUNTIME_DIR", f"cannot use {self.directory}: {exc.strerror}") from None
            except sqlite3.Error as exc:
                raise SettingsError("RUNTIME_DIR", f"cannot use {self.path}: {exc}") from None
            self._ready = True

    # --- lockouts ---------------------------------------------------------------------
    def check(self, *subjects: Subject) -> None:
        """Raise LockedOut if any subject is locked now."""
        with self._now(create_key=False) as now:
            if now.key is None:
                return  # nothing was counted today
            locks = [row[0] for s in subjects for row in now.connection.execute(
                "SELECT locked_until FROM failures WHERE name = ? AND locked_until > ?",
                (now.name(s.purpose, s.values), now.at))]
            wait = max(locks) - now.at if locks else None
        if wait is not None:
            raise LockedOut(max(1, math.ceil(wait)))

    def fail(self, *subjects: Subject) -> None:
        """Count one failure for each subject; lock those past their threshold."""
        with self._now() as now:
            for subject in subjects:
                name = now.name(subject.purpose, subject.values)
                row = now.connection.execute("SELECT count FROM failures WHERE name = ?", (name,)).fetchone()
                count = (row[0] if row else 0) + 1
                lock = subject.lockout.lock_seconds(count)
                locked_until = None if lock is None else now.at + lock
                # Remembered a while after the lock ends, so a guesser who waits for it meets a longer one.
                expires_at = max(now.at, locked_until or 0.0) + subject.lockout.memory_seconds
                now.connection.execute(
                    "INSERT INTO failures (name, day, count, locked_until, expires_at) VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT (name) DO UPDATE SET count = excluded.count, locked_until = excluded.locked_until, "
                    "expires_at = excluded.expires_at", (name, now.day, count, locked_until, expires_at))

    def failures(self, subject: Subject) -> int:
        """How many failures are counted for this subject now (0: none, or forgotten)."""
        with self._now(create_key=False) as now:
            row = None if now.key is None else now.connection.execute(
                "SELECT count FROM failures WHERE name = ?", (now.name(subject.purpose, subject.values),)).fetchone()
        return int(row[0]) if row else 0

    def clear(self, *subjects: Subject) -> None:
        """Forget the failures of these subjects (a success)."""
        with self._now(create_key=False) as now:
            if now.key is not None:
                now.connection.executemany("DELETE FROM failures WHERE name = ?",
                                           [(now.name(s.purpose, s.values),) for s in subjects])

    # --- rate limits --------------------------------------------------------------------
    def take(self, *quotas: Quota) -> Ticket:
        """One hit on every quota, or none and RateLimited when any of them is used up."""
        with self._now() as now:
            names = [now.name(q.purpose, q.values) for q in quotas]
            wait = self._wait(now, quotas, names)
            ids = [] if wait else [int(now.connection.execute(
                "INSERT INTO hits (name, day, at, expires_at) VALUES (?, ?, ?, ?)",
                (name, now.day, now.at, now.at + quota.window_seconds)).lastrowid or 0)
                for quota, name in zip(quotas, names, strict=True)]
        if wait:
            raise RateLimited(max(1, math.ceil(wait)))
        return Ticket(tuple(ids))

    def wait_seconds(self, *quotas: Quota) -> int:
        """How long until every quota has room again (0: now); takes nothing."""
        with self._now(create_key=False) as now:
            wait = 0.0 if now.key is None else self._wait(now, quotas, [now.name(q.purpose, q.values) for q in quotas])
        return math.ceil(wait)

    @staticmethod
    def _wait(now: _Now, quotas: tuple[Quota, ...], names: list[bytes]) -> float:
        wait = 0.0
        for quota, name in zip(quotas, names, strict=True):
            since = now.at - quota.window_seconds
            used = now.connection.execute("SELECT count(*) FROM hits WHERE name = ? AND at > ?",
                                          (name, since)).fetchone()[0]
            if used >= quota.limit:
                # Room comes when the hit that has to leave the window for one slot to free does.
                oldest = now.connection.execute(
                    "SELECT at FROM hits WHERE name = ? AND at > ? ORDER BY at LIMIT 1 OFFSET ?",
                    (name, since, used - quota.limit)).fetchone()[0]
                wait = max(wait, oldest + quota.window_seconds - now.at)
        return wait

    def give_back(self, ticket: Ticket) -> None:
        """Return the hits of a request that stored nothing."""
        if ticket.hit_ids:
            with self._now(create_key=False) as now:
                now.connection.executemany("DELETE FROM hits WHERE id = ?", [(i,) for i in ticket.hit_ids])

    # --- forgetting -----------------------------------------------------------------------
    def sweep(self) -> None:
        """Forget what has expired, and a past day's key with its rows (the web workers run this
        every few minutes, so it happens without traffic too)."""
        with self._now(create_key=False):
            pass

    @contextmanager
    def _now(self, create_key: bool = True) -> Iterator[_Now]:
        self.ensure()
        connection = self._connect()
        try:
            connection.execute("BEGIN IMMEDIATE")
            try:
                moment = self._clock().astimezone(dt.UTC)
                at, day = moment.timestamp(), moment.date().isoformat()
                self._forget(connection, at, day)
                yield _Now(connection, at, day, self._day_key(connection, day, create_key))
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise
        finally:
            connection.close()

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        connection.execute("PRAGMA secure_delete = ON")
        connection.execute("PRAGMA journal_mode = DELETE")
        return connection

    @staticmethod
    def _forget(connection: sqlite3.Connection, at: float, day: str) -> None:
        connection.execute("DELETE FROM day_keys WHERE day <> ?", (day,))
        connection.execute("DELETE FROM failures WHERE day <> ? OR expires_at <= ?", (day, at))
        connection.execute("DELETE FROM hits WHERE day <> ? OR expires_at <= ?", (day, at))

    @staticmethod
    def _day_key(connection: sqlite3.Connection, day: str, create: bool) -> bytes | None:
        row = connection.execute("SELECT key FROM day_keys WHERE day = ?", (day,)).fetchone()
        if row is not None:
            return bytes(row[0])
        if not create:
            return None
        key = secrets.token_bytes(KEY_BYTES)
        connection.execute("INSERT INTO day_keys (day, key) VALUES (?, ?)", (day, key))
        return key


class Sweeper:
    """A daemon thread that calls ``store.sweep()`` now and every ``every_seconds``, so the day's
    key and rows go at midnight (UTC) even when no request comes."""

    def __init__(self, store: EphemeralStore, every_seconds: float = 300,
                 on_sweep: Callable[[], None] | None = None) -> None:
        self._store = store
        self._every = every_seconds
        self._on_sweep = on_sweep
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ephemeral-sweeper", daemon=True)

    def start(self) -> Sweeper:
        self._thread.start()
        return self

    def stop(self, timeout: float = 10) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            try:
                self._store.sweep()
            except Exception as exc:  # a sweep that fails is retried at the next interval
                log.warning("ephemeral store sweep failed: %s", type(exc).__name__)
            if self._on_sweep is not None:
                self._on_sweep()
            if self._stop.wait(self._every):
                return
