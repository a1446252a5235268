"""Which backups a restore needs, and which a prune may delete. Pure functions over manifests."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from appliance.backup.manifest import Manifest
from appliance.errors import BackupChainGap, BackupError


def chain_to(target: Manifest, known: dict[str, Manifest]) -> list[Manifest]:
    """The full backup and every log backup up to ``target``, oldest first.

    Each log names its parent; a parent that is not there is a gap, named in the error.
    """
    if target.standalone or target.kind == "full":
        return [target]
    chain = [target]
    current = target
    while current.kind != "full":
        parent_id = current.parent_id or current.base_id
        if parent_id is None:
            raise BackupError(f"{current.id} names no parent backup")
        parent = known.get(parent_id)
        if parent is None:
            raise BackupChainGap(parent_id, current.id)
        chain.append(parent)
        current = parent
    if target.base_id and chain[-1].id != target.base_id:
        raise BackupChainGap(target.base_id, target.id)
    return list(reversed(chain))


def restore_chain(manifests: Iterable[Manifest], at: dt.datetime | None = None) -> list[Manifest]:
    """The chain to restore the newest state, or the state at ``at``.

    Snapshots (standalone): the newest that finished at or before ``at``. Full + logs: the
    newest full that finished before ``at`` and the logs of its chain up to the first one
    that reaches ``at`` (replay stops at ``at`` inside it).
    """
    ordered = sorted(manifests, key=lambda m: (m.finished_at, m.id))
    if not ordered:
        raise BackupError("no backups found")
    known = {m.id: m for m in ordered}
    if at is None:
        return chain_to(ordered[-1], known)
    standalone = [m for m in ordered if m.standalone or m.kind == "full"]
    if all(m.standalone for m in ordered):
        before = [m for m in standalone if m.finished_at <= at]
        if not before:
            raise BackupError(f"no backup finished before {at.isoformat()}; the oldest is {ordered[0].id}")
        return [before[-1]]
    fulls = [m for m in ordered if m.kind == "full" and m.finished_at <= at]
    if not fulls:
        raise BackupError(f"no full backup finished before {at.isoformat()}; the oldest is {ordered[0].id}")
    full = fulls[-1]
    logs = [m for m in ordered if m.kind == "log" and m.base_id == full.id]
    reaching = [m for m in logs if reaches(m) > at]
    if not reaching:
        newest = logs[-1].finished_at if logs else full.finished_at
        raise BackupError(f"no log backup reaches {at.isoformat()} yet; the newest ends at {newest.isoformat()}")
    return chain_to(reaching[0], known)


def reaches(manifest: Manifest) -> dt.datetime:
    """The latest moment a restore of this backup can stop at (its last timestamped record)."""
    value = manifest.extra.get("reaches")
    return dt.datetime.fromisoformat(value) if value else manifest.finished_at


@dataclass(frozen=True)
class PrunePlan:
    keep: list[Manifest]
    delete: list[Manifest]


def prune_plan(manifests: Iterable[Manifest], now: dt.datetime, retention_days: int) -> PrunePlan:
    """Keep what finished within the retention, everything a kept backup needs, and the newest chain;
    locally, snapshot "log" backups only since the newest full one."""
    ordered = sorted(manifests, key=lambda m: (m.finished_at, m.id))
    known = {m.id: m for m in ordered}
    cutoff = now - dt.timedelta(days=retention_days)
    keep_ids: set[str] = set()
    roots = [m for m in ordered if m.finished_at >= cutoff]
    if ordered:
        roots.append(ordered[-1])  # never prune the newest restorable state, however old
    for manifest in roots:
        try:
            keep_ids.update(m.id for m in chain_to(manifest, known))
        except BackupError:
            keep_ids.add(manifest.id)  # a broken chain is reported by verify; keep what is there
    # SQLite "log" backups are whole snapshots: older than the newest full one they only add
    # granularity, which the sites keep cheaply (restic deduplicates); locally they would
    # fill the disk (48 copies of the database a day).
    fulls = [m for m in ordered if m.kind == "full"]
    if fulls:
        keep_ids -= {m.id for m in ordered if m.standalone and m.kind == "log" and m.finished_at < fulls[-1].finished_at}
    return PrunePlan([m for m in ordered if m.id in keep_ids], [m for m in ordered if m.id not in keep_ids])
