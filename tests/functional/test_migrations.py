"""Migrations and models agree on every backend; the schema round-trips down and up."""

from __future__ import annotations

import datetime as dt
import os
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from appliance.actors import CLI, Role
from appliance.cases.models import Case
from appliance.context import AppContext, build_context
from appliance.crypto.keys import MasterKey
from appliance.migrations import runner
from appliance.models import Base
from appliance.services import Services
from appliance.tenants.models import ReportingChannel
from appliance.users.models import Throttle
from tests.functional.conftest import Org, ReportFactory
from tests.support import make_settings


def test_migrated_schema_matches_the_models(ctx: AppContext) -> None:
    with ctx.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), Base.metadata)
    assert diff == []


def test_schema_is_at_head_and_round_trips(ctx: AppContext) -> None:
    assert runner.current_revision(ctx.engine) == runner.head_revision()
    config = runner.alembic_config()
    with ctx.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
    assert sa.inspect(ctx.engine).get_table_names() in ([], ["alembic_version"])
    runner.upgrade(ctx.engine)
    assert {"cases", "audit_events", "users"} <= set(sa.inspect(ctx.engine).get_table_names())
    with ctx.sessions() as session:
        assert Services(ctx, session).logbook.verify().ok


def test_0006_removes_every_throttle_row_keyed_by_a_client(ctx: AppContext) -> None:
    config = runner.alembic_config()
    with ctx.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0005")
    old = [ctx.blind_index.compute("throttle/staff-client", f"2026-03-02|192.0.2.{n}") for n in range(3)]
    old.append(ctx.blind_index.compute("throttle/case-key-client", "2026-03-02|192.0.2.9", uuid.uuid4()))
    with ctx.engine.begin() as connection:
        for key in old:
            connection.execute(Throttle.__table__.insert().values(
                key_hash=key, failures=3, last_failure_at=dt.datetime(2026, 3, 2, tzinfo=dt.UTC)))
    runner.upgrade(ctx.engine)
    assert runner.current_revision(ctx.engine) == runner.head_revision()
    with ctx.engine.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM throttles")).scalar_one() == 0


@pytest.mark.skipif(not os.environ.get("APPLIANCE_TEST_MSSQL_URL"),
                    reason="set APPLIANCE_TEST_MSSQL_URL=mssql+pymssql://user:pass@host/db to run against SQL Server")
def test_sql_server_migrations_and_a_report(tmp_path: Path) -> None:
    """Runs only against a real SQL Server (none can run on the CI machine)."""
    MasterKey.create(tmp_path / "master.key")
    settings = make_settings(tmp_path, os.environ["APPLIANCE_TEST_MSSQL_URL"])
    context = build_context(settings, create_database=True)
    try:
        runner.upgrade(context.engine)
        with context.unit_of_work() as session:
            services = Services(context, session)
            slug = f"t{uuid.uuid4().hex[:8]}"
            tenant = services.tenants.create_tenant("SQL Server AB", slug, CLI)
            services.users.create_user(f"{slug}@example.com", "correct horse battery", [(tenant.id, Role.HANDLER)], CLI)
        with context.sessions() as session:
            assert Services(context, session).logbook.verify().ok
    finally:
        context.close()


def test_0019_gives_every_tenant_a_default_channel_and_files_its_cases_there(
        ctx: AppContext, services: Services, org_a: Org, org_b: Org, file_report: ReportFactory) -> None:
    receipt = file_report(org_a)
    services.session.commit()
    services.session.close()
    config = runner.alembic_config()
    with ctx.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0018")
    assert "reporting_channels" not in sa.inspect(ctx.engine).get_table_names()
    runner.upgrade(ctx.engine)
    with ctx.sessions() as session:
        channels = session.execute(sa.select(ReportingChannel.tenant_id, ReportingChannel.name, ReportingChannel.id)
                                   .where(ReportingChannel.is_default.is_(True), ReportingChannel.active.is_(True))
                                   ).all()
        assert sorted((t, n) for t, n, _ in channels) == sorted([(org_a.tenant.id, "Alpha AB"),
                                                                 (org_b.tenant.id, "Beta GmbH")])
        filed_under = session.execute(sa.select(Case.reporting_channel_id).where(Case.id == receipt.case_id)
                                      ).scalar_one()
        assert filed_under == next(i for t, _, i in channels if t == org_a.tenant.id)
        assert Services(ctx, session).reporting.accepting(Services(ctx, session).tenants.by_slug("alpha"))
