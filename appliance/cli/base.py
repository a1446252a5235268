"""Shared CLI plumbing: one clear line and an exit code per failure, lazy context, --json."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click
import sqlalchemy as sa

from appliance.context import AppContext, build_context
from appliance.errors import ApplianceError
from appliance.services import Services
from appliance.settings import Settings, load_settings


class ApplianceGroup(click.Group):
    """Maps domain errors to one line on stderr and a non-zero exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ApplianceError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except sa.exc.OperationalError as exc:
            first = str(exc.orig).strip().splitlines()[0] if exc.orig else "cannot reach the database"
            click.echo(f"error: database: {first}", err=True)
            sys.exit(69)
        except PermissionError as exc:  # e.g. DATA_DIR owned by another user: one line, not a traceback
            click.echo(f"error: {exc.filename or 'a file'}: permission denied; run as the appliance's user "
                       "(check the owner and mode of DATA_DIR)", err=True)
            sys.exit(77)  # EX_NOPERM


class Runtime:
    """Loaded on first use, so `init` and `--help` work without a configuration."""

    def __init__(self) -> None:
        self._settings: Settings | None = None
        self._context: AppContext | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings()
        return self._settings

    @property
    def context(self) -> AppContext:
        if self._context is None:
            self._context = build_context(self.settings)
        return self._context

    def context_creating_vault(self) -> AppContext:
        """The context for the few commands that may create a missing person key vault file
        (`backup restore-vault`; `db upgrade` of a database holding no person yet)."""
        if self._context is None:
            self._context = build_context(self.settings, create_vault=True)
        return self._context

    @contextmanager
    def services(self) -> Iterator[Services]:
        with self.context.unit_of_work() as session:
            yield Services(self.context, session)


pass_runtime = click.make_pass_decorator(Runtime, ensure=True)

json_option = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")


def emit(as_json: bool, data: Any, text: Callable[[], None]) -> None:
    if as_json:
        click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))
    else:
        text()
