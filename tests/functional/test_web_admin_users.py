"""The users page asks before it takes access away, never acts on one's own account, and grants
only a role that was chosen (issue 18): refusals with a valid CSRF token, across tenants and
roles, with tampered ids and roles."""

from __future__ import annotations

import re
import uuid

from appliance.actors import Role
from tests.functional.world import World, count, is_redirect_to, scalar

USERS = "/admin/t/alpha/users"


def roles_of(world: World, user_id: uuid.UUID) -> set[str]:
    return {role.value for role in Role
            if count(world.ctx, "memberships", "user_id = :id AND role = :role", id=user_id, role=role.value)}


def test_the_users_page_preselects_no_role_explains_each_and_offers_nothing_destructive_on_ones_own_row(
        world: World) -> None:
    me = world.alpha.staff[Role.ADMIN]
    admin = world.staff_browser(me)
    page = admin.get(USERS).get_data(as_text=True)
    assert admin.last is not None and admin.last.status_code == 200
    # Every role select starts at the empty "Choose a role", which is selected.
    selects = re.findall(r'<select id="role-[^"]+" name="role">(.*?)</select>', page, re.S)
    assert selects and all(s.startswith('<option value="" selected>Choose a role</option>') for s in selects)
    assert "selected" not in "".join(s.split("</option>", 1)[1] for s in selects)
    for line in ("Reads the logbook only", "Sees statistics only", "reads no report"):
        assert line in page
    own = page.split(f"<h3>{me.email}", 1)[1].split("</li>\n{% endfor", 1)[0].split('data-testid="user"', 1)[0]
    assert 'data-testid="own-account"' in own
    for action in ("disable", "reset-2fa", "reset-password", "/revoke"):
        assert f"/users/{me.user_id}/{action}".replace("//", "/") not in own, action
    target = world.target.user_id
    for url in (f"/users/{target}/disable", f"/users/{target}/reset-2fa", f"/users/{target}/reset-password",
                f"/users/{target}/roles/handler/revoke"):
        assert f'href="{USERS.rsplit("/users", 1)[0]}{url}"' in page, url
    assert 'class="button danger' in page


def test_granting_needs_a_chosen_role(world: World) -> None:
    admin = world.staff_browser(world.alpha.staff[Role.ADMIN])
    url = f"{USERS}/{world.target.user_id}/roles"
    before = roles_of(world, world.target.user_id)
    for data in ({"role": "", "action": "grant"}, {"action": "grant"}, {"role": "root", "action": "grant"}):
        response = admin.post(url, data, form_url=USERS)
        assert response.status_code == 400, data
        assert "Choose the role to grant, then press Grant." in admin.text()
    assert admin.post(url, {"role": "auditor", "action": "shred"}, form_url=USERS).status_code == 400
    assert admin.post(url, {"role": "auditor", "action": "grant"}, csrf=False).status_code == 400  # no CSRF token
    assert roles_of(world, world.target.user_id) == before
    assert is_redirect_to(admin.post(url, {"role": "auditor", "action": "grant"}, form_url=USERS), USERS)
    assert roles_of(world, world.target.user_id) == before | {"auditor"}


