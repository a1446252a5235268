"""SQLite/SQLCipher backups: snapshots that stay encrypted, restore after losing the database,
prune, and two real `appliance scheduler` processes of which only one runs the jobs."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from appliance.backup.drivers import RestoreRequest
from appliance.backup.drivers import sqlite as sqlite_driver
from appliance.backup.manifest import check_files, sha256_file
from appliance.context import AppContext, build_context
from appliance.operations.backups import backup_service, copy_to_sites
from appliance.settings import Settings, load_settings
from tests.functional.backup_support import APPLIANCE, MARKER, Install, add_reports, dump_rows, files_contain
from tests.support import FrozenClock

pytestmark = pytest.mark.parametrize("backend", ["sqlite"])


def test_full_then_log_then_lost_database_then_restore_gives_every_row(settings: Settings, ctx: AppContext,
                                                                     clock: FrozenClock) -> None:
    add_reports(ctx, 3, "before-full")
    with ctx.unit_of_work() as session:
        full = backup_service(ctx, session).full()
    add_reports(ctx, 2, "after-full")
    clock.advance(minutes=30)
    with ctx.unit_of_work() as session:
        log = backup_service(ctx, session).log()
    assert log.standalone and log.note and "snapshot" in log.note
    expected = dump_rows(ctx.engine)
    add_reports(ctx, 1, "after-log")  # written after the last backup: lost with the database
    ctx.close()
    database = Path(settings.database_url.removeprefix("sqlite+pysqlcipher:///"))
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)

    engine = backup_service(ctx, None)
    with pytest.raises(Exception, match="--force"):
        engine.restore(RestoreRequest(None, False, None))
    chain, _ = engine.restore(RestoreRequest(None, True, None))
    assert chain == [log.id]
    restored = build_context(settings)
    try:
        assert dump_rows(restored.engine) == expected
    finally:
        restored.close()

    earlier = settings.data_dir / "earlier.db"
    engine.restore(RestoreRequest(str(earlier), False, full.finished_at))
    other = build_context(dataclasses.replace(settings, database_url=f"sqlite+pysqlcipher:///{earlier}"))
    try:
        assert len(dump_rows(other.engine)["cases"]) == 3
    finally:
        other.close()
    assert not files_contain(settings.backup_root, MARKER.encode()), "the snapshot must stay encrypted"
    for snapshot in settings.backup_root.glob("*/appliance.db"):
        assert not snapshot.read_bytes()[:16].startswith(b"SQLite format 3")


def test_prune_deletes_old_snapshots_and_keeps_the_newest(settings: Settings, ctx: AppContext,
                                                          clock: FrozenClock) -> None:
    ctx.settings = dataclasses.replace(settings, backup_sites=(f"local={settings.data_dir / 'site'}",))
    add_reports(ctx, 1, "prune")
    with ctx.unit_of_work() as session:
        old = backup_service(ctx, session).full()
    clock.advance(days=31)
    with ctx.unit_of_work() as session:
        new = backup_service(ctx, session).log()
    written: list[str] = []

    def report_arrives_meanwhile(message: str) -> None:
        # Would wait for the write lock (busy_timeout) and fail if copying held a transaction open.
        if "copying" in message and not written:
            add_reports(ctx, 1, "during-copy")
            written.append(message)

    assert not copy_to_sites(ctx, report_arrives_meanwhile).failures and written
    with ctx.unit_of_work() as session:
        plan, failures = backup_service(ctx, session).prune()
    assert [m.id for m in plan.delete] == [old.id] and [m.id for m in plan.keep] == [new.id] and not failures
    assert not (settings.backup_root / old.id).exists() and (settings.backup_root / new.id).exists()
    with ctx.unit_of_work() as session:
        engine = backup_service(ctx, session)
        assert [r.id for r in engine.catalog()] == [new.id]
        assert {s.backup_id for s in engine.site("local").snapshots()} == {new.id}  # restic forget + prune
        assert engine.copies() == {new.id: ["local"]}

    shutil.rmtree(settings.data_dir / "site")  # the share is not mounted: never recreated silently
    report = copy_to_sites(ctx)
    assert "missing" in report.failures["local"] and not (settings.data_dir / "site").exists()
    assert not copy_to_sites(ctx, recreate=True).failures


def read_lease(install: Install) -> tuple[str | None, list[tuple[str, str, str]]]:
    context = build_context(load_settings(install.env()))
    try:
        with context.engine.connect() as connection:
            holder = connection.execute(sa.text("SELECT holder FROM scheduler_lease")).scalar()
            runs = [tuple(r) for r in connection.execute(sa.text("SELECT job, host, outcome FROM job_runs"))]
    finally:
        context.close()
    return holder, runs  # type: ignore[return-value]


def test_two_scheduler_processes_one_runs_the_jobs(tmp_path: Path, backend: str) -> None:
    install = Install(tmp_path, {"scheduler_lease_seconds": 10})
    install.add_reports(1, "scheduler")
    processes = [subprocess.Popen([str(APPLIANCE), "scheduler"], env=install.env(), stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True) for _ in range(2)]
    try:
        deadline = time.monotonic() + 120
        while True:  # the holder catches up every job once (never run before)
            holder, runs = read_lease(install)
            finished = [r for r in runs if r[2] in ("ok", "failed")]
            if len(finished) >= 14 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert holder is not None
        assert {r[1] for r in runs} == {holder}, "only the lease holder runs jobs"
        assert {r[0] for r in finished} == {"backup-full", "backup-log", "backup-prune", "backup-verify",
                                             "deadline-reminders", "new-report-notices", "reader-notices",
                                             "reporter-notices", "retention", "acknowledgement-mails",
                                             "acknowledgement-reminders",
                                             "closed-period-notices", "logbook-verify", "ops-alerts", "session-sweep"}
        listing = json.loads(install.run_ok("jobs", "list", "--json"))
        assert {row["job"]: row["last_outcome"] for row in listing["jobs"]}["backup-full"] == "ok"
        assert {run["host"] for run in listing["runs"]} == {holder}
        assert "backup-full" in install.run_ok("jobs", "list")
        refused = install.run("backup", "restore", "--force")
        assert refused.returncode != 0 and f"scheduler {holder} is running" in refused.stderr
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            _, err = process.communicate(timeout=60)
            assert process.returncode == 0, err
            assert "Traceback" not in err
    assert read_lease(install)[0] is None, "the holder releases the lease when it stops"
    assert os.listdir(install.config.parent / "backups")


def test_snapshots_taken_while_reports_arrive_are_consistent(settings: Settings, ctx: AppContext,
                                                             clock: FrozenClock) -> None:
    add_reports(ctx, 1, "first")
    stop = threading.Event()

    def keep_writing() -> None:
        while not stop.is_set():
            add_reports(ctx, 1, "concurrent")

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        for _ in range(3):
            clock.advance(minutes=30)
            with ctx.unit_of_work() as session:
                backup_service(ctx, session).full()
    finally:
        stop.set()
        writer.join()
    with ctx.unit_of_work() as session:
        report = backup_service(ctx, session).verify()  # integrity_check + row counts of the newest
    assert report.ok, report.problems


@pytest.mark.parametrize("log_folded", [False, True], ids=["copied-and-hashed-at-once", "log-folded-in-then-hashed"])
def test_snapshot_digest_is_its_file_and_a_corrupted_copy_is_found(settings: Settings, ctx: AppContext,
                                                                   monkeypatch: pytest.MonkeyPatch,
                                                                   log_folded: bool) -> None:
    add_reports(ctx, 2, "hashed")
    taken: list[object] = []
    snapshot = sqlite_driver.SqliteDriver._snapshot
    monkeypatch.setattr(sqlite_driver.SqliteDriver, "_snapshot",
                        lambda driver, target: taken.append(snapshot(driver, target)) or taken[-1])
    reader = None
    if log_folded:
        # A reader pinning the log: the checkpoint before the snapshot gives up at once, so the
        # log is copied and folded into the copy, which is then read again for its digest.
        monkeypatch.setattr(sqlite_driver, "CHECKPOINT_WAIT_MS", 0)
        add_reports(ctx, 1, "in the log")
        database = Path(settings.database_url.removeprefix("sqlite+pysqlcipher:///"))
        reader = sqlite_driver.SqliteDriver(settings, ctx.master, sa.MetaData())._connect(database)
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM cases").fetchone()
    try:
        with ctx.unit_of_work() as session:
            manifest = backup_service(ctx, session).full()
    finally:
        if reader is not None:
            reader.close()
    assert (taken[0] is None) == log_folded  # None: the copy changed after it was copied, so it was read again
    directory = settings.backup_root / manifest.id
    [entry] = [f for f in manifest.files if f.name == sqlite_driver.SNAPSHOT]
    assert entry.sha256 == sha256_file(directory / entry.name)
    assert check_files(directory, manifest) == []
    with ctx.unit_of_work() as session:
        assert backup_service(ctx, session).verify().ok

    with (directory / entry.name).open("r+b") as handle:  # one flipped byte in the middle
        handle.seek(entry.size // 2)
        byte = handle.read(1)[0]
        handle.seek(entry.size // 2)
        handle.write(bytes([byte ^ 0x01]))
    assert check_files(directory, manifest) == [f"{manifest.id}/{entry.name} does not match its sha256"]
    with ctx.unit_of_work() as session:
        report = backup_service(ctx, session).verify()
    assert not report.ok
