"""Fixtures: every database-touching test runs on SQLite/SQLCipher and on PostgreSQL."""

from __future__ import annotations

import gc
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from appliance.context import AppContext, build_context
from appliance.services import Services
from appliance.settings import Settings
from tests.support import BACKENDS, FrozenClock, Templates, make_settings, pg_drop, pg_new


@pytest.fixture(scope="session")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Templates]:
    holder = Templates(tmp_path_factory.mktemp("templates"))
    yield holder
    holder.close()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def settings(backend: str, templates: Templates, tmp_path: Path) -> Iterator[Settings]:
    """Settings for a fresh, migrated database of the current backend."""
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
def ctx(settings: Settings, clock: FrozenClock) -> Iterator[AppContext]:
    context = build_context(settings, clock=clock)
    yield context
    # Objects a test dropped (an unread streamed response, a session) may still hold a
    # pooled connection: collect them while the pool can take it back, then dispose.
    gc.collect()
    context.close()


@pytest.fixture
def services(ctx: AppContext) -> Iterator[Services]:
    """Services on one session; the test commits when it wants data to be visible."""
    session = ctx.sessions()
    yield Services(ctx, session)
    session.rollback()
    session.close()


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
