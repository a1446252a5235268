"""The ephemeral store on its own: lockouts, quotas, the daily key, forgetting, sharing."""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import stat
import threading
from pathlib import Path

import pytest

from appliance.ephemeral.store import FILE_NAME, EphemeralStore, Lockout, Quota, Subject, Sweeper
from appliance.errors import LockedOut, RateLimited, SettingsError
from tests.support import FrozenClock

PAIR = Lockout(threshold=3, base_seconds=30, max_seconds=120)
FLAT = Lockout(threshold=2, base_seconds=60, max_seconds=60)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(dt.datetime(2026, 3, 2, 22, 0, tzinfo=dt.UTC))


@pytest.fixture
def store(tmp_path: Path, clock: FrozenClock) -> EphemeralStore:
    return EphemeralStore(tmp_path / "run", clock)


def subject(client: str, lockout: Lockout = PAIR) -> Subject:
    return Subject("test/client", (client,), lockout)


def rows(store: EphemeralStore, table: str) -> list[tuple[object, ...]]:
    """What anyone who can read the file sees (no API of the store)."""
    connection = sqlite3.connect(store.path)
    try:
        return list(connection.execute(f"SELECT * FROM {table}"))
    finally:
        connection.close()


def file_bytes(store: EphemeralStore) -> bytes:
    return b"".join(p.read_bytes() for p in store.directory.iterdir() if p.is_file())


def test_the_directory_and_file_are_private(store: EphemeralStore) -> None:
    store.ensure()
    assert stat.S_IMODE(store.directory.stat().st_mode) == 0o700
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert store.path.name == FILE_NAME


def test_an_unusable_runtime_dir_is_one_line_naming_the_setting(tmp_path: Path, clock: FrozenClock) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(SettingsError) as refused:
        EphemeralStore(blocker / "run", clock).ensure()
    assert refused.value.name == "RUNTIME_DIR" and str(blocker) in str(refused.value)


def test_lockout_backs_off_and_is_capped() -> None:
    assert [PAIR.lock_seconds(n) for n in range(1, 8)] == [None, None, 30, 60, 120, 120, 120]
    assert [FLAT.lock_seconds(n) for n in range(1, 5)] == [None, 60, 60, 60]


def test_failures_lock_only_their_subject_until_the_lock_ends(store: EphemeralStore, clock: FrozenClock) -> None:
    for _ in range(PAIR.threshold):
        store.check(subject("a"))
        store.fail(subject("a"))
    with pytest.raises(LockedOut) as locked:
        store.check(subject("a"))
    assert locked.value.retry_after_seconds == PAIR.base_seconds
    store.check(subject("b"))  # another client
    store.check(Subject("other/purpose", ("a",), PAIR))  # the same value for another purpose
    with pytest.raises(LockedOut):
        store.check(subject("b"), subject("a"))  # any locked subject refuses
    clock.advance(seconds=PAIR.base_seconds)
    store.check(subject("a"))


def test_a_success_clears_the_count(store: EphemeralStore) -> None:
    for _ in range(PAIR.threshold - 1):
        store.fail(subject("a"))
    store.clear(subject("a"))
    store.fail(subject("a"))
    store.check(subject("a"))
    assert rows(store, "failures")[0][2] == 1


def test_the_failure_count_is_readable_without_counting_or_creating_a_key(store: EphemeralStore,
                                                                           clock: FrozenClock) -> None:
    assert store.failures(subject("a")) == 0
    assert not store.path.exists() or rows(store, "day_keys") == []  # reading made no key of the day
    for n in range(1, PAIR.threshold + 1):
        store.fail(subject("a"))
        assert store.failures(subject("a")) == n
    assert store.failures(subject("b")) == 0
    # What a page says before the last attempt: the next failure starts the base pause.
    assert PAIR.lock_seconds(PAIR.threshold - 1 + 1) == PAIR.base_seconds
    clock.advance(seconds=PAIR.memory_seconds + PAIR.max_seconds)
    assert store.failures(subject("a")) == 0  # forgotten with the row


def test_counts_are_forgotten_soon_after_the_last_failure_or_lock(store: EphemeralStore, clock: FrozenClock) -> None:
    store.fail(subject("a"))
    clock.advance(seconds=PAIR.memory_seconds - 1)
    store.sweep()
    assert len(rows(store, "failures")) == 1
    clock.advance(seconds=1)
    store.sweep()
    assert rows(store, "failures") == []


