"""Shared by the benchmarks: fresh databases, an HTTPS test client, multipart bodies, tables."""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.test import TestResponse

from appliance.context import AppContext
from appliance.crypto.keys import MasterKey
from appliance.services import Services
from appliance.settings import Settings
from tests.support import BACKENDS, make_settings, migrate, pg_admin, pg_drop, pg_url
from tests.web import csrf_token

__all__ = ["BACKENDS", "Figures", "HttpsClient", "Multipart", "fresh_database", "median_seconds", "parse_args",
           "print_table"]

Figures = dict[str, float]
ORIGIN = "https://localhost"


@contextlib.contextmanager
def fresh_database(backend: str, **overrides: object) -> Iterator[Settings]:
    """Settings for a new, migrated database of ``backend``, dropped afterwards.

    Production settings (https base URL, Secure cookies, strict CSRF referrer checks,
    default upload limits) except light argon2, which no benchmark here measures.
    """
    with tempfile.TemporaryDirectory(prefix="appliance-bench-") as tmp:
        directory = Path(tmp)
        MasterKey.create(directory / "master.key")
        pg_name = None
        if backend == "sqlite":
            url = f"sqlite+pysqlcipher:///{directory / 'appliance.db'}"
        else:
            pg_name = f"appliance_bench_{uuid.uuid4().hex[:12]}"
            pg_admin(f'CREATE DATABASE "{pg_name}"')
            url = pg_url(pg_name)
        try:
            settings = make_settings(directory, url, **{"cookie_secure": True, "base_url": ORIGIN, **overrides})
            migrate(settings)
            yield settings
        finally:
            if pg_name is not None:
                pg_drop(pg_name)


class HttpsClient:
    """Flask's test client as a browser on https: same-origin Referer, Secure cookies."""

    def __init__(self, app: Flask) -> None:
        self._client = app.test_client()

    def get(self, path: str, **kw: Any) -> TestResponse:
        return self._client.get(path, base_url=ORIGIN, headers={"Referer": f"{ORIGIN}/"}, **kw)

    def post(self, path: str, **kw: Any) -> TestResponse:
        return self._client.post(path, base_url=ORIGIN, headers={"Referer": f"{ORIGIN}{path}"}, **kw)

    def token(self, path: str) -> str:
        """The CSRF token of the form on ``path`` (the session cookie comes with it)."""
        page = self.get(path)
        return csrf_token(page.get_data(as_text=True), f"{path} (HTTP {page.status_code})")


def form_references(context: AppContext, slug: str, count: int) -> list[str]:
    """References of ``count`` report forms of the portal, as its form page hands them out: each
    post is then a report of its own (a second post of one form files nothing)."""
    with context.unit_of_work() as session:
        services = Services(context, session)
        tenant = services.tenants.by_slug(slug)
        return [services.report_receipts.new_form(tenant.id) for _ in range(count)]


class Multipart:
    """multipart/form-data built by hand, so a large file part can be streamed."""

    boundary = "appliance-bench-7MA4YWxkTrZu0gW"
    content_type = f"multipart/form-data; boundary={boundary}"

    @classmethod
    def fields(cls, values: dict[str, str]) -> bytes:
        return b"".join(
            f'--{cls.boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
            for name, value in values.items())

    @classmethod
    def file_head(cls, field: str, filename: str, content_type: str) -> bytes:
        return (f'--{cls.boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
                f"Content-Type: {content_type}\r\n\r\n").encode()

    @classmethod
    def end(cls) -> bytes:
        return f"\r\n--{cls.boundary}--\r\n".encode()


def median_seconds(action: Callable[[], object], repeat: int) -> float:
    """Median wall time of ``repeat`` runs after one warm-up run."""
    action()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def print_table(title: str, goal: str, header: Sequence[str], rows: Sequence[Sequence[object]],
                notes: Sequence[str] = ()) -> None:
    cells = [[_cell(v) for v in row] for row in [header, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    line = "  ".join("-" * w for w in widths)
    print(f"\n{title}\nGoal: {goal}")
    print(line)
    for index, row in enumerate(cells):
        print("  ".join(c.rjust(w) if index and i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))))
        if index == 0:
            print(line)
    print(line)
    for note in notes:
        print(f"Note: {note}")
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"Note: machine: {os.cpu_count()} CPUs, load average {load} (1/5/15 min) at the end; "
          "figures are noisy when other work runs", flush=True)
    print(flush=True)


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}"
    return str(value)


def parse_args(description: str | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks the code, not the figures")
    parser.add_argument("--backend", action="append", choices=BACKENDS,
                        help="only this database backend (repeatable; default: all)")
    return parser.parse_args()


@contextlib.contextmanager
def stopped_at_end(process: subprocess.Popen[bytes]) -> Iterator[subprocess.Popen[bytes]]:
    """The block's server process, terminated when the block ends (killed after 30 s)."""
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
