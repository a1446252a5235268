"""Access events by source and project over HTTP, in the analyst's room (/stats/) and the insider
managers' (/insiders/t/<slug>/access-events): a hand count with small cells withheld on the page and
in the CSV and XLSX; other roles refused, other tenants not found; a source or project named like a
script or a formula stays text; no source or project in the logbook, the log or a URL."""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import re

import openpyxl
import pytest

from appliance.actors import CLI, Role
from appliance.events.service import NewEvent
from appliance.services import Services
from tests.functional.world import World, assert_other_roles_refused, audit_details, scalar
from tests.web import Browser

MARKER = "mkaccessq4"
XSS = f'<script>alert("{MARKER}")</script>'
FORMULA = f"=HYPERLINK(\"http://x\",\"{MARKER}\")"
Q = "from=2026-01&to=2026-02"
ROOM = "/insiders/t/alpha/access-events"


@pytest.fixture
def uploaded(world: World, services: Services) -> World:
    """Alpha: badge-{MARKER} on FALCON, 12 events in January and 7 in February; the XSS source on
    the formula project, 6 in January and 3 in February. Beta: 9 of its own."""
    def upload(slug: str, source: str, project: str, month: int, n: int) -> None:
        tenant = services.tenants.by_slug(slug)
        services.access_events.upload(tenant.id, [NewEvent(
            f"{source}-{month}-{i}", source, dt.datetime(2026, month, 3, 9, tzinfo=dt.UTC), f"p{i}@example.com",
            "opened", "doc", project) for i in range(n)], CLI)
        services.session.commit()

    upload("alpha", f"badge-{MARKER}", "FALCON", 1, 12)
    upload("alpha", XSS, FORMULA, 1, 6)
    upload("alpha", XSS, FORMULA, 2, 3)
    upload("alpha", f"badge-{MARKER}", "FALCON", 2, 7)
    upload("beta", f"beta-{MARKER}", "BETAPROJ", 1, 9)
    return world


def grid(html: str, name: str) -> dict[str, list[str]]:
    body = re.search(rf'<table data-access="{name}">(.*?)</table>', html, re.S)
    assert body, name
    out = {}
    for label, cells in re.findall(r'<tr data-row="\d+"><th scope="row">(.*?)</th>(.*?)</tr>', body.group(1), re.S):
        out[re.sub(r"<[^>]+>", "", label).strip()] = [re.sub(r"<[^>]+>", "", c).strip().replace("&lt;", "<")
                                                     for c in re.findall(r"<td>(.*?)</td>", cells, re.S)]
    return out


def analyst(world: World) -> Browser:
    return world.staff_browser(world.alpha.staff[Role.ANALYST])


def manager(world: World) -> Browser:
    return world.staff_browser(world.alpha.staff[Role.INSIDER_MANAGER])


