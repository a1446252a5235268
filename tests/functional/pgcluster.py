"""A private PostgreSQL cluster for the backup tests: its own data directory, port and WAL archive.

The shared server cannot be reconfigured for WAL archiving, so these tests initdb their own
cluster (as the ``postgres`` system user: PostgreSQL refuses to run as root, and CI is root).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

from appliance.backup.drivers.postgres import free_port

OS_USER = "postgres"


def pg_bin(name: str) -> str:
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    if not candidates:
        raise RuntimeError(f"{name} not found: install the postgresql server package")
    return str(candidates[-1])


def as_server_user(args: list[str]) -> list[str]:
    return ["runuser", "-u", OS_USER, "--", *args] if os.geteuid() == 0 else args


@dataclass
class Cluster:
    root: Path
    port: int

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def archive(self) -> Path:
        return self.root / "archive"

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def sql(self, statement: str, database: str = "postgres", port: int | None = None) -> list[tuple[object, ...]]:
        with psycopg.connect(host="127.0.0.1", port=port or self.port, user="postgres", dbname=database,
                             autocommit=True) as conn:
            cursor = conn.execute(statement)  # type: ignore[call-overload]
            return list(cursor.fetchall()) if cursor.description else []


def _chown(path: Path) -> None:
    if os.geteuid() == 0:
        user = pwd.getpwnam(OS_USER)
        os.chown(path, user.pw_uid, user.pw_gid)


@contextmanager
def private_cluster() -> Iterator[Cluster]:
    root = Path(tempfile.mkdtemp(prefix="appliance-pg-"))
    os.chmod(root, 0o755)
    cluster = Cluster(root, free_port())
    cluster.archive.mkdir()
    _chown(cluster.archive)
    _chown(root)
    try:
        subprocess.run(as_server_user([pg_bin("initdb"), "-D", str(cluster.data), "-U", "postgres", "--auth=trust",
                                       "-N", "-E", "UTF8", "--locale=C"]),
                       check=True, capture_output=True, cwd="/")
        with (cluster.data / "postgresql.conf").open("a") as conf:
            conf.write(f"""
port = {cluster.port}
listen_addresses = '127.0.0.1'
unix_socket_directories = '{cluster.data}'
wal_level = replica
archive_mode = on
archive_command = 'test ! -f {cluster.archive}/%f && cp %p {cluster.archive}/%f'
max_wal_senders = 4
fsync = off
full_page_writes = on
shared_buffers = 32MB
""")
        subprocess.run(as_server_user([pg_bin("pg_ctl"), "-D", str(cluster.data), "-l", str(root / "server.log"),
                                       "-w", "start"]), check=True, capture_output=True, cwd="/")
        yield cluster
    finally:
        for data in root.glob("*"):
            if (data / "postmaster.pid").exists():
                subprocess.run(as_server_user([pg_bin("pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]),
                               capture_output=True, check=False, cwd="/")
        shutil.rmtree(root, ignore_errors=True)


def stop(data: Path) -> None:
    subprocess.run(as_server_user([pg_bin("pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"]),
                   check=True, capture_output=True, cwd="/")


def wait_gone(path: Path, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while path.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
