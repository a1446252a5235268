"""The manifest written next to every backup: what it is, what it needs, how to check it."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import io
import itertools
import json
import os
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from appliance.errors import BackupError

MANIFEST = "manifest.json"
FORMAT = 1
_CHUNK = 1024 * 1024
_COPY_CHUNK = 8 * 1024 * 1024


@dataclasses.dataclass(frozen=True)
class FileEntry:
    name: str
    size: int
    sha256: str


@dataclasses.dataclass(frozen=True)
class Manifest:
    """One backup. ``standalone``: restorable on its own (a SQLite snapshot, even a "log" one)."""

    id: str
    kind: str  # full | log
    backend: str
    database: str
    started_at: dt.datetime
    finished_at: dt.datetime
    files: tuple[FileEntry, ...]
    key_id: str
    base_id: str | None = None
    parent_id: str | None = None
    log_start: str | None = None
    log_end: str | None = None
    standalone: bool = False
    note: str | None = None
    # Row count and checksum per table at the moment the backup represents (verify compares).
    tables: dict[str, tuple[int, str]] = dataclasses.field(default_factory=dict)
    extra: dict[str, str] = dataclasses.field(default_factory=dict)
    format: int = FORMAT

    @property
    def size_bytes(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def sha256(self) -> str:
        """One digest over the files' digests, for the catalog and `backup list`."""
        listing = "".join(f"{f.name}\0{f.sha256}\n" for f in sorted(self.files, key=lambda f: f.name))
        return hashlib.sha256(listing.encode()).hexdigest()

    def to_json(self) -> str:
        data = dataclasses.asdict(self)
        data["started_at"] = self.started_at.isoformat()
        data["finished_at"] = self.finished_at.isoformat()
        data["tables"] = {name: list(value) for name, value in self.tables.items()}
        return json.dumps(data, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        data: dict[str, Any] = json.loads(text)
        if data.get("format") != FORMAT:
            raise BackupError(f"manifest format {data.get('format')!r} is not supported")
        data["started_at"] = dt.datetime.fromisoformat(data["started_at"])
        data["finished_at"] = dt.datetime.fromisoformat(data["finished_at"])
        data["files"] = tuple(FileEntry(**f) for f in data["files"])
        data["tables"] = {name: (int(v[0]), str(v[1])) for name, v in data.get("tables", {}).items()}
        return cls(**data)


def new_backup_id(kind: str, at: dt.datetime) -> str:
    """Sortable by time: 20260302T090000123456Z-full."""
    return at.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ") + f"-{kind}"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@dataclasses.dataclass(frozen=True)
class Hashed:
    """A file's sha256 taken while it was written, with the file's size, inode and change time then."""

    sha256: str
    size: int
    inode: int
    changed_ns: int

    def still_matches(self, path: Path) -> bool:
        """Nothing wrote to or replaced the file since (any write moves its change time)."""
        stat = path.stat()
        return (stat.st_size, stat.st_ino, stat.st_ctime_ns) == (self.size, self.inode, self.changed_ns)


def copy_hashing(source: Path, target: Path) -> Hashed:
    """Copy ``source`` to a new file ``target``, hashing the bytes as they are written: one read
    of the source instead of a copy and a second read for the manifest. Each chunk is hashed
    while it is written (a second thread; hashlib and file writes
    release the GIL), so the copy takes about as long as the slower of the two. ``target`` is
    flushed to disk (fsync) before the digest is returned."""
    digest = hashlib.sha256()
    buffers = (bytearray(_COPY_CHUNK), bytearray(_COPY_CHUNK))
    with (source.open("rb", buffering=0) as reader, target.open("xb", buffering=0) as writer,
          ThreadPoolExecutor(max_workers=1, thread_name_prefix="backup-write") as pool):
        writing: Future[None] | None = None
        for turn in itertools.count():
            buffer = buffers[turn % 2]  # the other one may still be being written
            read = reader.readinto(buffer)
            if writing is not None:
                writing.result()  # in order, and frees the other buffer for the next read
            if not read:
                break
            chunk = memoryview(buffer)[:read]
            writing = pool.submit(_write_all, writer, chunk)
            digest.update(chunk)
        os.fsync(writer.fileno())
    stat = target.stat()
    return Hashed(digest.hexdigest(), stat.st_size, stat.st_ino, stat.st_ctime_ns)


def _write_all(writer: io.RawIOBase, chunk: memoryview) -> None:
    written = 0
    while written < len(chunk):
        written += writer.write(chunk[written:]) or 0


def describe_files(directory: Path, hashed: Mapping[str, Hashed] | None = None) -> tuple[FileEntry, ...]:
    """Every file in a backup directory (recursively) except the manifest itself. A file in
    ``hashed`` (by its name in the directory) whose size, inode and change time are still those
    it had when it was hashed while being written keeps that digest; every other file is read."""
    entries = []
    for path in sorted(p for p in directory.rglob("*") if p.is_file() and p.name != MANIFEST):
        name = path.relative_to(directory).as_posix()
        known = (hashed or {}).get(name)
        digest = known.sha256 if known is not None and known.still_matches(path) else sha256_file(path)
        entries.append(FileEntry(name, path.stat().st_size, digest))
    return tuple(entries)


def write_manifest(directory: Path, manifest: Manifest) -> None:
    path = directory / MANIFEST
    temporary = path.with_suffix(".tmp")
    temporary.write_text(manifest.to_json(), "utf-8")
    with temporary.open("rb") as handle:
        os.fsync(handle.fileno())
    temporary.rename(path)


def read_manifest(directory: Path) -> Manifest:
    try:
        return Manifest.from_json((directory / MANIFEST).read_text("utf-8"))
    except FileNotFoundError:
        raise BackupError(f"{directory.name}: manifest missing") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise BackupError(f"{directory.name}: manifest unreadable ({exc})") from None


def check_files(directory: Path, manifest: Manifest) -> list[str]:
    """The problems found comparing the files with the manifest (empty: intact)."""
    problems = []
    for entry in manifest.files:
        path = directory / entry.name
        if not path.is_file():
            problems.append(f"{manifest.id}/{entry.name} is missing")
        elif path.stat().st_size != entry.size:
            problems.append(f"{manifest.id}/{entry.name} has {path.stat().st_size} bytes, manifest says {entry.size}")
        elif sha256_file(path) != entry.sha256:
            problems.append(f"{manifest.id}/{entry.name} does not match its sha256")
    return problems


def scan(root: Path) -> list[Manifest]:
    """The manifests of every complete backup under ``root``, oldest first."""
    if not root.is_dir():
        return []
    found = []
    for directory in sorted(root.iterdir()):
        if directory.is_dir() and (directory / MANIFEST).is_file():
            found.append(read_manifest(directory))
    return sorted(found, key=lambda m: (m.finished_at, m.id))
