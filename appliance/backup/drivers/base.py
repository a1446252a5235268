"""What every backend driver provides."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import sqlalchemy as sa

from appliance.backup.manifest import Hashed, Manifest

Progress = Callable[[str], None]


def no_progress(_: str) -> None:
    return None


@dataclass(frozen=True)
class Captured:
    """What a driver learned while taking a backup (the engine adds ids, times and files)."""

    tables: dict[str, tuple[int, str]]
    log_start: str | None = None
    log_end: str | None = None
    standalone: bool = False
    note: str | None = None
    extra: dict[str, str] = field(default_factory=dict)
    # Files hashed while they were written (by name in the backup directory): not read again.
    hashed: dict[str, Hashed] = field(default_factory=dict)


@dataclass(frozen=True)
class RestoreRequest:
    """Where a restore goes: a new database (``into``) or, with ``force``, over the current one."""

    into: str | None
    force: bool
    at: dt.datetime | None
    port: int | None = None


class Driver(Protocol):
    backend: str
    schema: sa.MetaData  # every table the fingerprint covers

    def database_label(self) -> str:
        """The database this installation uses, as shown in manifests (no password)."""
        ...

    def full(self, work: Path, progress: Progress) -> Captured:
        ...

    def log(self, work: Path, previous: Manifest, progress: Progress) -> Captured:
        ...

    def restore(self, chain: list[tuple[Manifest, Path]], request: RestoreRequest, progress: Progress) -> list[str]:
        """Restore the chain (directories already checked); returns the steps taken, in words."""
        ...

    def after_prune(self, kept: list[Manifest]) -> list[str]:
        """Drop what only pruned backups needed (the PostgreSQL WAL archive); returns what went."""
        ...

    def scratch(self, chain: list[tuple[Manifest, Path]], workdir: Path,
                progress: Progress) -> AbstractContextManager[sa.Engine]:
        """The chain restored into a throw-away database, open for reading."""
        ...


ChainDirs = list[tuple[Manifest, Path]]
EngineContext = Iterator[sa.Engine]