def test_what_takes_access_away_is_done_only_after_the_confirmation_page(world: World) -> None:
    admin = world.staff_browser(world.alpha.staff[Role.ADMIN])
    target = world.target
    world.staff_browser(target)  # a live session that a disable or reset would end
    password = scalar(world.ctx, "SELECT password_hash FROM users WHERE id = :id", id=target.user_id)

    def unchanged() -> None:
        assert scalar(world.ctx, "SELECT disabled_at FROM users WHERE id = :id", id=target.user_id) is None
        assert scalar(world.ctx, "SELECT totp_enabled_at FROM users WHERE id = :id", id=target.user_id) is not None
        assert scalar(world.ctx, "SELECT password_hash FROM users WHERE id = :id", id=target.user_id) == password
        assert "handler" in roles_of(world, target.user_id)

    posts = [(f"{USERS}/{target.user_id}/{action}", {}) for action in ("disable", "reset-2fa", "reset-password")]
    posts.append((f"{USERS}/{target.user_id}/roles", {"role": "handler", "action": "revoke"}))
    for url, data in posts:
        for confirmed in (None, "", "no"):
            sent = data if confirmed is None else {**data, "confirmed": confirmed}
            response = admin.post(url, sent, form_url=USERS)
            assert response.status_code == 400, (url, confirmed)
            assert 'data-testid="unconfirmed"' in admin.text() and target.email in admin.text()
            assert 'name="confirmed" type="hidden" value="yes"' in admin.text()
    unchanged()
    assert world.staff_browser(target).get("/staff/queue").status_code == 200

    # The confirmation pages (GET) change nothing; their button does.
    for url in (f"{USERS}/{target.user_id}/disable", f"{USERS}/{target.user_id}/roles/auditor/revoke"):
        assert admin.get(url).status_code == 200
        assert 'type="submit" class="danger"' in admin.text()
    unchanged()
    disable = f"{USERS}/{target.user_id}/disable"
    assert is_redirect_to(admin.post(disable, {"confirmed": "yes"}, form_url=disable), USERS)
    assert scalar(world.ctx, "SELECT disabled_at FROM users WHERE id = :id", id=target.user_id) is not None


def test_nobody_takes_their_own_access_away_even_with_a_confirmation(world: World) -> None:
    me = world.alpha.staff[Role.ADMIN]
    admin = world.staff_browser(me)
    before = roles_of(world, me.user_id)
    for url in (f"{USERS}/{me.user_id}/disable", f"{USERS}/{me.user_id}/reset-2fa",
                f"{USERS}/{me.user_id}/reset-password", f"{USERS}/{me.user_id}/roles/admin/revoke"):
        assert admin.get(url).status_code == 400, url
        assert "Not on your own account" in admin.text()
    for action in ("disable", "reset-2fa", "reset-password"):
        response = admin.post(f"{USERS}/{me.user_id}/{action}", {"confirmed": "yes"}, form_url=USERS)
        assert response.status_code == 400, action
    response = admin.post(f"{USERS}/{me.user_id}/roles", {"role": "admin", "action": "revoke", "confirmed": "yes"},
                          form_url=USERS)
    assert response.status_code == 400
    assert roles_of(world, me.user_id) == before
    assert scalar(world.ctx, "SELECT disabled_at FROM users WHERE id = :id", id=me.user_id) is None
    assert admin.get("/staff/account").status_code == 200  # still signed in, with the same second factor


def test_the_confirmation_pages_refuse_other_tenants_other_roles_and_tampered_ids(world: World) -> None:
    admin = world.staff_browser(world.alpha.staff[Role.ADMIN])
    beta_handler = world.beta.staff[Role.HANDLER]
    assert admin.get(f"/admin/t/beta/users/{beta_handler.user_id}/disable").status_code == 404
    assert admin.get(f"{USERS}/{beta_handler.user_id}/reset-2fa").status_code == 404
    assert admin.get(f"{USERS}/{beta_handler.user_id}/roles/handler/revoke").status_code == 404
    assert beta_handler.email not in admin.text()
    assert admin.get(f"{USERS}/{world.target.user_id}/roles/root/revoke").status_code == 404
    assert admin.get(f"{USERS}/not-a-uuid/disable").status_code == 404
    handler = world.staff_browser(world.alpha.staff[Role.HANDLER])
    response = handler.get(f"{USERS}/{world.target.user_id}/disable")
    assert response.status_code == 403
    assert world.target.email not in handler.text()
    response = handler.post(f"{USERS}/{world.target.user_id}/disable", {"confirmed": "yes"}, form_url="/staff/account")
    assert response.status_code == 403
    assert count(world.ctx, "users", "disabled_at IS NOT NULL") == 0
