"""Helpers for the backup and scheduler tests: an installation with reports, a dump of every row."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from appliance.backup.fingerprint import fingerprinted_tables
from appliance.cases.attachments import Upload
from appliance.cases.reporting import NewReport
from appliance.context import AppContext, build_context
from appliance.errors import NotFound
from appliance.models import Base
from appliance.services import Services
from appliance.settings import load_settings
from tests.light import LIGHT_ENV
from tests.support import tenant_with_reader

# Planted in every report: must appear in no backup artifact, site repository, mail or log.
MARKER = "PLAINTEXT-MARKER-7f3a9c"


def add_reports(ctx: AppContext, count: int, label: str, slug: str = "acme") -> None:
    """``count`` reports (one with an attachment) in tenant ``slug`` (created with a handler if new)."""
    with ctx.unit_of_work() as session:
        services = Services(ctx, session)
        try:
            tenant = services.tenants.by_slug(slug)
        except NotFound:
            tenant, _handler, _admin = tenant_with_reader(services, "Acme AB", slug)
        category = services.tenants.categories(tenant.id)[0].id
        for n in range(count):
            uploads = [Upload("evidence.txt", "text/plain", io.BytesIO(f"{MARKER} attachment {label}".encode()))] \
                if n == 0 else []
            services.reporting.submit(tenant, NewReport(category, f"{MARKER} {label} report {n}",
                                                         people=f"{MARKER} person"), uploads)


def dump_rows(engine: sa.Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every domain table, in primary-key order."""
    with engine.connect() as connection:
        return {table.name: [tuple(row) for row in connection.execute(
            sa.select(*table.columns).order_by(*table.primary_key.columns))] for table in fingerprinted_tables(Base.metadata)}


def count_cases(engine: sa.Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(sa.text("SELECT count(*) FROM cases")).scalar_one())


def files_contain(root: Path, needle: bytes) -> list[Path]:
    """Files under ``root`` whose bytes contain ``needle``."""
    found = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            try:
                if needle in path.read_bytes():
                    found.append(path)
            except OSError:
                continue
    return found


APPLIANCE = Path(sys.executable).with_name("appliance")


class Install:
    def __init__(self, root: Path, extra: dict[str, object]) -> None:
        self.root = root
        self.config = root / "data" / "appliance.toml"
        self.outputs: list[str] = []
        self.run_ok("init", "--data-dir", str(self.config.parent))
        with self.config.open("a") as handle:
            for key, value in extra.items():
                handle.write(f"{key} = {json.dumps(value)}\n")

    def env(self) -> dict[str, str]:
        return {k: v for k, v in os.environ.items() if not k.startswith("APPLIANCE_")} | LIGHT_ENV | {
            "APPLIANCE_CONFIG": str(self.config)}

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([str(APPLIANCE), *args], env=self.env(), capture_output=True, text=True, timeout=300,
                                check=False)
        self.outputs += [result.stdout, result.stderr]
        return result

    def run_ok(self, *args: str) -> str:
        result = self.run(*args)
        assert result.returncode == 0, result.stderr
        return result.stdout

    def add_reports(self, count: int, label: str) -> None:
        ctx = build_context(load_settings(self.env()))
        try:
            add_reports(ctx, count, label)
        finally:
            ctx.close()
