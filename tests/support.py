"""Helpers shared by the test suites: a settable clock, light settings, databases."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import threading
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import psycopg
import sqlalchemy as sa

from appliance.actors import CLI, Role, StaffPrincipal
from appliance.context import AppContext, build_context
from appliance.crypto.keys import MasterKey
from appliance.crypto.signing import key_fingerprint, show_fingerprint
from appliance.migrations import runner
from appliance.readers.service import Signer
from appliance.services import Services
from appliance.settings import Settings, build_settings
from appliance.tenants.models import Tenant
from tests.light import LIGHT, LIGHT_ARGON2

PG_ADMIN_URL = os.environ.get("APPLIANCE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
BACKENDS = ("sqlite", "postgres")



class FrozenClock:
    """A clock that only moves when a test says so."""

    def __init__(self, start: dt.datetime | None = None) -> None:
        self.now = start or dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


def make_settings(directory: Path, database_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": database_url,
        "master_key_file": str(directory / "master.key"),
        "data_dir": str(directory),
        # Never the host's /run/appliance: each test has its own ephemeral store.
        "runtime_dir": str(directory / "run"),
        "cookie_secure": False,
        **LIGHT,
    }
    values.update(overrides)
    return build_settings(values, base_dir=directory)


def pg_url(database: str) -> str:
    """A database on the suite's PostgreSQL server: APPLIANCE_TEST_PG's host and port (./scripts/test
    points it at a private cluster when nothing answers on 127.0.0.1:5432)."""
    server = sa.engine.make_url(PG_ADMIN_URL)
    return server.set(drivername="postgresql+psycopg", database=database).render_as_string(hide_password=False)


# A test database is thrown away after the test: its commits need not wait for the WAL to reach
# the disk (a crash of the server is no test's subject; the backup tests run their own cluster).
# The setting is per database (ALTER DATABASE), so the URLs handed to the app and to console
# scripts stay plain, and the server's other databases keep theirs.
NO_WAIT = "-c synchronous_commit=off"


def pg_admin(sql: str) -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True, options=NO_WAIT) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


def pg_create(name: str, template: str | None = None) -> str:
    """CREATE DATABASE (as a copy of ``template``) for a test, its commits not waiting on fsync; its URL."""
    with psycopg.connect(PG_ADMIN_URL, autocommit=True, options=NO_WAIT) as conn:
        conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))  # type: ignore[arg-type]
        conn.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')  # type: ignore[arg-type]
    return pg_url(name)


def pg_new(prefix: str = "appliance_v_") -> str:
    """A new, empty database (e.g. a test's person key vault); its URL."""
    return pg_create(f"{prefix}{uuid.uuid4().hex[:12]}")


def pg_drop(database: str) -> None:
    """Drop a test's database in the background (see ``Drops``); ``pg_drops.wait()`` waits for every one."""
    pg_drops.submit(database)


def pg_drop_now(database: str) -> None:
    pg_admin(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{database}'")
    pg_admin(f'DROP DATABASE IF EXISTS "{database}"')


class Drops:
    """DROP DATABASE waits for a checkpoint of the whole server (PostgreSQL 15 forces one), seconds
    on a busy machine with fsync on, and a test's teardown used to wait for two of them. Here the
    drops run on a few threads while the next tests run; drops waiting together share one
    checkpoint. A failed drop is raised by ``wait()`` (the ``templates`` fixture calls it at the
    end of the session), so no failure goes unseen."""

    THREADS = 8

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._pending: list[Future[None]] = []

    def submit(self, database: str) -> None:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.THREADS, thread_name_prefix="pg-drop")
            self._pending.append(self._pool.submit(pg_drop_now, database))

    def wait(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, []
        errors = [error for error in (future.exception() for future in pending) if error is not None]
        if errors:
            raise errors[0]


pg_drops = Drops()


class Templates:
    """One migrated database per backend per test run; each test gets a fresh copy."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.key_dir = root / "keys"
        self.key_dir.mkdir()
        MasterKey.create(self.key_dir / "master.key")
        self._sqlite: Path | None = None
        self._pg: str | None = None

    def sqlite_copy(self, directory: Path) -> str:
        if self._sqlite is None:
            self._sqlite = self.root / "template.db"
            migrate(make_settings(self.key_dir, f"sqlite+pysqlcipher:///{self._sqlite}"))
        target = directory / "appliance.db"
        shutil.copyfile(self._sqlite, target)
        # The person key vault beside it, as `appliance init` leaves it (a missing one is refused).
        shutil.copyfile(self.key_dir / "vault.db", directory / "vault.db")
        return f"sqlite+pysqlcipher:///{target}"

    def pg_copy(self) -> str:
        if self._pg is None:
            self._pg = f"appliance_tpl_{uuid.uuid4().hex[:10]}"
            migrate(make_settings(self.key_dir, pg_create(self._pg)))
        return pg_create(f"appliance_t_{uuid.uuid4().hex[:12]}", template=self._pg)

    def close(self) -> None:
        pg_drops.wait()  # the copies first (none of them is in use any more)
        if self._pg:
            pg_drop_now(self._pg)


def migrate(settings: Settings) -> None:
    """The schema and the person key vault, as `appliance init` makes them."""
    context = build_context(settings, check=False, create_database=True)
    try:
        runner.upgrade(context.engine)
        if context.vault.separate:
            context.vault.ensure_schema()
    finally:
        context.close()


def database_name(ctx: AppContext) -> str | None:
    url = sa.make_url(ctx.settings.database_url)
    return url.database if url.get_backend_name() == "postgresql" else None


def start_reader_list(services: Services, tenant_id: uuid.UUID, handler: StaffPrincipal,
                      admin: StaffPrincipal) -> None:
    """What a handler and the compliance lead do on their pages: the handler asks to be the
    first reader, the lead types the fingerprint the handler reads out. Not committed."""
    change = services.readers.request_start(tenant_id, handler)
    assert change.box_key is not None and change.sign_key is not None
    services.readers.confirm_start(tenant_id, change.id, admin,
                                   show_fingerprint(key_fingerprint(change.box_key, change.sign_key)))


def add_reader(services: Services, tenant_id: uuid.UUID, by: StaffPrincipal, user_id: uuid.UUID,
               receives: bool = True) -> None:
    """An administrator (here: the CLI) proposes a reader and the reader ``by`` confirms it. Not committed."""
    change = services.readers.propose_add(tenant_id, user_id, CLI, "cli", receives=receives)
    services.readers.confirm(tenant_id, change.id, Signer.user(by), by.actor)


def principal(services: Services, user_id: uuid.UUID, password: str) -> StaffPrincipal:
    """A signed-in user's principal, with their key unlocked as their session would hold it."""
    return services.users.principal(user_id, services.users.unlock_private_key(user_id, password))


ESCROW_PASSPHRASE = "orchid tundra lantern basalt quiver"


def install_escrow(services: Services, tenant_id: uuid.UUID, slug: str, reader: StaffPrincipal,
                   passphrase: str = ESCROW_PASSPHRASE) -> str:
    """An escrow key made as `appliance keys escrow init` makes it offline, installed and confirmed
    by ``reader``; returns the private file's text. Not committed."""
    from appliance.crypto.escrow_file import read_public_file, write_escrow_files
    from appliance.crypto.sealing import new_private_key

    params = LIGHT_ARGON2
    private_text, public_text = write_escrow_files(slug, new_private_key(), passphrase, params, services.ctx.clock())
    tenant = services.tenants.by_slug(slug)
    assert tenant.id == tenant_id
    _key, change = services.case_key_pairs.install_escrow(tenant, read_public_file(public_text), CLI)
    services.readers.confirm(tenant_id, change.id, Signer.user(reader), reader.actor)
    return private_text


def tenant_with_reader(services: Services, name: str, slug: str, handler_email: str | None = None,
                       password: str = "correct horse battery") -> tuple[Tenant, StaffPrincipal, StaffPrincipal]:
    """A new tenant with a handler who is its first reader (receiving every new report) and the
    administrator who confirmed them; both with ``password`` as their own. Not committed."""
    tenant = services.tenants.create_tenant(name, slug, CLI)
    staff = []
    for email, role in ((handler_email or f"handler-{uuid.uuid4().hex[:8]}@{slug}.example", Role.HANDLER),
                        (f"admin-{uuid.uuid4().hex[:8]}@{slug}.example", Role.ADMIN)):
        user, _ = services.users.create_user(email, password, [(tenant.id, role)], CLI, chosen_by_user=True)
        staff.append(principal(services, user.id, password))
    start_reader_list(services, tenant.id, staff[0], staff[1])
    return tenant, staff[0], staff[1]


def settings_on_copies(templates: Templates, directory: Path, backend: str) -> tuple[Settings, list[str]]:
    """Settings in ``directory`` (made here) with the templates' master key, on a copy of the
    migrated template database (and, on PostgreSQL, a new vault database), and the names of the
    PostgreSQL databases made, for the caller to drop."""
    directory.mkdir()
    shutil.copyfile(templates.key_dir / "master.key", directory / "master.key")
    (directory / "master.key").chmod(0o400)
    if backend == "sqlite":
        return make_settings(directory, templates.sqlite_copy(directory)), []
    url, vault = templates.pg_copy(), pg_new()
    return make_settings(directory, url, vault_database_url=vault), [url.rsplit("/", 1)[1], vault.rsplit("/", 1)[1]]


class SharedDatabases:
    """One migrated database per backend for this test process (an xdist worker), kept open for
    the ``one_session`` tests: each runs inside a transaction rolled back at its end, so the next
    one finds the database as the migration left it, without copying a template."""

    def __init__(self, templates: Templates, root: Path) -> None:
        self.templates = templates
        self.root = root
        self._contexts: dict[str, AppContext] = {}
        self._databases: list[str] = []

    def context(self, backend: str) -> AppContext:
        if backend not in self._contexts:
            settings, databases = settings_on_copies(self.templates, self.root / backend, backend)
            self._databases += databases
            self._contexts[backend] = build_context(settings)
        return self._contexts[backend]

    def close(self) -> None:
        for context in self._contexts.values():
            context.close()
        for name in self._databases:
            pg_drop(name)
