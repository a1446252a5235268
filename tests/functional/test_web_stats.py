"""The analyst's room and GET /api/v1/stats over HTTP: figures equal the hand count, small cells
withheld on the page, in the CSV, the XLSX and the API alike; other roles and tenants kept out; no
report content in any output."""

from __future__ import annotations

import csv
import io
import re

import openpyxl
import pytest
from openapi_spec_validator import validate

from appliance.actors import CLI, Role
from appliance.services import Services
from tests.functional.stats_support import seed
from tests.functional.world import World, audit_details, make_staff
from tests.web import Browser

MARKER = "mkstatsq7zx"
Q1 = "from=2026-01&to=2026-03"
SMALL_VALUES = {"0", "1", "2", "3", "4"}


@pytest.fixture
def seeded(world: World, services: Services) -> World:
    """Alpha: the 16 seeded reports (stats_support) besides the world's 2 of March."""
    tenant = services.tenants.by_slug("alpha")
    categories = services.tenants.categories(tenant.id)
    seed(services, tenant, categories[0].id, categories[1].id, MARKER)
    return world


def analyst(world: World) -> Browser:
    return world.staff_browser(world.alpha.staff[Role.ANALYST])


def figure(html: str, name: str) -> str:
    found = re.search(rf'data-figure="{name}">(.*?)</td>', html, re.S)
    assert found, name
    return re.sub(r"<[^>]+>", "", found.group(1)).strip().replace("&lt;", "<")


def table(html: str, breakdown: str) -> dict[str, str]:
    body = re.search(rf'<table data-breakdown="{breakdown}">(.*?)</table>', html, re.S)
    assert body, breakdown
    return {k: re.sub(r"<[^>]+>", "", v).strip().replace("&lt;", "<")
            for k, v in re.findall(r'<tr data-key="([^"]*)"><th scope="row">.*?</th><td>(.*?)</td></tr>', body.group(1))}


def test_the_analyst_sees_the_hand_count_with_small_cells_withheld(seeded: World) -> None:
    browser = analyst(seeded)
    response = browser.get(f"/stats/?{Q1}")
    html = browser.text()
    assert response.status_code == 200, html
    assert figure(html, "reports") == "18" and figure(html, "open") == "8"
    # Mar 2 + the world's 2 = 4, withheld; Jan 8, the first shown, withheld with it (else 18 - 8 - 6 = 4)
    assert table(html, "month") == {"2026-01": "x", "2026-02": "6", "2026-03": "<5"}
    assert table(html, "channel")["phone"] == "6" and table(html, "channel")["letter"] == "<5"
    assert table(html, "channel")["portal"] == "x"
    for breakdown in ("month", "category", "channel", "status", "state", "outcome"):
        assert not SMALL_VALUES & set(table(html, breakdown).values()), breakdown
    assert html.count('role="img"') == 7 and "<title id=" in html and "<desc id=" in html
    assert "<script" not in html and " style=" not in html
    assert MARKER not in html and seeded.alpha_case.what not in html


def test_exports_withhold_the_same_cells(seeded: World) -> None:
    browser = analyst(seeded)
    exported = browser.get(f"/stats/export.csv?{Q1}")
    assert exported.status_code == 200 and exported.mimetype == "text/csv"
    text = exported.get_data().decode("utf-8-sig")
    rows = {(s, i): v for s, i, v in list(csv.reader(io.StringIO(text)))[1:]}
    assert rows[("reports", "total")] == "18" and rows[("month", "2026-03")] == "<5"
    assert rows[("month", "2026-01")] == "x" and rows[("month", "2026-02")] == "6"
    counts = {k: v for k, v in rows.items() if k[0] not in ("period",) and k[1] not in ("median", "p90", "percent")}
    assert not SMALL_VALUES & set(counts.values())
    assert MARKER not in text

    book = browser.get(f"/stats/export.xlsx?{Q1}")
    assert book.status_code == 200 and "attachment" in book.headers["Content-Disposition"]
    sheet = openpyxl.load_workbook(io.BytesIO(book.get_data())).active
    cells = {(r[0], r[1]): r[2] for r in sheet.iter_rows(min_row=2, values_only=True)}
    assert cells[("reports", "total")] == 18 and cells[("month", "2026-03")] == "<5" and cells[("month", "2026-01")] == "x"
    assert not {v for v in cells.values() if isinstance(v, int)} & {0, 1, 2, 3, 4}
    assert all(not str(v).startswith("=") for row in sheet.iter_rows(values_only=True) for v in row)
    assert MARKER.encode() not in book.get_data()
    assert audit_details(seeded.ctx, "stats.exported") == ["format=csv", "format=xlsx"]


@pytest.mark.parametrize("role", [Role.HANDLER, Role.ADMIN, Role.AUDITOR, Role.INSIDER_MANAGER])
def test_other_roles_are_refused(world: World, role: Role) -> None:
    browser = world.staff_browser(world.alpha.staff[role])
    for url in ("/stats/", f"/stats/export.csv?{Q1}", f"/stats/export.xlsx?{Q1}"):
        assert browser.get(url).status_code == 403, (role, url)


