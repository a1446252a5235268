"""Which backups a restore needs and which a prune may delete."""

from __future__ import annotations

import datetime as dt

import pytest

from appliance.backup.chain import prune_plan, restore_chain
from appliance.backup.manifest import Manifest
from appliance.errors import BackupChainGap, BackupError

DAY0 = dt.datetime(2026, 3, 1, 1, 0, tzinfo=dt.UTC)


def backup(backup_id: str, kind: str, day: float, base: str | None = None, parent: str | None = None,
           standalone: bool = False) -> Manifest:
    at = DAY0 + dt.timedelta(days=day)
    return Manifest(id=backup_id, kind=kind, backend="postgresql+psycopg", database="db", started_at=at,
                    finished_at=at, files=(), key_id="k", base_id=base, parent_id=parent, standalone=standalone)


def pg_history() -> list[Manifest]:
    return [backup("f1", "full", 0), backup("l1", "log", 0.5, "f1", "f1"), backup("l2", "log", 0.9, "f1", "l1"),
            backup("f2", "full", 1), backup("l3", "log", 1.5, "f2", "f2")]


def test_newest_state_needs_the_newest_full_and_its_logs() -> None:
    assert [m.id for m in restore_chain(pg_history())] == ["f2", "l3"]


def test_point_in_time_uses_the_full_before_it_and_logs_up_to_the_first_that_reaches_it() -> None:
    chain = restore_chain(pg_history(), DAY0 + dt.timedelta(days=0.7))
    assert [m.id for m in chain] == ["f1", "l1", "l2"]


def test_a_gap_is_refused_naming_the_missing_backup() -> None:
    history = [m for m in pg_history() if m.id != "l1"]
    with pytest.raises(BackupChainGap, match="l1 is missing"):
        restore_chain(history, DAY0 + dt.timedelta(days=0.7))


def test_snapshots_restore_alone() -> None:
    history = [backup("s1", "full", 0, standalone=True), backup("s2", "log", 0.5, standalone=True)]
    assert [m.id for m in restore_chain(history)] == ["s2"]
    assert [m.id for m in restore_chain(history, DAY0 + dt.timedelta(days=0.2))] == ["s1"]
    with pytest.raises(BackupError, match="no backup finished before"):
        restore_chain(history, DAY0 - dt.timedelta(days=1))


def test_prune_keeps_the_full_a_kept_log_needs() -> None:
    history = [backup("f1", "full", 0), backup("l1", "log", 10, "f1", "f1"), backup("l2", "log", 31, "f1", "l1"),
               backup("old", "full", -40)]
    plan = prune_plan(history, DAY0 + dt.timedelta(days=40), retention_days=30)
    assert {m.id for m in plan.keep} == {"f1", "l1", "l2"}  # l2 is within 30 days and needs l1 and f1
    assert [m.id for m in plan.delete] == ["old"]


def test_prune_never_deletes_the_newest_chain_however_old() -> None:
    history = [backup("f1", "full", 0), backup("l1", "log", 1, "f1", "f1")]
    plan = prune_plan(history, DAY0 + dt.timedelta(days=400), retention_days=30)
    assert {m.id for m in plan.keep} == {"f1", "l1"} and not plan.delete


def test_snapshot_logs_older_than_the_newest_full_are_thinned_locally() -> None:
    history = [backup("s1", "full", 0, standalone=True), backup("s2", "log", 0.5, standalone=True),
               backup("s3", "full", 1, standalone=True), backup("s4", "log", 1.5, standalone=True)]
    plan = prune_plan(history, DAY0 + dt.timedelta(days=2), retention_days=30)
    assert [m.id for m in plan.keep] == ["s1", "s3", "s4"] and [m.id for m in plan.delete] == ["s2"]
