"""Failure counts and lockouts per staff account (TOTP codes, the account page's password
check, and the count of failed sign-ins of an account from all clients).

Kept in the database so it holds across gunicorn workers and app hosts. Keys are keyed
hashes of an account (never an e-mail address in clear) and never involve a client
address: anything keyed by a client lives in the host's ephemeral store
(appliance/ephemeral), which no backup holds. Rows go away a day after the last failure.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from appliance.clock import Clock
from appliance.ephemeral.store import Lockout
from appliance.errors import LockedOut
from appliance.users.models import Throttle

FORGET_AFTER = dt.timedelta(days=1)


@dataclass(frozen=True)
class SignInLimits:
    """How failed staff sign-ins lock (the lockout_* settings)."""

    pair: Lockout  # one account from one client
    client: Lockout  # one client, whichever accounts (passwords and TOTP codes together)
    account_alert: int  # failures of one account from all clients after which a failing client is locked at once

    @property
    def strict_pair(self) -> Lockout:
        return dataclasses.replace(self.pair, threshold=1)


class Throttles:
    def __init__(self, session: Session, clock: Clock, threshold: int, base_seconds: int, max_seconds: int) -> None:
        self._session = session
        self._clock = clock
        self._threshold = threshold
        self._base = base_seconds
        self._max = max_seconds

    def check(self, *keys: bytes) -> None:
        """Raise LockedOut if any key is locked now."""
        now = self._clock()
        # Also here, not only on failures: rows an older version wrote (keyed by client addresses,
        # during a rolling upgrade) must not wait for the next failure to go.
        self._forget(now)
        rows = self._session.execute(
            sa.select(Throttle).where(Throttle.key_hash.in_(keys), Throttle.locked_until > now)
        ).scalars().all()
        if rows:
            wait = max(r.locked_until for r in rows if r.locked_until) - now
            raise LockedOut(max(1, int(wait.total_seconds()) + 1))

    def failures(self, key: bytes) -> int:
        """How many failures the key has now (0 when none are remembered)."""
        count = self._session.execute(sa.select(Throttle.failures).where(
            Throttle.key_hash == key, Throttle.last_failure_at >= self._clock() - FORGET_AFTER)).scalar_one_or_none()
        return int(count or 0)

    def fail(self, *keys: bytes, lock: bool = True) -> None:
        """Count one failure on each key; lock those past the threshold (unless ``lock`` is
        false: then the key only counts)."""
        now = self._clock()
        self._forget(now)
        for key in keys:
            # Count in the database, not in Python: a read-modify-write loses failures made
            # at the same moment, so parallel guessing would never reach the threshold.
            counted = self._session.execute(
                sa.update(Throttle).where(Throttle.key_hash == key)
                .values(failures=Throttle.failures + 1, last_failure_at=now)
            ).rowcount  # type: ignore[attr-defined]
            if not counted:
                try:
                    with self._session.begin_nested():  # another request may create it first
                        self._session.add(Throttle(key_hash=key, failures=1, last_failure_at=now))
                except sa.exc.IntegrityError:
                    self._session.execute(
                        sa.update(Throttle).where(Throttle.key_hash == key)
                        .values(failures=Throttle.failures + 1, last_failure_at=now))
            row = self._session.get(Throttle, key, populate_existing=True)
            assert row is not None
            over = row.failures - self._threshold
            if lock and over >= 0:
                seconds = min(self._max, self._base * (2 ** min(over, 20)))
                row.locked_until = now + dt.timedelta(seconds=seconds)
        self._session.flush()

    def _forget(self, now: dt.datetime) -> None:
        self._session.execute(sa.delete(Throttle).where(Throttle.last_failure_at < now - FORGET_AFTER))

    def clear(self, *keys: bytes) -> None:
        self._session.execute(sa.delete(Throttle).where(Throttle.key_hash.in_(keys)))