def test_an_analyst_of_alpha_sees_nothing_of_beta(seeded: World, services: Services) -> None:
    browser = analyst(seeded)
    assert browser.get(f"/stats/?{Q1}&tenant=beta").status_code == 404
    assert browser.get(f"/stats/export.csv?{Q1}&tenant=beta").status_code == 404
    assert browser.get(f"/stats/?{Q1}&tenant=nowhere").status_code == 404
    assert 'value="beta"' not in browser.get(f"/stats/?{Q1}").get_data(as_text=True)
    # an analyst of beta only: beta's one report, withheld; alpha refused
    beta_analyst = make_staff(services, seeded.clock, [(seeded.beta.tenant_id, Role.ANALYST)], "analyst@beta.example.com")
    other = seeded.staff_browser(beta_analyst)
    assert other.get(f"/stats/?{Q1}&tenant=alpha").status_code == 404
    assert other.get(f"/stats/?{Q1}").status_code == 200
    assert figure(other.text(), "reports") == "<5"


@pytest.mark.parametrize("query", ["from=2026-13", "from=2026-03&to=2026-01", "from=%3Cscript%3Ealert(1)%3C/script%3E",
                                   "to=" + "9" * 500, "from=1999-01&to=2026-01"])
def test_a_bad_period_is_a_400_that_echoes_nothing_harmful(world: World, query: str) -> None:
    browser = analyst(world)
    response = browser.get(f"/stats/?{query}")
    assert response.status_code == 400
    assert "<script>alert" not in browser.text() and 'role="alert"' in browser.text()
    assert browser.get(f"/stats/export.csv?{query}").status_code == 400


def issue(world: World, slug: str, scopes: list[str]) -> str:
    with world.ctx.unit_of_work() as session:
        services = Services(world.ctx, session)
        return services.api_tokens.create(services.tenants.by_slug(slug).id, f"{slug} bi", scopes, None, CLI).token


def test_the_api_gives_the_tokens_tenant_the_same_withheld_figures(seeded: World) -> None:
    client = seeded.app.test_client()
    alpha = {"Authorization": "Bearer " + issue(seeded, "alpha", ["stats:read"])}
    beta = {"Authorization": "Bearer " + issue(seeded, "beta", ["stats:read"])}
    body = client.get(f"/api/v1/stats?{Q1}", headers=alpha).get_json()
    assert body["reports"] == {"value": 18, "withheld": None}
    months = {r["key"]: r["count"] for r in body["breakdowns"]["month"]["rows"]}
    assert months == {"2026-01": {"value": None, "withheld": "secondary"}, "2026-02": {"value": 6, "withheld": None},
                      "2026-03": {"value": None, "withheld": "small"}}
    counts = [r["count"]["value"] for b in body["breakdowns"].values() for r in b["rows"]]
    assert not {c for c in counts if c is not None} & {0, 1, 2, 3, 4}
    assert body["to_acknowledge"]["median_days"] is not None and body["period_from"] == "2026-01"
    other = client.get(f"/api/v1/stats?{Q1}", headers=beta).get_json()
    assert other["reports"] == {"value": None, "withheld": "small"}
    raw = client.get(f"/api/v1/stats?{Q1}", headers=alpha).get_data(as_text=True)
    assert MARKER not in raw and seeded.alpha_case.what not in raw


def test_the_api_refuses_a_token_without_the_scope_and_a_bad_month(world: World) -> None:
    client = world.app.test_client()
    intake = {"Authorization": "Bearer " + issue(world, "alpha", ["reports:intake"])}
    assert client.get("/api/v1/stats", headers=intake).status_code == 403
    assert client.get("/api/v1/stats").status_code == 401
    stats = {"Authorization": "Bearer " + issue(world, "alpha", ["stats:read"])}
    for query in ("from=2026-13", "from=2026-03&to=2026-01", "to=x" * 10, "tenant=beta"):
        refused = client.get(f"/api/v1/stats?{query}", headers=stats)
        assert refused.status_code == 422 and refused.mimetype == "application/problem+json", query
        assert "x" * 10 not in refused.get_data(as_text=True)
    # an analyst's session cookie is no API credential
    analyst(world)
    assert world.staff_browser(world.alpha.staff[Role.ANALYST]).get("/api/v1/stats").status_code == 401


def test_the_openapi_document_describes_the_operation(world: World) -> None:
    document = world.app.test_client().get("/api/v1/openapi.json").get_json()
    validate(document)
    operation = document["paths"]["/api/v1/stats"]["get"]
    assert operation["x-scope"] == "stats:read" and {"200", "401", "403", "422", "429"} <= operation["responses"].keys()
    assert [p["name"] for p in operation["parameters"]] == ["from", "to"]
