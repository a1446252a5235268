"""API tokens on real databases: created once, stored as a keyed hash, revoked, expired, scoped."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from appliance.actors import CLI
from appliance.api_tokens.models import ApiToken
from appliance.api_tokens.service import Scope
from appliance.audit.models import AuditEvent
from appliance.cases.models import Case
from appliance.cases.reporting import NewReport
from appliance.errors import AccessDenied, AuthenticationFailed, Conflict, InvalidInput, NotFound
from appliance.services import Services
from tests.functional.conftest import Org
from tests.support import FrozenClock

pytestmark = pytest.mark.one_session


def test_a_token_is_shown_once_and_stored_only_as_a_keyed_hash(services: Services, org_a: Org) -> None:
    issued = services.api_tokens.create(org_a.tenant.id, "Hotline desk", ["reports:intake"], 30, CLI)
    row = services.session.get_one(ApiToken, issued.view.id)
    assert issued.token.startswith(f"apl_{row.lookup}_")
    stored = b"".join(str(getattr(row, c.key)).encode() if not isinstance(getattr(row, c.key), bytes)
                      else getattr(row, c.key) for c in ApiToken.__table__.columns)
    assert issued.token.encode() not in stored and issued.token.split("_", 2)[2].encode() not in stored
    assert issued.token not in repr(issued)
    principal = services.api_tokens.authenticate(issued.token)
    assert (principal.tenant_id, principal.scopes) == (org_a.tenant.id, frozenset({Scope.REPORTS_INTAKE}))
    events = services.session.execute(sa.select(AuditEvent).where(AuditEvent.action == "api_token.created")).scalars()
    assert all(issued.token not in (e.detail or "") for e in events)


def test_wrong_malformed_revoked_and_expired_tokens_are_refused_alike(services: Services, org_a: Org,
                                                                        clock: FrozenClock) -> None:
    tokens = services.api_tokens
    revoked = tokens.create(org_a.tenant.id, "old", ["reports:intake"], None, CLI)
    expiring = tokens.create(org_a.tenant.id, "short", ["reports:intake"], 1, CLI)
    tokens.revoke(revoked.view.id, CLI)
    lookup = revoked.token.split("_")[1]
    for wrong in ("", "nonsense", revoked.token, f"apl_{lookup}_{'A' * 43}", expiring.token[:-1] + "x"):
        with pytest.raises(AuthenticationFailed):
            tokens.authenticate(wrong)
    tokens.authenticate(expiring.token)
    clock.advance(days=1)
    with pytest.raises(AuthenticationFailed):
        tokens.authenticate(expiring.token)
    with pytest.raises(Conflict):
        tokens.revoke(revoked.view.id, CLI)


def test_a_missing_scope_is_access_denied(services: Services, org_a: Org) -> None:
    issued = services.api_tokens.create(org_a.tenant.id, "stats", ["stats:read"], None, CLI)
    principal = services.api_tokens.authenticate(issued.token)
    principal.require(Scope.STATS_READ)
    with pytest.raises(AccessDenied):
        principal.require(Scope.REPORTS_INTAKE)


def test_lists_and_revocation_stay_in_their_tenant(services: Services, org_a: Org, org_b: Org) -> None:
    a = services.api_tokens.create(org_a.tenant.id, "a", ["reports:intake"], None, CLI)
    b = services.api_tokens.create(org_b.tenant.id, "b", ["reports:intake"], None, CLI)
    assert [t.id for t in services.api_tokens.list(org_a.tenant.id)] == [a.view.id]
    with pytest.raises(NotFound):
        services.api_tokens.revoke(b.view.id, CLI, tenant_id=org_a.tenant.id)
    services.api_tokens.authenticate(b.token)


@pytest.mark.parametrize(("name", "scopes", "days"), [("", ["reports:intake"], None), ("x" * 81, ["reports:intake"], None),
                                                      ("n", ["reports:read"], None), ("n", [], None),
                                                      ("n", ["reports:intake"], 0), ("line\nbreak", ["stats:read"], 5)])
def test_bad_names_scopes_and_expiries_are_refused(services: Services, org_a: Org, name: str, scopes: list[str],
                                                   days: int | None) -> None:
    with pytest.raises(InvalidInput):
        services.api_tokens.create(org_a.tenant.id, name, scopes, days, CLI)


def test_expiring_lists_active_tokens_due_within_the_window(services: Services, org_a: Org) -> None:
    soon = services.api_tokens.create(org_a.tenant.id, "soon", ["stats:read"], 10, CLI)
    services.api_tokens.create(org_a.tenant.id, "later", ["stats:read"], 30, CLI)
    services.api_tokens.create(org_a.tenant.id, "never", ["stats:read"], None, CLI)
    gone = services.api_tokens.create(org_a.tenant.id, "revoked", ["stats:read"], 3, CLI)
    services.api_tokens.revoke(gone.view.id, CLI)
    assert [t.id for t in services.api_tokens.expiring(dt.timedelta(days=14))] == [soon.view.id]


def test_a_report_from_another_channel_keeps_its_channel_and_time(services: Services, org_a: Org,
                                                                  clock: FrozenClock) -> None:
    received = clock() - dt.timedelta(days=2)
    issued = services.api_tokens.create(org_a.tenant.id, "desk", ["reports:intake"], None, CLI)
    actor = services.api_tokens.authenticate(issued.token).actor
    receipt = services.reporting.submit(org_a.tenant, NewReport(org_a.category_id, "Told on the phone", channel="phone",
                                                                received_at=received), [], actor=actor)
    case = services.session.get_one(Case, receipt.case_id)
    assert (case.channel, case.received_at, case.reference) == ("phone", received, receipt.reference)
    event = services.session.execute(sa.select(AuditEvent).where(AuditEvent.action == "case.created")
                                     .order_by(AuditEvent.seq.desc()).limit(1)).scalar_one()
    assert (event.actor_type, event.actor_id) == ("api-token", str(issued.view.id))
    for wrong in (NewReport(org_a.category_id, "x", channel="fax", received_at=received),
                  NewReport(org_a.category_id, "x", channel="phone", received_at=clock() + dt.timedelta(hours=1))):
        with pytest.raises(InvalidInput):
            services.reporting.submit(org_a.tenant, wrong, [], actor=actor)


def test_last_use_is_kept_to_the_minute_without_a_write_per_request(services: Services, org_a: Org,
                                                                   clock: FrozenClock) -> None:
    issued = services.api_tokens.create(org_a.tenant.id, "Hotline desk", ["reports:intake"], None, CLI)
    row = services.session.get_one(ApiToken, issued.view.id)
    assert row.last_used_at is None
    services.api_tokens.authenticate(issued.token)
    first = clock()
    assert row.last_used_at == first
    clock.advance(seconds=30)
    services.api_tokens.authenticate(issued.token)
    assert row.last_used_at == first and row not in services.session.dirty
    clock.advance(seconds=30)
    services.api_tokens.authenticate(issued.token)
    assert row.last_used_at == clock()
