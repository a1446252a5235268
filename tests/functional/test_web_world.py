"""The world of the web tests works: every role signs in over HTTP, every reporter reads their
case with the key."""

from __future__ import annotations

from appliance.actors import Role
from tests.functional.world import World, content_counts


# --- the world works --------------------------------------------------------------------
def test_every_role_signs_in_over_http(world: World) -> None:
    for staff in world.alpha.staff.values():
        browser = world.staff_browser(staff)
        assert browser.get("/staff/account").status_code == 200  # where each lands: test_web_start_pages.py
    assert world.staff_browser(world.alpha.staff[Role.HANDLER]).get(f"/staff/cases/{world.alpha_case.id}").status_code == 200


def test_the_reporter_of_each_case_reads_it_with_the_key(world: World) -> None:
    for org, case in ((world.alpha, world.alpha_case), (world.beta, world.beta_case)):
        reporter = world.reporter_browser(org, case)
        page = reporter.get(f"/r/{org.slug}/case")
        assert page.status_code == 200
        assert case.what in reporter.text() and case.note not in reporter.text()
        download = reporter.get(f"/r/{org.slug}/case/attachments/{case.attachment_id}")
        assert download.status_code == 200 and download.data.startswith(b"%PDF")
    assert content_counts(world.ctx)["cases"] == 3
