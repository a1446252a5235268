"""The console script as a test drives it: an installation in a temporary directory (`Appliance`),
the same installation opened in this process (`in_process`), and the first steps a new
installation takes (own passwords, a started reader list, a filed report)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appliance.actors import CLI
from appliance.cases.reporting import ReportForm
from appliance.context import build_context
from appliance.services import Services
from appliance.settings import load_settings
from tests.light import LIGHT_ENV
from tests.support import pg_admin, pg_drop, pg_url, principal, start_reader_list

APPLIANCE = Path(sys.executable).with_name("appliance")


PASSWORD = "correct horse battery staple"




@dataclass
class Appliance:
    """Runs the console script with one configuration, in its own working directory."""

    cwd: Path
    config: Path

    @property
    def data_dir(self) -> Path:
        return self.config.parent

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("APPLIANCE_")}
        return env | LIGHT_ENV | {"APPLIANCE_CONFIG": str(self.config)}

    def run(self, *args: str, stdin: str = "", timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(APPLIANCE), *args], cwd=self.cwd, env=self.env(), input=stdin,
                              capture_output=True, text=True, timeout=timeout, check=False)

    def ok(self, *args: str, stdin: str = "") -> str:
        result = self.run(*args, stdin=stdin)
        assert result.returncode == 0, f"{args}: {result.stderr}"
        assert "Traceback" not in result.stderr
        return result.stdout

    def run_all(self, commands: list[tuple[str, ...]], stdin: str = "") -> list[subprocess.CompletedProcess[str]]:
        """Run several commands at once; only for commands that fail before opening the database."""
        running = []
        for args in commands:
            process = subprocess.Popen([str(APPLIANCE), *args], cwd=self.cwd, env=self.env(), text=True,
                                       stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            running.append((args, process))
        results = []
        for args, process in running:
            out, err = process.communicate(stdin, timeout=300)
            results.append(subprocess.CompletedProcess([str(APPLIANCE), *args], process.returncode, out, err))
        return results

    def json(self, *args: str, stdin: str = "") -> Any:
        return json.loads(self.ok(*args, "--json", stdin=stdin))

    def fails(self, *args: str, stdin: str = "") -> tuple[int, str]:
        """Exit code and the one line a failing command must print on stderr."""
        return one_line_failure(self.run(*args, stdin=stdin))

    def init(self, *extra: str) -> str:
        return self.ok("init", "--data-dir", str(self.data_dir), *extra)


@contextmanager
def initialised_on(backend: str, tmp_path: Path) -> Iterator[Appliance]:
    """An initialised installation on the embedded database or on a new PostgreSQL database
    (dropped afterwards)."""
    app = Appliance(tmp_path, tmp_path / "D" / "appliance.toml")
    database = None
    if backend == "postgres":
        database = f"appliance_cli_{uuid.uuid4().hex[:12]}"
        pg_admin(f'CREATE DATABASE "{database}"')
        app.init("--database-url", pg_url(database))
    else:
        app.init()
    try:
        yield app
    finally:
        if database:
            pg_drop(database)


@contextmanager
def in_process(app: Appliance) -> Iterator[Services]:
    """The same installation opened in this process, from its settings alone (as a web request,
    a second host or a restarted app would); commits when the block succeeds."""
    ctx = build_context(load_settings(environ=app.env()))
    try:
        with ctx.unit_of_work() as session:
            yield Services(ctx, session)
    finally:
        ctx.close()


def choose_own_password(app: Appliance, email: str, password: str = PASSWORD) -> None:
    """What the user does at their first sign-in: replace the password IT set with their own."""
    with in_process(app) as services:
        user = services.users.by_email(email)
        services.users.choose_password(user.id, password, CLI)
        services.readers.notice_new_keys(user.id)


def start_readers(app: Appliance, slug: str, handler_email: str, admin_email: str) -> None:
    """The handler starts the reader list on their page; the compliance lead (an admin) confirms
    it with the fingerprint (both have chosen their own password, PASSWORD)."""
    with in_process(app) as services:
        tenant = services.tenants.by_slug(slug)
        handler, admin = (principal(services, services.users.by_email(e).id, PASSWORD)
                          for e in (handler_email, admin_email))
        start_reader_list(services, tenant.id, handler, admin)


def offline(directory: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """The console script on a machine with only the package installed: no configuration."""
    directory.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("APPLIANCE_")} | LIGHT_ENV
    return subprocess.run([str(APPLIANCE), *args], cwd=directory, env=env, input=stdin, capture_output=True,
                          text=True, timeout=120, check=False)


def one_line_failure(result: subprocess.CompletedProcess[str]) -> tuple[int, str]:
    args = result.args[1:]
    assert result.returncode != 0, f"{args} succeeded: {result.stdout}"
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, f"{args}: expected one line on stderr, got {result.stderr!r}"
    return result.returncode, lines[0]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


PASSPHRASE = "orchid tundra lantern basalt quiver"


def file_report(app: Appliance, what: str) -> str:
    with in_process(app) as services:
        tenant = services.tenants.by_slug("example")
        category = services.tenants.categories(tenant.id)[0]
        return services.reporting.submit(tenant, ReportForm(category.id, what), []).case_key
