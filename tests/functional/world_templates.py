"""The web tests' world, built once per backend in each test process and copied for every test.

Building the world (tests/functional/world.py: two tenants, staff of every role with TOTP, three
reports with files, messages, notes, named persons, a disclosure, an insider section...) goes
through the real services and costs seconds per test. The database it leaves is the same for
every test: it is built once per backend per process (an xdist worker) and each test gets a copy
of it, the way tests/support.py's ``Templates`` hand out copies of the migrated schema (a file
copy on SQLite, ``CREATE DATABASE ... TEMPLATE`` on PostgreSQL; the person key vault is copied
with it). The test's own context, app and clock are put into the copy's ``World``.

A test whose settings or clock are not the suite's defaults (a module of its own ``settings``,
a clock set elsewhere) is not given a copy: its ``world`` fixture builds the world as before.
"""

from __future__ import annotations

import dataclasses
import gc
import shutil
import uuid
from pathlib import Path

from appliance.context import build_context
from appliance.services import Services
from appliance.settings import Settings
from tests.functional.world import World, build_world
from tests.support import FrozenClock, Templates, make_settings, pg_create, pg_drop, settings_on_copies
from webapp import create_app


@dataclasses.dataclass(frozen=True)
class _Built:
    world: World
    settings: Settings


class WorldTemplates:
    def __init__(self, templates: Templates, root: Path) -> None:
        self.templates = templates
        self.root = root
        self._built: dict[str, _Built] = {}
        self._copies: dict[str, World] = {}  # the database URL of a test's copy -> its world
        self._databases: list[str] = []

    def settings(self, backend: str, directory: Path) -> Settings:
        """Settings for a copy of the world's database (and vault) in ``directory``, as
        tests/conftest.py's ``settings`` fixture makes them for the migrated template."""
        built = self._build(backend)
        shutil.copyfile(self.templates.key_dir / "master.key", directory / "master.key")
        (directory / "master.key").chmod(0o400)
        if backend == "sqlite":
            source = Path(built.settings.database_url.removeprefix("sqlite+pysqlcipher:///")).parent
            for name in ("appliance.db", "appliance.db-wal", "vault.db", "vault.db-wal"):
                if (source / name).exists():
                    shutil.copyfile(source / name, directory / name)
            settings = make_settings(directory, f"sqlite+pysqlcipher:///{directory / 'appliance.db'}")
        else:
            assert built.settings.vault_database_url is not None
            url = pg_create(f"appliance_t_{_suffix()}", template=_database(built.settings.database_url))
            vault = pg_create(f"appliance_v_{_suffix()}", template=_database(built.settings.vault_database_url))
            settings = make_settings(directory, url, vault_database_url=vault)
        self._copies[settings.database_url] = built.world
        return settings

    def world_for(self, settings: Settings) -> World | None:
        """The world in the database of ``settings`` when it is a copy made by ``settings()``."""
        return self._copies.pop(settings.database_url, None)

    def _build(self, backend: str) -> _Built:
        if backend not in self._built:
            settings, databases = settings_on_copies(self.templates, self.root / backend, backend)
            self._databases += databases
            clock = FrozenClock()
            context = build_context(settings, clock=clock)
            try:
                app = create_app(context)
                app.config["TESTING"] = True
                with context.sessions() as session:
                    world = build_world(app, context, Services(context, session), clock)
                assert clock.now == FrozenClock().now, "building the world moved the clock: copies would not match"
            finally:
                gc.collect()
                context.close()  # no connection may stay open on a template
            self._built[backend] = _Built(world, settings)
        return self._built[backend]

    def close(self) -> None:
        for name in self._databases:
            pg_drop(name)


def _database(url: str) -> str:
    return url.rsplit("/", 1)[1]


def _suffix() -> str:
    return uuid.uuid4().hex[:12]
