"""Shared CLI plumbing: one clear line and an exit code per failure, lazy context, --json."""

from __future__ import annotations

import inspect
import json
import re
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

# Shown by `appliance --help` and in the README ("Exit codes"); tests/functional/test_cli_help.py
# keeps the three in step with appliance/errors.py.
EXIT_CODES = (
    (0, "success"),
    (1, "a check or an operation failed (doctor, audit verify, a job, a backup)"),
    (2, "usage: unknown option, missing or invalid value, a clash with existing state"),
    (3, "not allowed: role, own account, sign-in, lockout"),
    (4, "decryption failed: wrong key or passphrase, or tampered data"),
    (6, "not found: the line names what and which (a tenant, a user, a case)"),
    (7, "no key of yours opens this case"),
    (8, "the escrow key cannot be used"),
    (9, "tampering found: a signed chain or key binding does not verify"),
    (69, "unavailable: database, mail server, listen address, person key vault"),
    (77, "permission denied on a file: run as the appliance's user"),
    (78, "configuration: a setting or the master key file"),
)
EXIT_CODES_EPILOG = "\b\nExit codes:\n" + "\n".join(f"  {code:>2}  {meaning}" for code, meaning in EXIT_CODES)
_SENTENCE_END = re.compile(r"(?<!\be\.g)(?<!\bi\.e)\.(?=\s+[A-Z(`]|$)")


def first_sentence(help_text: str) -> str:
    """The first sentence of a command's help, whole (click's own summary cuts it at ~45
    characters and adds "...")."""
    paragraph = inspect.cleandoc(help_text).split("\n\n")[0]
    flat = " ".join(paragraph.split())
    end = _SENTENCE_END.search(flat)
    return flat[: end.start()] if end else flat.rstrip(".")


def summarise_whole_sentences(group: click.Group) -> None:
    """Give every command below ``group`` its whole first sentence as its summary in listings."""
    for command in group.commands.values():
        if command.short_help is None and command.help:
            command.short_help = first_sentence(command.help)
        if isinstance(command, click.Group):
            summarise_whole_sentences(command)


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
