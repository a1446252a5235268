"""PostgreSQL backups for real: base backup + WAL archive on a private cluster, restore, point in time."""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from appliance.backup.drivers import RestoreRequest
from appliance.backup.drivers.postgres import free_port
from appliance.context import AppContext, build_context
from appliance.crypto.keys import MasterKey
from appliance.errors import BackupChainGap, BackupError
from appliance.operations.backups import backup_service, copy_to_sites
from appliance.settings import Settings
from tests.functional.backup_support import MARKER, add_reports, count_cases, dump_rows, files_contain
from tests.functional.pgcluster import Cluster, private_cluster, stop
from tests.support import make_settings, migrate


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    with private_cluster() as running:
        running.sql("CREATE DATABASE appliance")
        yield running


@pytest.fixture
def pg_settings(cluster: Cluster, tmp_path: Path) -> Settings:
    MasterKey.create(tmp_path / "master.key")
    settings = make_settings(tmp_path, cluster.url("appliance"), backup_dir=str(tmp_path / "backups"),
                             pg_wal_archive_dir=str(cluster.archive))
    migrate(settings)
    return settings


@pytest.fixture
def pg_ctx(pg_settings: Settings) -> Iterator[AppContext]:
    context = build_context(pg_settings)
    yield context
    context.close()


def take(ctx: AppContext, kind: str) -> str:
    with ctx.unit_of_work() as session:
        engine = backup_service(ctx, session)
        return (engine.full() if kind == "full" else engine.log()).id


def restored_engine(cluster: Cluster, port: int) -> sa.Engine:
    return sa.create_engine(f"postgresql+psycopg://postgres@127.0.0.1:{port}/appliance", poolclass=sa.pool.NullPool)


def test_full_then_log_then_drop_then_restore_gives_every_row(cluster: Cluster, pg_ctx: AppContext,
                                                              tmp_path: Path) -> None:
    add_reports(pg_ctx, 3, "before-full")
    take(pg_ctx, "full")
    add_reports(pg_ctx, 2, "after-full")
    log_id = take(pg_ctx, "log")
    expected = dump_rows(pg_ctx.engine)
    assert count_cases(pg_ctx.engine) == 5
    pg_ctx.engine.dispose()
    cluster.sql("DROP DATABASE appliance")

    port = free_port()
    engine = backup_service(pg_ctx, None)
    chain, _steps = engine.restore(RestoreRequest(str(cluster.root / "restored"), False, None, port))
    assert chain[-1] == log_id and chain[0].endswith("-full")
    restored = restored_engine(cluster, port)
    try:
        assert dump_rows(restored) == expected
    finally:
        restored.dispose()
        stop(cluster.root / "restored")
    assert not files_contain(pg_ctx.settings.backup_root, MARKER.encode())


def test_point_in_time_restore_stops_between_two_writes(cluster: Cluster, pg_ctx: AppContext, tmp_path: Path) -> None:
    add_reports(pg_ctx, 1, "base")
    take(pg_ctx, "full")
    add_reports(pg_ctx, 1, "first")
    time.sleep(0.05)  # commit timestamps must differ from the chosen moment
    between = dt.datetime.now(dt.UTC)
    time.sleep(0.05)
    add_reports(pg_ctx, 1, "second")
    take(pg_ctx, "log")
    port = free_port()
    engine = backup_service(pg_ctx, None)
    engine.restore(RestoreRequest(str(cluster.root / "pitr"), False, between, port))
    restored = restored_engine(cluster, port)
    try:
        assert count_cases(restored) == 2  # base + first, not second
    finally:
        restored.dispose()
        stop(cluster.root / "pitr")

    add_reports(pg_ctx, 1, "third")
    take(pg_ctx, "log")
    missing = sorted(p.name for p in pg_ctx.settings.backup_root.glob("*-log"))[0]
    shutil.rmtree(pg_ctx.settings.backup_root / missing)
    with pytest.raises(BackupChainGap, match=f"{missing} is missing"):
        backup_service(pg_ctx, None).restore(RestoreRequest(str(cluster.root / "gap"), False, None, None))


def test_prune_keeps_the_newest_chain_and_cleans_the_wal_archive_then_verify(cluster: Cluster,
                                                                            pg_ctx: AppContext) -> None:
    add_reports(pg_ctx, 2, "verify")
    old_full = take(pg_ctx, "full")
    add_reports(pg_ctx, 1, "verify-log")
    old_log = take(pg_ctx, "log")
    new_full = take(pg_ctx, "full")
    add_reports(pg_ctx, 1, "verify-log-2")
    new_log = take(pg_ctx, "log")
    pg_ctx.settings = dataclasses.replace(pg_ctx.settings, backup_retention_days=0,
                                          backup_sites=(f"local={cluster.root / 'site'}",))
    assert not copy_to_sites(pg_ctx).failures
    with pg_ctx.unit_of_work() as session:
        plan, failures = backup_service(pg_ctx, session).prune()
    assert [m.id for m in plan.delete] == [old_full, old_log] and not failures
    assert [m.id for m in plan.keep] == [new_full, new_log]
    with pg_ctx.unit_of_work() as session:  # past the retention, but the newest chain: kept at the site too
        assert {s.backup_id for s in backup_service(pg_ctx, session).site("local").snapshots()} == {new_full, new_log}
    kept_start = plan.keep[0].log_start
    assert kept_start is not None
    assert all(p.name >= kept_start for p in cluster.archive.iterdir() if not p.name.endswith(".history"))
    with pg_ctx.unit_of_work() as session:
        report = backup_service(pg_ctx, session).verify()
    assert report.ok, report.problems
    assert report.sample.startswith("unwrapped")
    assert report.rows > 0


def test_restore_over_the_stopped_cluster_then_a_new_chain_starts(cluster: Cluster, pg_ctx: AppContext) -> None:
    add_reports(pg_ctx, 2, "kept")
    take(pg_ctx, "full")
    add_reports(pg_ctx, 1, "in-log")
    take(pg_ctx, "log")
    expected = dump_rows(pg_ctx.engine)
    pg_ctx.engine.dispose()
    pg_ctx.settings = dataclasses.replace(pg_ctx.settings, pg_data_dir=cluster.data)
    with pytest.raises(BackupError, match="is running"):
        backup_service(pg_ctx, None).restore(RestoreRequest(None, True, None))
    stop(cluster.data)
    _, steps = backup_service(pg_ctx, None).restore(RestoreRequest(None, True, None, cluster.port))
    assert any("moved the current data directory aside" in step for step in steps)
    assert dump_rows(pg_ctx.engine) == expected
    add_reports(pg_ctx, 1, "after-restore")
    with pytest.raises(BackupError, match="timeline"):  # the restore began a new timeline: a new chain
        take(pg_ctx, "log")
    take(pg_ctx, "full")
    take(pg_ctx, "log")
