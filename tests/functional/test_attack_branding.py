"""A DBA with SQL rights (no master key) tries to change what reporters read on the portal: the
policy link swapped for a phishing site, "enter your name" added to the intro, another logo.
None of it reaches a reporter: the portal shows the appliance's own texts and no logo, the
administrator's Branding page and ``appliance doctor`` say the branding does not verify, and
only a reset (after looking) makes the portal the organisation's own again. Both databases."""

from __future__ import annotations

import io
import json

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from appliance.actors import Role
from appliance.cli.main import cli
from appliance.db import GUID
from appliance.tenants.models import TenantBranding
from tests.functional.branding_support import logo_png
from tests.functional.cli_in_process import BoundRuntime
from tests.functional.world import World, audit_details, is_redirect_to

PHISH = "https://phish.example/login"
ASK_NAME = "Please enter your full name and staff number in the report."
PAGE = "/admin/t/alpha/branding"


def dba(world: World, statement: str, **params: object) -> None:
    """A statement run straight on the database, outside the appliance."""
    with world.ctx.engine.begin() as connection:
        connection.execute(sa.text(statement).bindparams(sa.bindparam("t", type_=GUID)),
                           {"t": world.alpha.tenant_id, **params})


def brand(world: World) -> None:
    admin = world.staff_browser(world.alpha.staff[Role.ADMIN])
    response = admin.post(PAGE, {"intro": "Alpha's own intro.", "privacy_notice": "Alpha's own notice.",
                                 "policy_url": "https://intranet.alpha.example/policy"})
    assert is_redirect_to(response, PAGE)


def doctor(world: World) -> dict[str, str]:
    result = CliRunner().invoke(cli, ["doctor", "--json"], obj=BoundRuntime(world.ctx), catch_exceptions=False)
    return {c["name"]: c for c in json.loads(result.stdout)["checks"]}["branding"]


@pytest.mark.parametrize("edit", [
    ("UPDATE tenant_branding SET policy_url = :v WHERE tenant_id = :t", PHISH),
    ("UPDATE tenant_branding SET intro = :v WHERE tenant_id = :t", ASK_NAME),
    ("UPDATE tenant_branding SET logo = :v WHERE tenant_id = :t", logo_png((120, 40), (255, 0, 0, 255))),
], ids=["policy-link", "intro", "logo"])
def test_a_dba_edit_never_reaches_a_reporter(world: World, edit: tuple[str, object]) -> None:
    brand(world)
    assert doctor(world)["status"] == "ok"
    statement, value = edit
    dba(world, statement, v=value)

    reporter = world.browser()
    for url in ("/r/alpha/", "/r/alpha/privacy", "/r/alpha/report"):
        page = reporter.get(url).get_data(as_text=True)
        assert "phish.example" not in page and ASK_NAME not in page, url
        assert "Alpha&#39;s own" not in page and "intranet.alpha.example" not in page, url  # nothing of it
        assert "portal-logo" not in page, url
    assert 'data-testid="standard-privacy-notice"' in reporter.get("/r/alpha/privacy").get_data(as_text=True)
    logo = reporter.get("/r/alpha/logo")
    assert logo.status_code == 404 and "no-store" in logo.headers["Cache-Control"]

    # The administrator sees it, cannot save over it, and resets it.
    admin = world.staff_browser(world.alpha.staff[Role.ADMIN])
    page = admin.get(PAGE).get_data(as_text=True)
    assert 'data-testid="tampered"' in page and "phish.example" not in page and ASK_NAME not in page
    assert admin.post(PAGE, {"intro": "Saved over it"}, form_url="/admin/t/alpha/users").status_code == 409
    response = admin.post(f"{PAGE}/logo", {"logo": (io.BytesIO(logo_png()), "l.png", "image/png")},
                          form_url="/admin/t/alpha/users", content_type="multipart/form-data")
    assert response.status_code == 409
    assert admin.post(f"{PAGE}/logo/remove", form_url="/admin/t/alpha/users").status_code == 409
    check = doctor(world)
    assert check["status"] == "fail" and "alpha" in check["detail"] and "phish" not in check["detail"]
    # Written to the logbook once (the kind of change, never the content), however often the page is opened.
    assert audit_details(world.ctx, "tenant.branding_tampered") == ["found=changed"]

    assert is_redirect_to(admin.post(f"{PAGE}/reset", form_url=PAGE), PAGE)
    assert 'data-testid="tampered"' not in admin.get(PAGE).get_data(as_text=True)
    assert doctor(world)["status"] == "ok"
    brand(world)
    page = world.browser().get("/r/alpha/").get_data(as_text=True)
    assert "Alpha&#39;s own intro." in page and "phish.example" not in page


def test_a_dba_cannot_put_back_an_older_branding_or_delete_it(world: World) -> None:
    brand(world)  # v=2 (the world's logo is v=1)
    table = TenantBranding.__table__
    with world.ctx.engine.connect() as connection:
        row = connection.execute(sa.select(table).where(table.c.tenant_id == world.alpha.tenant_id)).mappings().one()
    admin = world.staff_browser(world.alpha.staff[Role.ADMIN])
    admin.post(PAGE, {"intro": "Newer intro", "policy_url": "https://intranet.alpha.example/v3"})
    with world.ctx.engine.begin() as connection:  # the whole older row, as a backup of it would hold it
        connection.execute(sa.update(table).where(table.c.tenant_id == world.alpha.tenant_id)
                           .values({k: v for k, v in row.items() if k != "tenant_id"}))
    page = world.browser().get("/r/alpha/").get_data(as_text=True)
    assert "Alpha&#39;s own intro." not in page and "Newer intro" not in page
    assert "older branding" in doctor(world)["detail"]
    assert 'data-testid="tampered"' in admin.get(PAGE).get_data(as_text=True)
    admin.post(f"{PAGE}/reset", form_url=PAGE)
    admin.post(PAGE, {"intro": "After the reset"})
    dba(world, "DELETE FROM tenant_branding WHERE tenant_id = :t")
    assert "After the reset" not in world.browser().get("/r/alpha/").get_data(as_text=True)
    assert 'data-testid="tampered"' in admin.get(PAGE).get_data(as_text=True)
    assert "deleted" in doctor(world)["detail"]
    assert audit_details(world.ctx, "tenant.branding_tampered") == ["found=older", "found=deleted"]
