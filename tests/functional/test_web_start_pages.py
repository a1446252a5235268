"""Each role lands in its own room after signing in; several roles get a page of links to each."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from appliance.actors import Role
from appliance.crypto import totp
from appliance.users.models import Membership
from tests.functional.world import PASSWORD, World, is_redirect_to, location_path, make_staff
from tests.web import Browser
from webapp.handler.start import ROOMS

LANDINGS = {
    Role.HANDLER: "/staff/queue",
    Role.ADMIN: "/admin/",
    Role.AUDITOR: "/audit/t/alpha/",  # /audit/ -> the one tenant audited
    Role.ANALYST: "/stats/",
    Role.INSIDER_MANAGER: "/insiders/",
}

ROOM_LINKS = {**LANDINGS, Role.AUDITOR: "/audit/"}


def sign_in_lands(world: World, email: str, secret: str) -> str:
    """Password, then TOTP, then follow redirects to the page the user ends up on."""
    browser = world.browser()
    assert browser.post("/staff/login", {"email": email, "password": PASSWORD}).status_code == 303
    world.clock.advance(seconds=30)
    response = browser.post("/staff/2fa", {"code": totp.current_code(secret, world.clock())})
    assert is_redirect_to(response, "/staff/")
    path = "/staff/"
    for _ in range(5):
        response = browser.get(path)
        if response.status_code not in (302, 303):
            break
        path = location_path(response)
    assert response.status_code == 200, (path, response.status_code)
    return path


def test_every_role_lands_in_its_room(world: World) -> None:
    assert set(ROOMS) == set(Role)
    for role, staff in world.alpha.staff.items():
        assert sign_in_lands(world, staff.email, staff.secret) == LANDINGS[role], role


@pytest.mark.parametrize("role,words", [(Role.ANALYST, "Statistics"), (Role.INSIDER_MANAGER, "Insider lists")])
def test_the_rooms_say_so_in_the_staff_frame(world: World, role: Role, words: str) -> None:
    browser = world.staff_browser(world.alpha.staff[role])
    assert browser.get(LANDINGS[role]).status_code == 200
    page = browser.text()
    assert words in page and "Sign out" in page and "My account" in page


def test_several_roles_get_a_chooser_with_a_link_to_each_room(world: World, services) -> None:  # type: ignore[no-untyped-def]
    roles = (Role.ADMIN, Role.AUDITOR, Role.ANALYST)
    staff = make_staff(services, world.clock, [(world.alpha.tenant_id, r) for r in roles], "many@alpha.example.com")
    assert sign_in_lands(world, staff.email, staff.secret) == "/staff/rooms"
    browser = world.staff_browser(staff)
    assert browser.get("/staff/rooms").status_code == 200
    page = browser.text()
    main = page.split("<main", 1)[1]
    for role in Role:
        assert (f'href="{ROOM_LINKS[role]}"' in main) == (role in roles), role
    assert "Set-Cookie" not in (browser.last.headers if browser.last else {})  # the choice remembers nothing


def test_roles_in_two_tenants_of_one_kind_are_one_room(world: World, services) -> None:  # type: ignore[no-untyped-def]
    staff = make_staff(services, world.clock, [(world.alpha.tenant_id, Role.AUDITOR), (world.beta.tenant_id, Role.AUDITOR)],
                       "two-tenants@example.com")
    assert sign_in_lands(world, staff.email, staff.secret) == "/audit/"
    assert 'href="/audit/t/alpha/"' in world.staff_browser(staff).get("/audit/").get_data(as_text=True)


def test_an_account_without_roles_gets_the_welcome_page(world: World, services) -> None:  # type: ignore[no-untyped-def]
    staff = make_staff(services, world.clock, [(world.alpha.tenant_id, Role.HANDLER)], "leaving@alpha.example.com")
    browser = world.staff_browser(staff)
    services.session.execute(sa.delete(Membership).where(Membership.user_id == staff.user_id))
    services.session.commit()
    response = browser.get("/staff/")
    assert response.status_code == 200 and "no case-handling or administration role" in browser.text()
    assert browser.get("/staff/rooms").status_code == 200


def test_the_start_pages_refuse_other_roles(world: World) -> None:
    handler = world.staff_browser(world.alpha.staff[Role.HANDLER])
    for url in ("/stats/", "/insiders/", "/audit/", "/audit/t/alpha/"):
        assert handler.get(url).status_code == 403, url
    assert is_redirect_to(Browser(world.app).get("/staff/rooms"), "/staff/login")
