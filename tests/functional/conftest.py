"""Fixtures for the functional tests of the domain services: tenants, staff and reports.

Everything here goes through the real services on the real databases of tests/conftest.py
(SQLite/SQLCipher and PostgreSQL); nothing of our own is mocked.
"""

from __future__ import annotations

import dataclasses
import io
import shutil
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from email import message_from_bytes
from pathlib import Path

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from sqlalchemy.orm import Session

from appliance.actors import CLI, Role, StaffPrincipal
from appliance.cases.attachments import Download, Upload
from appliance.cases.reporting import NewReport, Receipt
from appliance.context import AppContext
from appliance.services import Services
from appliance.tenants.models import Tenant
from tests.functional.world import World, build_world
from tests.functional.world_templates import WorldTemplates
from tests.support import FrozenClock, Templates, add_reader, pg_admin, pg_url, principal, start_reader_list

STAFF_PASSWORD = "correct horse battery staple"

StaffFactory = Callable[..., StaffPrincipal]
ReportFactory = Callable[..., Receipt]
ReaderFactory = Callable[..., StaffPrincipal]
ServicesOpener = Callable[[], AbstractContextManager[Services]]


@dataclass(frozen=True)
class Org:
    """A tenant, two of its categories, one handler working there (the first reader, who
    receives every new report) and the administrator who confirmed them."""

    tenant: Tenant
    category_id: uuid.UUID
    other_category_id: uuid.UUID
    handler: StaffPrincipal
    admin: StaffPrincipal


class Inbox:
    """A real SMTP server on loopback (aiosmtpd) that keeps what it receives."""

    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        self.messages.append(envelope.content)  # type: ignore[attr-defined]
        return "250 OK"

    def recipients(self) -> list[str]:
        return sorted(str(message_from_bytes(m)["To"]) for m in self.messages)


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    from appliance.backup.drivers.postgres import free_port

    handler = Inbox()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield handler, port
    controller.stop()


def upload(filename: str, data: bytes, content_type: str = "application/pdf") -> Upload:
    return Upload(filename, content_type, io.BytesIO(data))


def drain(download: Download) -> bytes:
    return b"".join(download.chunks)


def copy_database(backend: str, ctx: AppContext, directory: Path) -> str:
    """A copy of the database as it is now (what a backup or a thief holds); its URL. The
    context's pooled connections are closed first (PostgreSQL copies only an idle database)."""
    ctx.engine.dispose()
    source = sa.make_url(ctx.settings.database_url)
    if backend == "sqlite":
        for suffix in ("", "-wal"):
            if Path(f"{source.database}{suffix}").exists():
                shutil.copyfile(f"{source.database}{suffix}", directory / f"copy.db{suffix}")
        return f"{source.drivername}:///{directory / 'copy.db'}"
    name = f"appliance_copy_{uuid.uuid4().hex[:10]}"
    pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{source.database}"')
    return pg_url(name)


def count_rows(session: Session, table: str) -> int:
    return int(session.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())


@pytest.fixture
def make_staff(services: Services) -> StaffFactory:
    """make_staff((tenant, Role.HANDLER), ..., email=None) -> principal; committed."""

    def make(*grants: tuple[Tenant, Role], email: str | None = None) -> StaffPrincipal:
        address = email or f"staff-{uuid.uuid4().hex[:10]}@example.com"
        user, _ = services.users.create_user(address, STAFF_PASSWORD, [(t.id, r) for t, r in grants], CLI,
                                             chosen_by_user=True)
        services.session.commit()
        return principal(services, user.id, STAFF_PASSWORD)

    return make


def _org(services: Services, make_staff: StaffFactory, name: str, slug: str) -> Org:
    tenant = services.tenants.create_tenant(name, slug, CLI)
    services.session.commit()
    categories = services.tenants.categories(tenant.id)
    handler, admin = make_staff((tenant, Role.HANDLER)), make_staff((tenant, Role.ADMIN))
    start_reader_list(services, tenant.id, handler, admin)
    services.session.commit()
    return Org(tenant, categories[0].id, categories[1].id, handler, admin)


@pytest.fixture
def make_reader(services: Services, make_staff: StaffFactory) -> ReaderFactory:
    """make_reader(org, receives=True, email=None) -> a new handler of the org, confirmed onto its
    reader list by the org's first reader; committed."""

    def make(org: Org, receives: bool = True, email: str | None = None) -> StaffPrincipal:
        staff = make_staff((org.tenant, Role.HANDLER), email=email)
        add_reader(services, org.tenant.id, org.handler, staff.user_id, receives=receives)
        services.session.commit()
        return staff

    return make


@pytest.fixture
def org_a(services: Services, make_staff: StaffFactory) -> Org:
    return _org(services, make_staff, "Alpha AB", "alpha")


@pytest.fixture
def org_b(services: Services, make_staff: StaffFactory) -> Org:
    return _org(services, make_staff, "Beta GmbH", "beta")


@pytest.fixture
def file_report(services: Services) -> ReportFactory:
    """file_report(org, what=..., uploads=[...], **form) -> Receipt; committed."""

    def submit(org: Org, what: str = "The warehouse stock is sold off the books.",
               uploads: Iterable[Upload] = (), category_id: uuid.UUID | None = None, **fields: str) -> Receipt:
        form = NewReport(category_id or org.category_id, what, **fields)
        receipt = services.reporting.submit(org.tenant, form, list(uploads))
        services.session.commit()
        return receipt

    return submit


@pytest.fixture
def other_services(ctx: AppContext) -> ServicesOpener:
    """A second, independent unit of work (a new Session), as another request would have.

    On SQLite every transaction takes the write lock, so the caller must end the first
    session's transaction (commit or rollback) before using this one.
    """

    @contextmanager
    def open_services() -> Iterator[Services]:
        with ctx.sessions() as session:
            try:
                yield Services(ctx, session)
            finally:
                session.rollback()

    return open_services


@pytest.fixture(scope="session")
def world_templates(templates: Templates, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorldTemplates]:
    """The world built once per backend in this process; tests/conftest.py's ``settings`` hands a
    ``world`` test a copy of its database (tests/functional/world_templates.py)."""
    holder = WorldTemplates(templates, tmp_path_factory.mktemp("worlds"))
    yield holder
    holder.close()


@pytest.fixture
def world(app, ctx: AppContext, services: Services, clock: FrozenClock,  # type: ignore[no-untyped-def]
          world_templates: WorldTemplates) -> World:
    """Two tenants with staff of every role and filed reports (tests/functional/world.py): a copy
    of the world built once, or built here when the test's settings are not a copy of it."""
    copied = world_templates.world_for(ctx.settings)
    if copied is None:
        return build_world(app, ctx, services, clock)
    return dataclasses.replace(copied, app=app, ctx=ctx, clock=clock, signed_in={})