def test_quotas_refuse_with_the_time_until_a_slot_frees(store: EphemeralStore, clock: FrozenClock) -> None:
    per_client = Quota("test/reports", ("a",), limit=2, window_seconds=600)
    store.take(per_client)
    clock.advance(seconds=100)
    store.take(per_client)
    with pytest.raises(RateLimited) as refused:
        store.take(per_client)
    assert refused.value.retry_after_seconds == 500  # the first hit leaves the window then
    assert store.wait_seconds(per_client) == 500
    assert store.wait_seconds(Quota("test/reports", ("b",), 2, 600)) == 0
    clock.advance(seconds=500)
    assert store.wait_seconds(per_client) == 0
    store.take(per_client)


def test_a_refused_take_takes_nothing_and_a_ticket_can_be_given_back(store: EphemeralStore) -> None:
    client, channel = Quota("test/c", ("a",), 5, 600), Quota("test/ch", (), 1, 600)
    ticket = store.take(client, channel)
    with pytest.raises(RateLimited):
        store.take(client, channel)  # the channel is full: the client's quota is not charged either
    assert len(rows(store, "hits")) == 2
    store.give_back(ticket)
    assert rows(store, "hits") == []
    store.take(client, channel)


def test_a_new_day_deletes_the_old_key_and_every_row_of_it(store: EphemeralStore, clock: FrozenClock) -> None:
    """Everything named under the day's key goes with the key, and leaves no bytes behind."""
    long = Lockout(threshold=1, base_seconds=3600, max_seconds=3600)
    store.fail(subject("203.0.113.7", long))
    store.take(Quota("test/reports", ("203.0.113.7",), 5, 86400))
    ((day, key),) = rows(store, "day_keys")
    names = [r[0] for r in rows(store, "failures")] + [r[1] for r in rows(store, "hits")]
    assert day == "2026-03-02" and len(bytes(key)) == 32 and len(names) == 2
    assert bytes(key) in file_bytes(store)

    clock.advance(hours=2)  # 00:00 UTC: the lock and the window would still run
    store.sweep()
    assert rows(store, "day_keys") == [] and rows(store, "failures") == [] and rows(store, "hits") == []
    leftover = file_bytes(store)
    assert bytes(key) not in leftover  # secure_delete overwrote it; no journal or WAL keeps a copy
    assert not any(bytes(name) in leftover for name in names)
    assert sorted(p.name for p in store.directory.iterdir()) == [FILE_NAME]
    store.check(subject("203.0.113.7", long))  # forgotten: a lock never outlives the day
    store.fail(subject("x"))
    ((new_day, new_key),) = rows(store, "day_keys")
    assert new_day == "2026-03-03" and new_key != key


def test_the_key_is_random_not_derived(tmp_path: Path, clock: FrozenClock) -> None:
    first, second = EphemeralStore(tmp_path / "one", clock), EphemeralStore(tmp_path / "two", clock)
    first.fail(subject("a"))
    second.fail(subject("a"))
    assert rows(first, "day_keys")[0][1] != rows(second, "day_keys")[0][1]
    assert rows(first, "failures")[0][0] != rows(second, "failures")[0][0]


def test_workers_share_the_counts_and_none_is_lost(tmp_path: Path, clock: FrozenClock) -> None:
    """Separate store objects on one file, as gunicorn's worker processes have, failing at once."""
    stores = [EphemeralStore(tmp_path / "run", clock) for _ in range(4)]
    threads = [threading.Thread(target=lambda s=s: [s.fail(subject("a", Lockout(1000, 1, 1))) for _ in range(25)])
               for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert rows(stores[0], "failures")[0][2] == 100


def test_the_sweeper_forgets_without_traffic(store: EphemeralStore, clock: FrozenClock) -> None:
    store.fail(subject("a"))
    clock.advance(days=1)
    swept = threading.Event()
    sweeper = Sweeper(store, every_seconds=3600, on_sweep=swept.set).start()
    try:
        assert swept.wait(timeout=30)
    finally:
        sweeper.stop()
    assert rows(store, "failures") == [] and rows(store, "day_keys") == []


def test_an_emptied_runtime_dir_is_simply_a_fresh_start(store: EphemeralStore, clock: FrozenClock) -> None:
    for _ in range(PAIR.threshold):
        store.fail(subject("a"))
    for path in store.directory.iterdir():  # systemd empties /run/appliance when the unit stops
        os.unlink(path)
    restarted = EphemeralStore(store.directory, clock)
    restarted.check(subject("a"))
    restarted.fail(subject("a"))
