"""The `appliance` CLI run in this process (click's CliRunner) on the test's own context: its
database (SQLite/SQLCipher or PostgreSQL, through the `backend` fixture) and its FrozenClock.
Much faster than the console script as a subprocess; use that (console.py) where the process
itself matters (configuration files, exit paths before a context exists, the real stdin)."""

from __future__ import annotations

import json
import os
from typing import Any

from click.testing import CliRunner, Result

from appliance.cli.base import Runtime
from appliance.cli.main import cli
from appliance.context import AppContext
from appliance.services import Services
from appliance.settings import Settings


class BoundRuntime(Runtime):
    """The test's context (its database and FrozenClock) instead of a configuration file."""

    def __init__(self, ctx: AppContext) -> None:
        super().__init__()
        self._ctx = ctx

    @property
    def settings(self) -> Settings:
        return self._ctx.settings

    @property
    def context(self) -> AppContext:
        return self._ctx


class Console:
    def __init__(self, ctx: AppContext, services: Services) -> None:
        self.ctx = ctx
        self.services = services

    def run(self, *args: str, stdin: str | None = None) -> Result:
        self.services.session.commit()  # the test's own session must not hold SQLite's write lock
        umask = os.umask(0o022)
        os.umask(umask)
        try:
            return CliRunner().invoke(cli, list(args), input=stdin, obj=BoundRuntime(self.ctx), catch_exceptions=False)
        finally:
            os.umask(umask)  # the group callback sets the CLI's own umask for the process

    def ok(self, *args: str, stdin: str | None = None) -> str:
        result = self.run(*args, stdin=stdin)
        assert result.exit_code == 0, (args, result.stderr)
        return result.stdout

    def json(self, *args: str, stdin: str | None = None) -> Any:
        return json.loads(self.ok(*args, "--json", stdin=stdin))

    def fails(self, *args: str, stdin: str | None = None) -> tuple[int, str]:
        result = self.run(*args, stdin=stdin)
        assert result.exit_code != 0, (args, result.stdout)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), (args, result.stderr)
        assert "Traceback" not in result.output
        return result.exit_code, lines[0]
