"""A tenant's administrator and its staff accounts (appliance/users/administration.py), and the
tenant a staff page names (TenantService.resolve_for), on real databases.

These rules used to live in the admin views; here they hold for every caller."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from appliance.actors import Role
from appliance.errors import AccessDenied, NotFound, OwnAccessKept
from appliance.services import Services
from appliance.users.models import Membership
from tests.functional.conftest import Org, StaffFactory

pytestmark = pytest.mark.one_session


def roles_of(services: Services, org: Org, user_id: object) -> set[str]:
    return set(services.session.execute(sa.select(Membership.role).where(
        Membership.user_id == user_id, Membership.tenant_id == org.tenant.id)).scalars())


def test_an_administrator_cannot_remove_their_own_roles(services: Services, org_a: Org) -> None:
    accounts = services.user_administration
    accounts.grant_role(org_a.admin, org_a.tenant.id, org_a.admin.user_id, Role.AUDITOR)  # granting: yes
    for role in (Role.ADMIN, Role.AUDITOR):
        with pytest.raises(OwnAccessKept):
            accounts.revoke_role(org_a.admin, org_a.tenant.id, org_a.admin.user_id, role)
    assert roles_of(services, org_a, org_a.admin.user_id) == {"admin", "auditor"}
    # Other people's roles, their admin role too, are the administrator's to change.
    accounts.grant_role(org_a.admin, org_a.tenant.id, org_a.handler.user_id, Role.ADMIN)
    accounts.revoke_role(org_a.admin, org_a.tenant.id, org_a.handler.user_id, Role.ADMIN)
    assert "admin" not in roles_of(services, org_a, org_a.handler.user_id)


def test_an_administrator_cannot_disable_themselves_or_reset_their_own_second_factor(
        services: Services, org_a: Org) -> None:
    accounts = services.user_administration
    with pytest.raises(OwnAccessKept):
        accounts.set_disabled(org_a.admin, org_a.tenant.id, org_a.admin.user_id, True)
    with pytest.raises(OwnAccessKept):
        accounts.reset_two_factor(org_a.admin, org_a.tenant.id, org_a.admin.user_id)
    with pytest.raises(OwnAccessKept):  # their own password is changed on the account page, keeping their key
        accounts.reset_password(org_a.admin, org_a.tenant.id, org_a.admin.user_id)
    assert services.users.get(org_a.admin.user_id).disabled_at is None
    accounts.set_disabled(org_a.admin, org_a.tenant.id, org_a.handler.user_id, True)  # a colleague: yes
    assert services.users.get(org_a.handler.user_id).disabled_at is not None
    accounts.set_disabled(org_a.admin, org_a.tenant.id, org_a.handler.user_id, False)
    assert services.users.get(org_a.handler.user_id).disabled_at is None


def test_administration_reaches_only_the_administrators_own_tenant(
        services: Services, org_a: Org, org_b: Org, make_staff: StaffFactory) -> None:
    accounts = services.user_administration
    with pytest.raises(NotFound):  # org_b's admin administers nothing in org_a
        accounts.grant_role(org_b.admin, org_a.tenant.id, org_a.handler.user_id, Role.AUDITOR)
    with pytest.raises(NotFound):
        accounts.create_user(org_b.admin, org_a.tenant.id, "intruder@example.com", [Role.ADMIN])
    with pytest.raises(NotFound):  # a user of another tenant is not found, not refused
        accounts.set_disabled(org_a.admin, org_a.tenant.id, org_b.handler.user_id, True)
    shared = make_staff((org_a.tenant, Role.HANDLER), (org_b.tenant, Role.HANDLER))
    with pytest.raises(AccessDenied):  # account-wide changes need admin rights wherever the user works
        accounts.set_disabled(org_a.admin, org_a.tenant.id, shared.user_id, True)
    accounts.grant_role(org_a.admin, org_a.tenant.id, shared.user_id, Role.AUDITOR)  # roles here: yes


def test_a_created_user_and_a_reset_password_come_with_a_one_time_password(services: Services, org_a: Org) -> None:
    accounts = services.user_administration
    issued = accounts.create_user(org_a.admin, org_a.tenant.id, "New.Person@example.com", [Role.HANDLER])
    assert issued.email == "New.Person@example.com" and len(issued.password) >= 20
    user = services.users.by_email("new.person@example.com")
    assert user.must_change_password
    reset = accounts.reset_password(org_a.admin, org_a.tenant.id, user.id)
    assert reset.password != issued.password and reset.email.lower() == "new.person@example.com"


def test_a_staff_page_resolves_only_a_tenant_the_principal_holds_the_role_in(
        services: Services, org_a: Org, org_b: Org) -> None:
    tenants = services.tenants
    assert tenants.resolve_for(org_a.admin, "alpha", Role.ADMIN).id == org_a.tenant.id
    assert tenants.resolve_for(org_a.handler, "alpha", Role.HANDLER).id == org_a.tenant.id
    for principal, slug, role in [(org_a.handler, "alpha", Role.ADMIN), (org_a.admin, "beta", Role.ADMIN),
                                  (org_b.handler, "alpha", Role.HANDLER), (org_a.admin, "nowhere", Role.ADMIN)]:
        with pytest.raises(NotFound) as caught:
            tenants.resolve_for(principal, slug, role)
        assert caught.value.kind == "tenant"  # the same answer whether the tenant exists or not
