"""The ``one_session`` mechanism itself (tests/conftest.py): a test starts on the shared database
as the migration left it, its commits stay inside its transaction, and a second connection fails
loudly instead of quietly reading other data."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from appliance.actors import CLI
from appliance.services import Services
from appliance.tenants.models import Tenant

pytestmark = pytest.mark.one_session


@pytest.mark.parametrize("slug", ["first", "second"])
def test_each_test_starts_empty_and_its_commits_stay_in_its_transaction(services: Services, slug: str) -> None:
    assert services.session.execute(sa.select(sa.func.count()).select_from(Tenant)).scalar_one() == 0
    services.tenants.create_tenant(f"{slug.title()} AB", slug, CLI)
    services.session.commit()
    assert [t.slug for t in services.session.execute(sa.select(Tenant)).scalars()] == [slug]


def test_a_second_connection_is_refused_with_the_way_out(services: Services) -> None:
    with pytest.raises(RuntimeError, match="mark it fresh_database"), services.ctx.sessions() as other:
        other.execute(sa.text("SELECT 1"))


@pytest.mark.fresh_database
def test_fresh_database_overrides_the_module_mark(services: Services) -> None:
    with services.ctx.sessions() as other:
        assert other.execute(sa.text("SELECT 1")).scalar_one() == 1