@pytest.mark.parametrize("room", ["stats", "insiders"])
def test_both_rooms_show_the_hand_count_with_small_cells_withheld(uploaded: World, room: str,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    browser = analyst(uploaded) if room == "stats" else manager(uploaded)
    response = browser.get(f"/stats/?{Q}&tenant=alpha" if room == "stats" else f"{ROOM}?{Q}")
    html = browser.text()
    assert response.status_code == 200, html
    escaped = "&lt;script&gt;alert(&#34;mkaccessq4&#34;)&lt;/script&gt;"
    # February: badge 7, the XSS source 3 (small), so badge, the first shown, is withheld as well
    assert grid(html, "source") == {f"badge-{MARKER}": ["12", "x"], escaped: ["6", "<5"]}
    assert grid(html, "project") == {"FALCON": ["12", "x"], FORMULA.replace('"', "&#34;"): ["6", "<5"]}
    assert XSS not in html and "<script" not in html and escaped in html
    assert f"beta-{MARKER}" not in html and "BETAPROJ" not in html
    assert 'role="img"' in html and "c-access-source-d" in html

    exported = browser.get(f"/stats/export.csv?{Q}&tenant=alpha" if room == "stats" else f"{ROOM}.csv?{Q}")
    rows = list(csv.reader(io.StringIO(exported.get_data().decode("utf-8-sig"))))
    access = {(s, i): v for s, i, v in rows[1:] if s.startswith("events_by_")}
    assert access[("events_by_source", f"2026-01 badge-{MARKER}")] == "12"
    assert access[("events_by_source", f"2026-02 {XSS}")] == "<5"
    assert access[("events_by_project", f"2026-02 {FORMULA}")] == "<5"
    assert all(not value.startswith("=") for row in rows for value in row)  # no cell runs as a formula
    book = browser.get(f"/stats/export.xlsx?{Q}&tenant=alpha" if room == "stats" else f"{ROOM}.xlsx?{Q}")
    sheet = openpyxl.load_workbook(io.BytesIO(book.get_data())).active
    cells = [(s, i, v) for s, i, v in sheet.iter_rows(min_row=2, values_only=True) if str(s).startswith("events_by_")]
    assert ("events_by_source", f"2026-01 badge-{MARKER}", 12) in cells
    assert not [v for _, _, v in cells if isinstance(v, int) and v < 5]
    assert all(not str(v).startswith("=") for row in sheet.iter_rows(values_only=True) for v in row)

    # the labels were opened for display only: never in the logbook, the log or a URL
    details = " ".join(str(d) for d in audit_details(uploaded.ctx, "stats.exported"))
    assert "format=csv" in details and MARKER not in details
    logbook = str(scalar(uploaded.ctx, "SELECT COUNT(*) FROM audit_events WHERE detail LIKE :m OR object_id LIKE :m",
                         m=f"%{MARKER}%"))
    assert logbook == "0"
    assert MARKER not in caplog.text
    assert not [href for href in re.findall(r'href="([^"]+)"', html) if MARKER in href or "FALCON" in href]


def test_other_roles_are_refused_and_other_tenants_not_found(uploaded: World) -> None:
    assert_other_roles_refused(uploaded, [("GET", ROOM), ("GET", f"{ROOM}.csv"), ("GET", f"{ROOM}.xlsx")],
                               Role.INSIDER_MANAGER)
    assert_other_roles_refused(uploaded, [("GET", "/stats/"), ("GET", "/stats/export.csv"),
                                          ("GET", "/stats/export.xlsx")], Role.ANALYST)
    browser = manager(uploaded)
    for url in ("/insiders/t/beta/access-events", "/insiders/t/beta/access-events.csv",
                "/insiders/t/nowhere/access-events"):
        response = browser.get(url)
        assert response.status_code == 404 and f"beta-{MARKER}" not in response.get_data(as_text=True), url
    assert analyst(uploaded).get(f"/stats/export.csv?{Q}&tenant=beta").status_code == 404


@pytest.mark.parametrize("query", ["from=2026-13", "from=2026-03&to=2026-01", "to=" + "9" * 500,
                                   "from=%3Cscript%3Ealert(1)%3C/script%3E"])
def test_a_bad_period_is_a_400_that_echoes_nothing(uploaded: World, query: str) -> None:
    browser = manager(uploaded)
    assert browser.get(f"{ROOM}?{query}").status_code == 400
    assert "<script>alert" not in browser.text() and 'role="alert"' in browser.text()
    assert browser.get(f"{ROOM}.csv?{query}").status_code == 400


def test_one_month_is_shown_by_day(uploaded: World) -> None:
    browser = manager(uploaded)
    assert browser.get(f"{ROOM}?from=2026-02&to=2026-02").status_code == 200
    source = grid(browser.text(), "source")
    assert len(source[f"badge-{MARKER}"]) == 28 and source[f"badge-{MARKER}"][2] == "x"
    assert ">2026-02-03<" in browser.text()


def test_a_month_whose_sources_are_all_small_withholds_the_month_totals_everywhere(world: World,
                                                                                  services: Services) -> None:
    tenant = services.tenants.by_slug("alpha")
    for source in ("a-src", "b-src", "c-src"):  # January: 12 events, 4 by each source
        services.access_events.upload(tenant.id, [NewEvent(
            f"{source}-{i}", source, dt.datetime(2026, 1, 3, 9, tzinfo=dt.UTC), f"p{i}@example.com", "opened", "doc",
            "KITE") for i in range(4)], CLI)
    services.session.commit()
    browser = analyst(world)
    html = browser.get(f"/stats/?{Q}&tenant=alpha").get_data(as_text=True)
    events = re.search(r'<table data-breakdown="events">(.*?)</table>', html, re.S)
    assert events and "12" not in events.group(1)  # else 12 = 4 + 4 + 4
    assert grid(html, "project") == {"KITE": ["x", "<5"]}
    with world.ctx.unit_of_work() as session:
        token = Services(world.ctx, session).api_tokens.create(tenant.id, "bi", ["stats:read"], None, CLI).token
    body = world.app.test_client().get(f"/api/v1/stats?{Q}", headers={"Authorization": f"Bearer {token}"}).get_json()
    months = body["breakdowns"]["events"]
    assert all(r["count"]["value"] is None for r in months["rows"]) and months["total"]["value"] is None
