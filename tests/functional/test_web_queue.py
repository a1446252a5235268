"""The work queue over HTTP: pages by plain links, searches as GET, saved searches with CSRF,
and every bad input a clear 400 (never a 500), nothing crossing tenants, nothing in the logs."""

from __future__ import annotations

import datetime as dt
import html
import logging
import re

import pytest
import sqlalchemy as sa

from appliance.actors import Role
from appliance.cases.models import SavedQueueFilter
from appliance.services import Services
from tests.functional.queue_support import insert_cases
from tests.functional.world import LOGGERS, World, scalar

NEXT = re.compile(r'<a rel="next" href="([^"]+)"')
PREVIOUS = re.compile(r'<a rel="prev" href="([^"]+)"')
CASE_LINK = re.compile(r'href="/staff/cases/([0-9a-f-]{36})"')
DAY = dt.timedelta(days=1)
XSS_NAME = '<img src=x onerror=alert(1)> Q-marker-5512'


def links(page: str, pattern: re.Pattern[str]) -> list[str]:
    return [html.unescape(m) for m in pattern.findall(page)]


def test_pages_by_links_reach_every_case_once(world: World, services: Services) -> None:
    now = world.clock()
    insert_cases(services, world.alpha.tenant_id, world.alpha.category_id,
                 [(now - (8 + i) * DAY, None, None, "received") for i in range(120)])
    browser = world.staff_browser(world.alpha.staff[Role.HANDLER])
    url = "/staff/queue?overdue=1&sort=deadline&size=25"
    seen: list[str] = []
    pages = 0
    while url:
        response = browser.get(url)
        assert response.status_code == 200
        page = browser.text()
        seen += CASE_LINK.findall(page)
        pages += 1
        url = (links(page, NEXT) or [""])[0]
    assert pages == 5 and len(seen) == len(set(seen)) == 120
    # and back again from the last page
    back = links(page, PREVIOUS)[0]
    assert browser.get(back).status_code == 200 and len(CASE_LINK.findall(browser.text())) == 25
    assert "First page" in browser.text()


@pytest.mark.parametrize("query", [
    "cursor=abc.def", "cursor=" + "A" * 3000, "cursor=%00", "size=0", "size=201", "size=ten", "sort=name",
    "dir=sideways", "status=archived", "overdue=yes", "tenant=not-a-uuid", "category=1", "ref=%25%25",
    "ref=<script>", "ref=" + "A" * 100, "status=%00",
])
def test_malformed_queue_requests_are_a_clear_400(world: World, query: str) -> None:
    browser = world.staff_browser(world.alpha.staff[Role.HANDLER])
    response = browser.get(f"/staff/queue?{query}")
    assert response.status_code == 400
    assert 'data-testid="queue-error"' in browser.text()
    assert "<script>" not in browser.text()


def test_a_cursor_from_another_handler_or_search_is_refused(world: World, services: Services) -> None:
    now = world.clock()
    insert_cases(services, world.alpha.tenant_id, world.alpha.category_id,
                 [(now - (8 + i) * DAY, None, None, "received") for i in range(30)])
    alpha = world.staff_browser(world.alpha.staff[Role.HANDLER])
    alpha.get("/staff/queue?size=10")
    (next_url,) = links(alpha.text(), NEXT)
    cursor = next_url.split("cursor=")[1].split("&")[0]
    beta = world.staff_browser(world.beta.staff[Role.HANDLER])
    target = world.staff_browser(world.target)
    assert beta.get(next_url).status_code == 400  # another tenant's handler
    assert target.get(next_url).status_code == 400  # a colleague in the same tenant
    assert alpha.get(f"/staff/queue?size=10&overdue=1&cursor={cursor}").status_code == 400  # another search
    assert alpha.get(next_url).status_code == 200
    assert world.alpha_case.reference not in beta.text()


def test_reference_search_finds_the_case_and_nothing_of_other_tenants(world: World) -> None:
    alpha = world.staff_browser(world.alpha.staff[Role.HANDLER])
    reference = world.alpha_case.reference
    assert alpha.get(f"/staff/queue?status=all&ref={reference.lower()}").status_code == 200
    assert CASE_LINK.findall(alpha.text()) == [str(world.alpha_case.id)]
    alpha.get(f"/staff/queue?status=all&ref={world.beta_case.reference}")
    assert CASE_LINK.findall(alpha.text()) == [] and 'data-testid="queue-empty"' in alpha.text()


def test_saved_searches_need_csrf_escape_names_and_stay_private(
        world: World, caplog: pytest.LogCaptureFixture) -> None:
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    alpha = world.staff_browser(world.alpha.staff[Role.HANDLER])
    count = scalar(world.ctx, "SELECT count(*) FROM queue_filters")

    response = alpha.post("/staff/queue/filters", {"name": XSS_NAME, "overdue": "1"}, csrf=False)
    assert response.status_code == 400
    assert scalar(world.ctx, "SELECT count(*) FROM queue_filters") == count

    response = alpha.post("/staff/queue/filters", {"name": XSS_NAME, "overdue": "1", "sort": "deadline"},
                          form_url="/staff/queue")
    assert response.status_code == 303 and "overdue=1" in response.headers["Location"]
    page = alpha.get("/staff/queue").get_data(as_text=True)
    assert "<img src=x" not in page and html.escape(XSS_NAME) in page
    assert "Q-marker-5512" not in world.staff_browser(world.target).get("/staff/queue").get_data(as_text=True)

    for bad in ("", "x" * 81):
        assert alpha.post("/staff/queue/filters", {"name": bad}, form_url="/staff/queue").status_code == 400
    assert alpha.post("/staff/queue/filters", {"name": "odd", "sort": "nope"},
                      form_url="/staff/queue").status_code == 400

    with world.ctx.sessions() as session:
        saved_id = session.execute(sa.select(SavedQueueFilter.id).where(
            SavedQueueFilter.user_id == world.alpha.staff[Role.HANDLER].user_id)).scalars().all()
    beta, colleague = world.staff_browser(world.beta.staff[Role.HANDLER]), world.staff_browser(world.target)
    for other in (beta, colleague):
        for filter_id in saved_id:
            assert other.post(f"/staff/queue/filters/{filter_id}/delete", form_url="/staff/queue").status_code == 404
    for filter_id in saved_id:
        assert alpha.post(f"/staff/queue/filters/{filter_id}/delete", csrf=False).status_code == 400
        assert alpha.post(f"/staff/queue/filters/{filter_id}/delete", form_url="/staff/queue").status_code == 303
    assert "Q-marker-5512" not in alpha.get("/staff/queue").get_data(as_text=True)
    assert "Q-marker-5512" not in caplog.text
    with world.ctx.sessions() as session:
        assert "Q-marker-5512" not in repr(session.execute(sa.text("SELECT * FROM audit_events")).all())


def test_other_roles_have_no_queue(world: World) -> None:
    for role in (Role.AUDITOR, Role.ANALYST, Role.ADMIN):
        browser = world.staff_browser(world.alpha.staff[role])
        assert browser.get("/staff/queue").status_code == 403
        assert browser.post("/staff/queue/filters", {"name": "mine"}, form_url="/staff/account").status_code == 403
