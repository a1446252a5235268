"""Fixtures: every database-touching test runs on SQLite/SQLCipher and on PostgreSQL.

By default a test gets a fresh database (a copy of a migrated template). A module or test marked
``one_session`` instead runs its ``services`` session inside a transaction on a database shared by
the worker, rolled back at the end (Warehouse's pattern): no copy, no migration, no pool. It may
use only that one session: a second connection (a web request, ``ctx.sessions()``, a subprocess)
fails the test with a message saying so; such tests stay on fresh databases (``fresh_database``
overrides a module's ``one_session`` for one test). APPLIANCE_TEST_FRESH=1 runs every test fresh.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient
from sqlalchemy import event
from sqlalchemy.orm import Session

from appliance.context import AppContext, build_context
from appliance.crypto.unwraps import UnwrapCounter
from appliance.readers.service import VerifiedLists
from appliance.services import Services
from appliance.settings import Settings
from tests.support import BACKENDS, FrozenClock, SharedDatabases, Templates, make_settings, pg_drop, pg_drops, pg_new


def pytest_runtest_setup(item: pytest.Item) -> None:
    """What is alive when a test starts (the modules, the session's fixtures, pytest's own records)
    lives on: collected once here, then frozen out of the cyclic collector. The full collection
    each ``ctx`` teardown runs then walks only what later tests made, instead of a heap that
    grows all session (it took most of a web test's teardown)."""
    gc.collect()
    gc.freeze()


@pytest.fixture(scope="session", autouse=True)
def dropped_at_the_end() -> Iterator[None]:
    """Tests drop their PostgreSQL databases in the background (tests/support.py, ``Drops``): the
    session waits for the last of them and fails on a drop that failed."""
    yield
    pg_drops.wait()


@pytest.fixture(scope="session")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Templates]:
    holder = Templates(tmp_path_factory.mktemp("templates"))
    yield holder
    holder.close()


@pytest.fixture(scope="session")
def shared_databases(templates: Templates, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SharedDatabases]:
    holder = SharedDatabases(templates, tmp_path_factory.mktemp("shared"))
    yield holder
    holder.close()


def one_session(request: pytest.FixtureRequest) -> bool:
    """Whether this test runs in a rolled-back transaction on the worker's shared database."""
    return (request.node.get_closest_marker("one_session") is not None
            and request.node.get_closest_marker("fresh_database") is None
            and os.environ.get("APPLIANCE_TEST_FRESH") != "1")


def copies_the_world(request: pytest.FixtureRequest) -> bool:
    """Whether this test's fresh database is a copy of the world tests/functional builds once
    (it takes ``world`` and its clock is the suite's default one; the ``world`` fixture builds
    the world itself for any other test)."""
    return ("world" in request.fixturenames and "world_templates" in request.fixturenames
            and request.getfixturevalue("clock").now == FrozenClock().now)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def settings(request: pytest.FixtureRequest, backend: str, templates: Templates, tmp_path: Path) -> Iterator[Settings]:
    """Settings for a fresh, migrated database of the current backend (for a ``one_session``
    test: the worker's shared one, with a runtime directory of the test's own)."""
    if one_session(request):
        assert "services" in request.fixturenames, "a one_session test works through the services fixture"
        shared = request.getfixturevalue("shared_databases").context(backend).settings
        yield dataclasses.replace(shared, runtime_dir=tmp_path / "run")
        return
    if copies_the_world(request):  # the web tests' world, built once (tests/functional/world_templates.py)
        settings = request.getfixturevalue("world_templates").settings(backend, tmp_path)
        yield settings
        if backend == "postgres":
            pg_drop(settings.database_url.rsplit("/", 1)[1])
            pg_drop(str(settings.vault_database_url).rsplit("/", 1)[1])
        return
    shutil.copyfile(templates.key_dir / "master.key", tmp_path / "master.key")
    (tmp_path / "master.key").chmod(0o400)
    if backend == "sqlite":  # the vault is vault.db beside the database
        yield make_settings(tmp_path, templates.sqlite_copy(tmp_path))
        return
    # PostgreSQL: the person key vault in a database of its own, as production should have it
    url, vault = templates.pg_copy(), pg_new()
    yield make_settings(tmp_path, url, vault_database_url=vault)
    pg_drop(url.rsplit("/", 1)[1])
    pg_drop(vault.rsplit("/", 1)[1])


@pytest.fixture
def ctx(request: pytest.FixtureRequest, settings: Settings, clock: FrozenClock) -> Iterator[AppContext]:
    if one_session(request):
        shared = request.getfixturevalue("shared_databases").context(request.getfixturevalue("backend"))
        # The shared engine and keys; this test's clock, settings and per-process state.
        yield dataclasses.replace(shared, settings=settings, clock=clock, unwraps=UnwrapCounter(),
                                  verified_lists=VerifiedLists())
        return
    context = build_context(settings, clock=clock)
    yield context
    # Objects a test dropped (an unread streamed response, a session) may still hold a
    # pooled connection: collect them while the pool can take it back, then dispose (only the
    # objects made since the test started: pytest_runtest_setup froze the others).
    gc.collect()
    context.close()


@pytest.fixture
def services(request: pytest.FixtureRequest, ctx: AppContext) -> Iterator[Services]:
    """Services on one session; the test commits when it wants data to be visible (in a
    ``one_session`` test a commit releases a savepoint; everything is rolled back at the end)."""
    if one_session(request):
        with rolled_back(ctx.engine) as session:
            yield Services(ctx, session)
        return
    session = ctx.sessions()
    yield Services(ctx, session)
    session.rollback()
    session.close()


@contextlib.contextmanager
def rolled_back(engine: sa.Engine) -> Iterator[Session]:
    """A session on one connection inside a transaction that is rolled back at the end; the
    session's own commits and rollbacks become savepoints. Any other connection of the engine
    taken meanwhile fails at once: it would not see this transaction's rows (and on SQLite would
    wait on its lock)."""
    connection = engine.connect()
    transaction = connection.begin()

    def refuse(*_args: object) -> None:
        raise RuntimeError("a one_session test opened a second database connection (a request, "
                           "ctx.sessions(), another service's session): mark it fresh_database")

    event.listen(engine, "checkout", refuse)
    session = Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False,
                      autoflush=True)
    try:
        yield session
    finally:
        event.remove(engine, "checkout", refuse)
        session.close()
        transaction.rollback()
        connection.close()


@pytest.fixture
def app(ctx: AppContext):  # type: ignore[no-untyped-def]
    from webapp import create_app

    application = create_app(ctx)
    application.config["TESTING"] = True
    application.test_client_class = BufferedClient
    return application


class BufferedClient(FlaskClient):
    """Reads streamed responses (downloads) at once, so none keeps a DB connection open."""

    def open(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        kwargs.setdefault("buffered", True)
        return super().open(*args, **kwargs)
