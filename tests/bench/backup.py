"""Full backup and restore of a ~1 GB database, against a raw file copy of the same data.

SQLite/SQLCipher: the encrypted database file (backup API snapshot + row checksums + sha256;
restore = checked copy into place) against `shutil.copyfile` of the file. PostgreSQL: on a
private cluster with WAL archiving (tests/functional/pgcluster.py), `pg_basebackup` + the
shipped WAL + row checksums against a copy of the data directory; restore = unpack, start,
replay, promote. The data is ~1 GB of reports with encrypted attachments (random bytes, so
nothing compresses). Goal: backup at ≥ 0.5× the copy speed, restore < 2 min per GB.
--quick uses ~8 MB.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from appliance.backup.drivers import RestoreRequest
from appliance.backup.drivers.postgres import free_port
from appliance.cases.attachments import Upload
from appliance.cases.reporting import NewReport
from appliance.context import AppContext, build_context
from appliance.crypto.keys import MasterKey
from appliance.errors import NotFound
from appliance.operations.backups import backup_service
from appliance.services import Services
from appliance.settings import Settings
from tests.bench.common import BACKENDS, Figures, parse_args, print_table
from tests.support import make_settings, migrate, tenant_with_reader

FULL_BYTES = 1024**3
QUICK_BYTES = 8 * 1024**2
ATTACHMENT_BYTES = 48 * 1024**2
GB = 1024**3


def fill(ctx: AppContext, total: int) -> None:
    """Reports with random attachments until about ``total`` bytes are stored."""
    piece = min(ATTACHMENT_BYTES, total)
    stored = 0
    while stored < total:
        with ctx.unit_of_work() as session:
            services = Services(ctx, session)
            try:
                tenant = services.tenants.by_slug("bench")
            except NotFound:
                # a confirmed reader, so the channel accepts reports (someone can read them)
                tenant, _handler, _admin = tenant_with_reader(services, "Bench AB", "bench",
                                                              handler_email="bench-handler@example.com")
            category = services.tenants.categories(tenant.id)[0].id
            services.reporting.submit(tenant, NewReport(category, "bench report"),
                                      [Upload("data.bin", "application/octet-stream", io.BytesIO(os.urandom(piece)))])
        stored += piece


def size_of(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


@contextlib.contextmanager
def sqlite_install(directory: Path) -> Iterator[Settings]:
    MasterKey.create(directory / "master.key")
    settings = make_settings(directory, f"sqlite+pysqlcipher:///{directory / 'appliance.db'}",
                             max_attachment_bytes=ATTACHMENT_BYTES + 1, max_report_bytes=ATTACHMENT_BYTES + 1)
    migrate(settings)
    yield settings


@contextlib.contextmanager
def postgres_install(directory: Path) -> Iterator[Settings]:
    from tests.functional.pgcluster import private_cluster

    with private_cluster() as cluster:
        cluster.sql("CREATE DATABASE appliance")
        MasterKey.create(directory / "master.key")
        settings = make_settings(directory, cluster.url("appliance"), pg_wal_archive_dir=str(cluster.archive),
                                 max_attachment_bytes=ATTACHMENT_BYTES + 1, max_report_bytes=ATTACHMENT_BYTES + 1)
        migrate(settings)
        yield settings


def measure(backend: str, total: int) -> tuple[float, float, float, float]:
    """(data bytes, raw copy seconds, full backup seconds, restore seconds)."""
    with tempfile.TemporaryDirectory(prefix="appliance-bench-backup-") as tmp:
        directory = Path(tmp)
        os.chmod(directory, 0o711)  # the private cluster's server user restores below it
        install = sqlite_install if backend == "sqlite" else postgres_install
        with install(directory) as settings:
            ctx = build_context(settings)
            try:
                fill(ctx, total)
                if backend == "sqlite":
                    source = Path(settings.database_url.removeprefix("sqlite+pysqlcipher:///"))
                else:
                    from tests.functional.pgcluster import stop

                    source = Path(str(settings.pg_wal_archive_dir)).parent / "data"
                copy_target = directory / "raw-copy"
                started = time.perf_counter()
                if source.is_file():
                    shutil.copyfile(source, copy_target)
                else:
                    shutil.copytree(source, copy_target, ignore=shutil.ignore_patterns("postmaster.pid", ".s.PGSQL.*"))
                copy_seconds = time.perf_counter() - started
                data_bytes = size_of(copy_target)
                if copy_target.is_dir():
                    shutil.rmtree(copy_target)
                else:
                    copy_target.unlink()

                started = time.perf_counter()
                with ctx.unit_of_work() as session:
                    backup_service(ctx, session).full()
                backup_seconds = time.perf_counter() - started

                engine = backup_service(ctx, None)
                if backend == "sqlite":
                    target = directory / "restored.db"
                    started = time.perf_counter()
                    engine.restore(RestoreRequest(str(target), False, None))
                    restore_seconds = time.perf_counter() - started
                else:
                    target = Path(str(settings.pg_wal_archive_dir)).parent / "restored"
                    started = time.perf_counter()
                    engine.restore(RestoreRequest(str(target), False, None, free_port()))
                    restore_seconds = time.perf_counter() - started
                    stop(target)
            finally:
                ctx.close()
        return float(data_bytes), copy_seconds, backup_seconds, restore_seconds


def run(quick: bool, backends: Sequence[str]) -> Figures:
    total = QUICK_BYTES if quick else FULL_BYTES
    figures: Figures = {}
    rows = []
    for backend in backends:
        data_bytes, copy_s, backup_s, restore_s = measure(backend, total)
        gb = data_bytes / GB
        ratio = copy_s / backup_s if backup_s else float("nan")
        per_gb = restore_s / gb if gb else float("nan")
        figures |= {f"{backend}_data_gb": gb, f"{backend}_copy_s": copy_s, f"{backend}_backup_s": backup_s,
                    f"{backend}_backup_vs_copy": ratio, f"{backend}_restore_s": restore_s,
                    f"{backend}_restore_s_per_gb": per_gb}
        rows.append([backend, f"{gb:.2f}", copy_s, backup_s, f"{ratio:.2f}×", restore_s, per_gb])
    print_table("Full backup and restore vs a raw copy", "backup ≥ 0.5× copy speed, restore < 120 s/GB",
                ["backend", "data GB", "copy s", "full backup s", "speed vs copy", "restore s", "restore s/GB"], rows,
                ["backup = snapshot/base backup + row checksums for verify + sha256 manifest (no site copy);",
                 "PostgreSQL restore includes starting the cluster, WAL replay and promotion"])
    return figures


if __name__ == "__main__":
    arguments = parse_args(__doc__)
    run(arguments.quick, arguments.backend or BACKENDS)
